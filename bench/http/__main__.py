"""Entry point: ``python -m bench.http {run,table}``."""

from bench.http.cli import main

raise SystemExit(main())
