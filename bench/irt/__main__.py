"""Entry point: ``python -m bench.irt {simulate,run,score,table}``."""

from bench.irt.cli import main

raise SystemExit(main())
