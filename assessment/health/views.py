"""GET /healthz."""

from flask import Blueprint, jsonify

from assessment.health import services

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """JSON health report; 503 when the database is down or its schema is not at the migration head."""
    report, healthy = services.check()
    return jsonify(report), 200 if healthy else 503
