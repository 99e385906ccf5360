"""The app as gunicorn serves it for the bench: ``create_app()`` from ``ASSESSMENT_*`` like production.

``BENCH_HTTP_OVERRIDES`` (JSON) adds the few settings the environment cannot carry: the cheap argon2 profile
the set-up hashed with (so a sign-in does not re-hash) and a sign-in limit per address that lets 1,000
candidates sign in from the one loopback address.
"""

from __future__ import annotations

import json
import os

from flask import Flask

from assessment import create_app


def create() -> Flask:
    app = create_app()
    app.config.update(json.loads(os.environ.get("BENCH_HTTP_OVERRIDES", "{}")))
    if os.environ.get("BENCH_HTTP_EXPERIMENT") == "no-exposure-counts":
        # diagnosis only: what the Start herd costs without every Start bumping the same item counters
        from assessment.delivery import services

        services._count_exposure = lambda *args, **kwargs: None
    return app
