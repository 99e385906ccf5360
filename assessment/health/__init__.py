"""Liveness and readiness: database, migrations, Redis."""
