"""Headers, cookies and CSRF."""

from __future__ import annotations

from tests.assessment.conftest import csrf_token_from, sign_in


def test_security_headers_on_pages_errors_and_static(client):
    for url in ("/sign-in", "/no-such-page", "/static/css/app.css", "/healthz"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp, (
            url
        )
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert "Server" not in response.headers or "Werkzeug" not in response.headers.get("Server", "")


def test_authenticated_pages_are_not_cached(client, users):
    sign_in(client, "administrator")
    assert client.get("/admin/").headers["Cache-Control"] == "no-store"


def test_session_cookie_is_http_only_and_same_site(client, users):
    response = sign_in(client, "administrator")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forms_without_a_csrf_token_are_refused(make_app, users):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    assert (
        client.post("/sign-in", data={"username": "administrator", "password": "x" * 12}).status_code == 400
    )
    token = csrf_token_from(client.get("/sign-in").get_data(as_text=True))
    response = client.post(
        "/sign-in",
        data={"username": "administrator", "password": "correct horse battery", "csrf_token": token},
    )
    assert response.status_code == 302
    # Signed in, state changes still need the token ...
    assert client.post("/sign-out").status_code == 400
    # ... and a token from another browser's session is refused.
    other = app.test_client()
    foreign = csrf_token_from(other.get("/sign-in").get_data(as_text=True))
    assert client.post("/sign-out", data={"csrf_token": foreign}).status_code == 400
    page = client.get("/admin/").get_data(as_text=True)
    assert client.post("/sign-out", data={"csrf_token": csrf_token_from(page)}).status_code == 302


def test_csrf_tokens_do_not_expire_within_an_exam(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None
