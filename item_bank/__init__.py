"""Tandau's item bank domain and psychometrics: pure Python, numpy and scipy.

Nothing in this package imports Flask, SQLAlchemy, redis or the ``assessment`` web application, so the
numerical core can be used from the command line (``python -m item_bank``), notebooks and batch jobs alike.
"""

__all__: list[str] = []
