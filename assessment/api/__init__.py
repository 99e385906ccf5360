"""The JSON API under /api/v1, documented at /api/openapi.json (flask-smorest, marshmallow schemas)."""
