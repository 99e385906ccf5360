"""The bank's JSON API: the same rules as the pages, with errors that name the field."""

from __future__ import annotations

from assessment.auth import services as account_services
from assessment.auth.models import Role
from tests.assessment.conftest import PASSWORD, sign_in

ITEM = {
    "code": "K-API-1",
    "format": "single_best",
    "domain": "administrative",
    "topic": "judicial review",
    "tags": ["review"],
    "key": {"correct": 1},
    "versions": {
        "en": {"stem": "What does a court review?", "options": ["w", "x", "y", "z"], "state": "reviewed"},
        "kk": {"stem": "Сот нені тексереді?", "options": ["w", "x", "y", "z"], "state": "translated"},
    },
}


def _client(app, who="psychometrician"):
    client = app.test_client()
    sign_in(client, who)
    return client


def test_create_read_and_version_an_item(app, users):
    client = _client(app)
    created = client.post("/api/v1/items", json=ITEM)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (
        body["family"] == "knowledge"
        and body["version"] == 1
        and body["versions"]["kk"]["state"] == "translated"
    )
    assert client.post("/api/v1/items", json=ITEM).status_code == 409
    client.post("/api/v1/items/K-API-1/status", json={"status": "review"})
    client.post("/api/v1/items/K-API-1/status", json={"status": "pretest"})
    changed = client.put(
        "/api/v1/items/K-API-1",
        json={**ITEM, "status": "pretest", "key": {"correct": 3}, "note": "key corrected"},
    )
    assert changed.status_code == 200 and changed.get_json()["version"] == 2
    listed = client.get("/api/v1/items?family=knowledge&tag=review").get_json()
    assert [i["code"] for i in listed] == ["K-API-1"]


def test_invalid_items_are_refused_with_every_problem_named(app, users):
    client = _client(app)
    bad = {**ITEM, "key": {"correct": 9}, "versions": {"en": {"stem": "", "options": ["only"]}}}
    response = client.post("/api/v1/items", json=bad)
    assert response.status_code == 422
    problems = response.get_json()["errors"]["problems"]
    assert any("versions.en.stem" in p for p in problems)
    assert any("versions.en.options" in p for p in problems)
    assert any("key.correct" in p for p in problems)
    assert client.get("/api/v1/items/K-API-1").status_code == 404


def test_unknown_fields_are_refused(app, users):
    response = _client(app).post("/api/v1/items", json={**ITEM, "difficulty": 0.3})
    assert response.status_code == 422
    assert "difficulty" in response.get_json()["errors"]["json"]


def test_other_roles_and_anonymous_are_refused(app, users):
    assert app.test_client().get("/api/v1/items").status_code == 401
    for role in ("candidate", "proctor", "administrator", "commission"):
        assert _client(app, role).get("/api/v1/items").status_code == 403


def test_four_eyes_through_the_api(app, users):
    from assessment.bank import services
    from assessment.extensions import db

    with app.app_context():
        second = account_services.create_user(
            username="second", full_name="Second", role=Role.PSYCHOMETRICIAN, password=PASSWORD
        )
        second_id = second.id
    author = _client(app)
    author.post("/api/v1/items", json=ITEM)
    with app.app_context():
        from assessment.auth.models import User

        me = db.session.execute(db.select(User).where(User.username == "psychometrician")).scalar_one()
        set_id = services.propose_parameters(
            services.find_item("K-API-1"), model="2pl", a=1.0, b=[0.1], provenance={}, actor=me
        ).id
    refused = author.post(f"/api/v1/parameter-sets/{set_id}/approve", json={})
    assert refused.status_code == 422 and "cannot approve it" in refused.get_json()["errors"]["problems"][0]
    approved = _client(app, "second").post(f"/api/v1/parameter-sets/{set_id}/approve", json={"reason": "ok"})
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert second_id


def test_openapi_document_describes_the_api(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/items", "/api/v1/items/{code}", "/api/v1/session"} <= set(spec["paths"])
    assert {"ItemIn", "ItemOut"} <= set(spec["components"]["schemas"])


def test_state_changes_need_the_csrf_token_from_the_session_endpoint(make_app, users):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    from tests.assessment.conftest import csrf_token_from

    token = csrf_token_from(client.get("/sign-in").get_data(as_text=True))
    client.post("/sign-in", data={"username": "psychometrician", "password": PASSWORD, "csrf_token": token})
    assert client.post("/api/v1/items", json=ITEM).status_code == 400
    csrf = client.get("/api/v1/session").get_json()["csrf_token"]
    assert client.post("/api/v1/items", json=ITEM, headers={"X-CSRFToken": csrf}).status_code == 201


def test_files_move_through_the_api_all_or_nothing(app, users):
    import io

    client = _client(app)
    client.post("/api/v1/items", json=ITEM)
    exported = client.get("/api/v1/items/export?format=qti30")
    assert exported.status_code == 200 and exported.data[:2] == b"PK"
    broken = client.post(
        "/api/v1/items/import",
        data={"file": (io.BytesIO(b'{"format": "tandau-items"'), "x.json")},
        content_type="multipart/form-data",
    )
    assert broken.status_code == 422 and "x.json" in broken.get_json()["errors"]["problems"][0]
    document = client.get("/api/v1/items/export?format=json").data.replace(b"K-API-1", b"K-API-2")
    imported = client.post(
        "/api/v1/items/import",
        data={"file": (io.BytesIO(document), "copy.json")},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 200 and imported.get_json()["created"] == ["K-API-2"]
