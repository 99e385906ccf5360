"""Form assembly: fixed forms, linear-on-the-fly forms from a blueprint, adaptive selection."""

__all__: list[str] = []
