"""The item bank's pages: writing, editing, lifecycle and four-eyes approval through the UI."""

from __future__ import annotations

from assessment.auth import services as account_services
from assessment.auth.models import Role
from assessment.bank import services
from assessment.bank.models import Item, ParameterSet, ParameterStatus
from assessment.extensions import db
from tests.assessment.conftest import PASSWORD, sign_in

NEW_ITEM = {
    "code": "K-NEW-1",
    "format": "single_best",
    "status": "draft",
    "key": "C",
    "domain": "criminal",
    "topic": "legality",
    "competence": "",
    "stimulus": "",
    "tags": "ethics, recall",
    "enemies": "",
    "note": "",
    "en-stem": "Which principle forbids retroactive criminal laws?",
    "en-options": "Publicity\nAdversarial procedure\nLegality\nImmediacy",
    "en-state": "reviewed",
    "ru-stem": "Какой принцип запрещает обратную силу уголовного закона?",
    "ru-options": "Гласность\nСостязательность\nЗаконность\nНепосредственность",
    "ru-state": "translated",
    "kk-stem": "",
    "kk-options": "",
    "kk-state": "draft",
}


def _psychometrician(app, name="psychometrician"):
    client = app.test_client()
    assert sign_in(client, name).status_code == 302
    return client


def _item(app, code):
    with app.app_context():
        item = db.session.execute(db.select(Item).where(Item.code == code)).scalar_one()
        return item.id, [(v.number, dict(v.key), sorted(v.content)) for v in item.versions], item.tags


def test_writing_an_item_in_two_languages(app, users):
    client = _psychometrician(app)
    response = client.post("/bank/items/new", data=NEW_ITEM)
    assert response.status_code == 302 and response.headers["Location"] == "/bank/items/K-NEW-1"
    _, versions, tags = _item(app, "K-NEW-1")
    assert versions == [(1, {"correct": 2}, ["en", "ru"])]
    assert tags == ["ethics", "recall"]
    page = client.get("/bank/items/K-NEW-1").get_data(as_text=True)
    assert "Какой принцип запрещает" in page and "bank.item_created" in page


def test_bad_input_is_shown_next_to_the_form_and_nothing_is_saved(app, users):
    client = _psychometrician(app)
    response = client.post("/bank/items/new", data={**NEW_ITEM, "key": "most=B", "ru-options": "Только один"})
    assert response.status_code == 422
    assert "letter of the correct option" in response.get_data(as_text=True)
    response = client.post("/bank/items/new", data={**NEW_ITEM, "ru-options": "Только один"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "versions.ru.options" in page and "needs 4 to 5 options, got 1" in page
    with app.app_context():
        assert db.session.execute(db.select(Item)).first() is None


def test_editing_an_administered_item_makes_a_new_version(app, users):
    client = _psychometrician(app)
    client.post("/bank/items/new", data=NEW_ITEM)
    with app.app_context():
        db.session.execute(
            db.select(Item).where(Item.code == "K-NEW-1")
        ).scalar_one().current.times_administered = 1
        db.session.commit()
    form = client.get("/bank/items/K-NEW-1/edit").get_data(as_text=True)
    assert "Which principle forbids retroactive criminal laws?" in form and 'value="C"' in form
    response = client.post("/bank/items/K-NEW-1/edit", data={**NEW_ITEM, "key": "A", "note": "appeal upheld"})
    assert response.status_code == 302
    _, versions, _ = _item(app, "K-NEW-1")
    assert versions == [(1, {"correct": 2}, ["en", "ru"]), (2, {"correct": 0}, ["en", "ru"])]


def test_the_code_of_an_item_cannot_change(app, users):
    client = _psychometrician(app)
    client.post("/bank/items/new", data=NEW_ITEM)
    response = client.post("/bank/items/K-NEW-1/edit", data={**NEW_ITEM, "code": "K-OTHER"})
    assert response.status_code == 422


def test_lifecycle_through_the_ui(app, users):
    client = _psychometrician(app)
    client.post("/bank/items/new", data=NEW_ITEM)
    client.post("/bank/items/K-NEW-1/status", data={"status": "operational"})
    assert "cannot go from draft to operational" in client.get("/bank/items/K-NEW-1").get_data(as_text=True)
    client.post("/bank/items/K-NEW-1/status", data={"status": "review", "reason": "ready"})
    assert "in review" in client.get("/bank/").get_data(as_text=True)


def test_a_second_psychometrician_approves_parameters(app, users):
    with app.app_context():
        account_services.create_user(
            username="second",
            full_name="Second Psychometrician",
            role=Role.PSYCHOMETRICIAN,
            password=PASSWORD,
        )
    author = _psychometrician(app)
    author.post("/bank/items/new", data=NEW_ITEM)
    item_id, _, _ = _item(app, "K-NEW-1")
    with app.app_context():
        from assessment.auth.models import User

        me = db.session.execute(db.select(User).where(User.username == "psychometrician")).scalar_one()
        proposal = services.propose_parameters(
            db.session.get(Item, item_id),
            model="2pl",
            a=1.3,
            b=[0.2],
            provenance={"source": "test run"},
            actor=me,
        )
        set_id = proposal.id
    author.post(f"/bank/parameters/{set_id}/approve", data={"reason": "mine"})
    assert "cannot approve it" in author.get("/bank/items/K-NEW-1").get_data(as_text=True)
    second = _psychometrician(app, "second")
    assert (
        second.post(f"/bank/parameters/{set_id}/approve", data={"reason": "fit is fine"}).status_code == 302
    )
    with app.app_context():
        row = db.session.get(ParameterSet, set_id)
        assert row.status is ParameterStatus.APPROVED and row.decision_reason == "fit is fine"


def test_filters_narrow_the_list(app, users):
    client = _psychometrician(app)
    client.post("/bank/items/new", data=NEW_ITEM)
    client.post(
        "/bank/items/new",
        data={
            **NEW_ITEM,
            "code": "S-NEW-1",
            "format": "sjt_most_least",
            "key": "most=A least=B",
            "domain": "",
            "competence": "integrity",
            "tags": "gifts",
        },
    )
    link = 'href="/bank/items/{}"'.format
    assert link("S-NEW-1") not in client.get("/bank/?family=knowledge").get_data(as_text=True)
    page = client.get("/bank/?competence=integrity").get_data(as_text=True)
    assert link("S-NEW-1") in page and link("K-NEW-1") not in page
    page = client.get("/bank/?tag=recall").get_data(as_text=True)
    assert link("K-NEW-1") in page and link("S-NEW-1") not in page
