"""API plumbing: the smorest extension, authentication answers, the session endpoint."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView
from flask_login import current_user, login_required
from flask_smorest import Api, Blueprint
from flask_wtf.csrf import generate_csrf
from marshmallow import Schema, fields


class TandauApi(Api):
    """flask-smorest's Api; error pages stay with the app (JSON under /api/, HTML elsewhere)."""

    def _register_error_handlers(self) -> None:
        pass


api = TandauApi()

API_SETTINGS = {
    "API_TITLE": "Tandau",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Everything the Tandau pages do, as JSON. Sign in through /sign-in (a session "
            "cookie); state-changing calls send the CSRF token from GET /api/v1/session as X-CSRFToken."
        },
    },
}

session_bp = Blueprint("api_session", __name__, url_prefix="/api/v1", description="The signed-in user")


class SessionOut(Schema):
    username = fields.String(required=True)
    full_name = fields.String(required=True)
    role = fields.String(required=True)
    language = fields.String(required=True)
    csrf_token = fields.String(
        required=True, metadata={"description": "send as X-CSRFToken on POST/PUT/DELETE"}
    )


@session_bp.route("/session")
class SessionView(MethodView):
    decorators = [login_required]

    @session_bp.response(200, SessionOut)
    def get(self):
        """Who is signed in, and the CSRF token for state-changing calls."""
        user = current_user
        return {
            "username": user.username,
            "full_name": user.full_name,
            "role": user.role.value,
            "language": user.language,
            "csrf_token": generate_csrf(),
        }


def unauthorized_json():  # type: ignore[no-untyped-def]
    response = jsonify({"code": 401, "status": "Unauthorized", "message": "sign in first"})
    response.status_code = 401
    return response
