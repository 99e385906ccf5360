"""Alembic environment: runs inside the Flask app context that Flask-Migrate provides."""

from alembic import context
from flask import current_app

config = context.config
db = current_app.extensions["migrate"].db
migrate_options = current_app.extensions["migrate"].configure_args


def run_migrations_offline() -> None:
    context.configure(url=db.engine.url.render_as_string(hide_password=False), target_metadata=db.metadata,
                      literal_binds=True, **migrate_options)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=db.metadata, **migrate_options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
