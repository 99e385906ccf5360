"""Pure readers and writers of item, parameter and response files."""

__all__: list[str] = []
