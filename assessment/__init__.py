"""Tandau: the web application (``create_app`` is the only entry point; nothing happens at import)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, request
from flask_login import current_user

from assessment import i18n
from assessment.config import build_config
from assessment.extensions import csrf, db, limiter, login_manager, migrate, redis_store

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``test_config`` replaces the environment when given (tests, tools)."""
    app = Flask(
        __name__,
        instance_path=(test_config or {}).get("INSTANCE_PATH"),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(build_config(app.instance_path, test_config))

    db.init_app(app)
    _tune_sqlite(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    redis_store.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    _init_login(app)
    _register_blueprints(app)
    _register_cli(app)
    _init_request_hooks(app)
    _init_finalizer_thread(app)
    _register_error_handlers(app)
    _import_models()
    return app


def _tune_sqlite(app: Flask) -> None:
    """SQLite (the embedded default) in write-ahead-log mode with a patient lock wait.

    Without WAL every write locks readers out and the driver gives up after 5 s with "database is locked":
    a room of candidates saving and a proctor's grid polling were enough to hit it (bench/http). PostgreSQL
    needs none of this.
    """
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        return
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def _import_models() -> None:
    # Alembic's autogenerate and create_all see only imported models.
    from assessment.access_codes import models as _access_codes  # noqa: F401
    from assessment.audit import models as _audit  # noqa: F401
    from assessment.auth import models as _auth  # noqa: F401
    from assessment.bank import models as _bank  # noqa: F401
    from assessment.calibration import models as _calibration  # noqa: F401
    from assessment.delivery import models as _delivery  # noqa: F401
    from assessment.results import models as _results  # noqa: F401


def _init_login(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from assessment.auth.services import load_session_user

    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_session_user)

    @login_manager.unauthorized_handler
    def unauthorized():  # type: ignore[no-untyped-def]
        from flask import redirect, request, url_for

        from assessment.api.core import unauthorized_json

        if request.path.startswith("/api/"):
            return unauthorized_json()
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


def _register_blueprints(app: Flask) -> None:
    from assessment.api.core import API_SETTINGS, api, session_bp
    from assessment.auth.views import bp as auth_bp
    from assessment.bank.api import bp as bank_api_bp
    from assessment.bank.views import bp as bank_bp
    from assessment.calibration.api import bp as calibration_api_bp
    from assessment.calibration.views import bp as calibration_bp
    from assessment.delivery.api import bp as sitting_api_bp
    from assessment.delivery.proctor_api import bp as proctor_api_bp
    from assessment.delivery.views import bp as delivery_bp
    from assessment.health.views import bp as health_bp
    from assessment.main.views import bp as main_bp
    from assessment.results.api import bp as results_api_bp
    from assessment.results.views import bp as results_bp
    from assessment.scheduling.views import bp as scheduling_bp
    from assessment.users.views import bp as users_bp

    for bp in (
        auth_bp,
        bank_bp,
        calibration_bp,
        delivery_bp,
        health_bp,
        main_bp,
        results_bp,
        scheduling_bp,
        users_bp,
    ):
        app.register_blueprint(bp)
    csrf.exempt(health_bp)
    for key, value in API_SETTINGS.items():
        app.config.setdefault(key, value)
    api.init_app(app)
    for bp in (session_bp, bank_api_bp, calibration_api_bp, sitting_api_bp, proctor_api_bp, results_api_bp):
        api.register_blueprint(bp)


def _register_cli(app: Flask) -> None:
    from assessment.cli import delivery_cli, demo_cli, users_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(delivery_cli)


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _init_finalizer_thread(app: Flask) -> None:
    """In development, the delivery job runs in a thread from the first request (not in CLI commands such as
    `db upgrade`, which serve none); elsewhere it is its own process."""
    every = app.config.get("DELIVERY_FINALIZER_SECONDS")
    if app.config["ENV"] != "development" or not every:
        return
    import threading

    lock = threading.Lock()
    started: list[object] = []

    @app.before_request
    def start_finalizer() -> None:
        if started:
            return
        with lock:
            if not started:
                from assessment.delivery.finalizer import start_thread

                started.append(start_thread(app, every=float(every)))


def _init_request_hooks(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        g.request_id = str(uuid.uuid4())

    @app.after_request
    def secure_headers(response):  # type: ignore[no-untyped-def]
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if current_user and current_user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    @app.context_processor
    def layout_context() -> dict[str, Any]:
        from flask_babel import get_locale

        from assessment.auth.forms import LanguageForm
        from assessment.layout import navigation

        return {
            "navigation": navigation(),
            "language_form": LanguageForm(),
            "languages": app.config["LANGUAGES"],
            "get_locale": get_locale,
        }


PAGE_ERRORS = (400, 403, 404, 405, 429, 500)


def _register_error_handlers(app: Flask) -> None:
    from werkzeug.exceptions import HTTPException, InternalServerError

    from assessment.api.core import api

    def handle(error: Exception):  # type: ignore[no-untyped-def]
        if not isinstance(error, HTTPException):
            app.logger.exception("unhandled error", exc_info=error)
            error = InternalServerError()
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            return api.handle_http_exception(error)
        code = error.code or 500
        if code in PAGE_ERRORS:
            return render_template("errors/error.html", code=code), code
        return error

    app.register_error_handler(HTTPException, handle)
    app.register_error_handler(InternalServerError, handle)
