"""Shared cases (stimuli): writing, editing under the versioning rule, attaching items; pages and JSON API."""

from __future__ import annotations

import pytest

from assessment.audit.models import AuditEvent
from assessment.auth.models import User
from assessment.bank import services
from assessment.bank.models import ItemStatus, Stimulus
from assessment.extensions import db
from item_bank.items import ItemSpec, LanguageVersion
from tests.assessment.conftest import sign_in

CASE = "CASE-1"


def _author():
    return db.session.execute(db.select(User).where(User.username == "psychometrician")).scalar_one()


def _spec(code: str, stimulus: str | None = CASE, status: str = "draft") -> ItemSpec:
    return ItemSpec(
        code=code,
        format="single_best",
        versions={"en": LanguageVersion("Given the case, which court hears it?", ("A", "B", "C", "D"))},
        key={"correct": 1},
        status=status,
        domain="civil procedure",
        stimulus=stimulus,
    )


@pytest.fixture
def case(app, users):
    """CASE-1 with two items: K-S-1 administered (in use), K-S-2 a draft; K-S-3 without a case."""
    with app.app_context():
        author = _author()
        services.save_stimulus(
            CASE,
            title={"en": "A land dispute", "ru": "Земельный спор"},
            texts={"en": "Two neighbours dispute a boundary.", "ru": "Два соседа спорят о границе."},
            actor=author,
            create=True,
        )
        services.save_item(_spec("K-S-1"), actor=author)
        services.save_item(_spec("K-S-2"), actor=author)
        services.save_item(_spec("K-S-3", stimulus=None), actor=author)
        used = services.find_item("K-S-1")
        used.current.times_administered = 12
        db.session.commit()
    return app


def _client(app, name="psychometrician"):
    client = app.test_client()
    assert sign_in(client, name).status_code == 302
    return client


def _versions(code):
    return [(v.number, v.stimulus.number if v.stimulus else None) for v in services.find_item(code).versions]


def test_editing_an_unused_case_changes_it_in_place(app, users):
    with app.app_context():
        author = _author()
        services.save_stimulus(CASE, title={}, texts={"en": "First draft."}, actor=author, create=True)
        services.save_item(_spec("K-S-2"), actor=author)
        row = services.save_stimulus(CASE, title={}, texts={"en": "Second draft."}, actor=author, note="typo")
        assert row.number == 1 and row.texts == {"en": "Second draft."}
        assert db.session.execute(db.select(db.func.count()).select_from(Stimulus)).scalar_one() == 1
        assert _versions("K-S-2") == [(1, 1)]


def test_editing_a_case_in_use_makes_a_new_version_and_moves_its_items(case):
    with case.app_context():
        old_id = services.find_stimulus(CASE).id
        row = services.save_stimulus(
            CASE,
            title={"en": "A land dispute"},
            texts={"en": "Two neighbours dispute a fence.", "ru": "Два соседа спорят о заборе."},
            actor=_author(),
            note="fence, not boundary",
        )
        assert row.number == 2 and row.id != old_id
        # what candidates read stays as it was, pinned by the administered item version
        old = db.session.get(Stimulus, old_id)
        assert old.texts["en"] == "Two neighbours dispute a boundary."
        assert _versions("K-S-1") == [(1, 1), (2, 2)]  # administered: a new item version on the new text
        assert _versions("K-S-2") == [(1, 2)]  # a draft moves in place
        assert _versions("K-S-3") == [(1, None)]
        assert [i.code for i in services.items_on(row)] == ["K-S-1", "K-S-2"]
        event = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "bank.stimulus_edited")
        ).scalar_one()
        assert event.details["outcome"] == "new version" and event.details["version"] == 2
        assert event.details["changed"] == ["texts.en", "texts.ru", "title.ru"]
        assert event.details["items"] == ["K-S-1", "K-S-2"] and event.actor_username == "psychometrician"


def test_an_item_in_pretest_counts_as_use(case):
    with case.app_context():
        item = services.find_item("K-S-2")
        services.change_status(item, ItemStatus.REVIEW, actor=_author())
        services.change_status(item, ItemStatus.PRETEST, actor=_author())
        services.find_item("K-S-1").current.times_administered = 0
        db.session.commit()
        assert services.stimulus_in_use(services.find_stimulus(CASE))
        services.save_stimulus(CASE, title={}, texts={"en": "New text."}, actor=_author())
        assert services.find_stimulus(CASE).number == 2
        assert _versions("K-S-2") == [(1, 1), (2, 2)]


@pytest.mark.parametrize(
    ("code", "title", "texts", "expected"),
    [
        ("bad code!", {}, {"en": "x"}, "code: use 1-40 letters"),
        ("CASE-2", {}, {"en": "  "}, "give the case text in at least one language"),
        ("CASE-2", {}, {"de": "Text"}, "texts.de: language must be one of"),
        ("CASE-2", {"kk": "Тақырып"}, {"en": "Text"}, "title.kk: a title without a text in that language"),
        (CASE, {}, {"en": "Text"}, "a stimulus with this code exists already"),
    ],
)
def test_bad_cases_are_refused_with_the_field_named(case, code, title, texts, expected):
    with case.app_context():
        before = db.session.execute(db.select(db.func.count()).select_from(Stimulus)).scalar_one()
        with pytest.raises(services.BankError) as excinfo:
            services.save_stimulus(code, title=title, texts=texts, actor=_author(), create=True)
        assert any(expected in p for p in excinfo.value.problems), excinfo.value.problems
        assert db.session.execute(db.select(db.func.count()).select_from(Stimulus)).scalar_one() == before


def test_attaching_and_detaching_items_follows_the_versioning_rule_all_or_nothing(case):
    with case.app_context():
        row = services.find_stimulus(CASE)
        with pytest.raises(services.BankError) as excinfo:
            services.set_stimulus_items(row, attach=["K-S-3", "NOPE"], detach=["K-S-3"], actor=_author())
        problems = excinfo.value.problems
        assert "item 'NOPE': no item with this code in the bank" in problems
        assert "item 'K-S-3': both attached and detached" in problems
        assert "item 'K-S-3': does not use stimulus 'CASE-1'" in problems
        assert _versions("K-S-3") == [(1, None)]
        changed = services.set_stimulus_items(
            row, attach=["K-S-3"], detach=["K-S-1"], actor=_author(), note="regrouped"
        )
        assert changed == ["K-S-3", "K-S-1"]
        assert _versions("K-S-3") == [(1, 1)]  # a draft changes in place
        assert _versions("K-S-1") == [(1, 1), (2, None)]  # administered: a new version without the case
        events = (
            db.session.execute(
                db.select(AuditEvent).where(AuditEvent.action == "bank.item_edited").order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
        assert [e.details["changes"]["stimulus"] for e in events[-2:]] == [[None, CASE], [CASE, None]]


def test_case_pages_list_show_edit_and_attach(case):
    client = _client(case)
    listing = client.get("/bank/stimuli/").get_data(as_text=True)
    assert CASE in listing and "A land dispute" in listing
    page = client.get(f"/bank/stimuli/{CASE}").get_data(as_text=True)
    assert "Два соседа спорят о границе." in page
    assert 'id="stimulus-item-K-S-1"' in page and 'id="stimulus-item-K-S-3"' not in page
    assert "bank.stimulus_created" in page
    form = client.get(f"/bank/stimuli/{CASE}/edit").get_data(as_text=True)
    assert 'id="versioning-note"' in form and "Two neighbours dispute a boundary." in form
    response = client.post(
        f"/bank/stimuli/{CASE}/edit",
        data={
            "code": CASE,
            "note": "clearer",
            "en-title": "A land dispute",
            "en-text": "Two neighbours dispute a fence.",
            "ru-title": "",
            "ru-text": "",
            "kk-title": "",
            "kk-text": "",
        },
    )
    assert response.status_code == 302
    with case.app_context():
        row = services.find_stimulus(CASE)
        assert row.number == 2 and row.texts == {"en": "Two neighbours dispute a fence."}
    bad = client.post(f"/bank/stimuli/{CASE}/edit", data={"code": CASE, "en-text": ""})
    assert bad.status_code == 422 and "give the case text in at least one language" in bad.get_data(
        as_text=True
    )
    attached = client.post(f"/bank/stimuli/{CASE}/items", data={"attach": "K-S-3"}, follow_redirects=True)
    assert "Items changed: K-S-3." in attached.get_data(as_text=True)
    assert 'id="stimulus-item-K-S-3"' in attached.get_data(as_text=True)
    refused = client.post(f"/bank/stimuli/{CASE}/items", data={"attach": "NOPE"}, follow_redirects=True)
    assert "Nothing was changed" in refused.get_data(as_text=True)
    new = client.post(
        "/bank/stimuli/new",
        data={"code": "CASE-2", "en-title": "", "en-text": "Another case.", "note": ""},
    )
    assert new.status_code == 302 and new.headers["Location"] == "/bank/stimuli/CASE-2"
    assert client.get("/bank/stimuli/NOPE").status_code == 404
    item_page = client.get("/bank/items/K-S-2").get_data(as_text=True)
    assert f'href="/bank/stimuli/{CASE}"' in item_page


def test_case_json_api(case):
    client = _client(case)
    listing = client.get("/api/v1/stimuli").get_json()
    assert [s["code"] for s in listing] == [CASE]
    assert listing[0]["items"] == ["K-S-1", "K-S-2"] and listing[0]["in_use"] is True
    created = client.post("/api/v1/stimuli", json={"code": "CASE-2", "texts": {"ru": "Дело."}})
    assert created.status_code == 201 and created.get_json()["number"] == 1
    assert client.post("/api/v1/stimuli", json={"code": "CASE-2", "texts": {"ru": "x"}}).status_code == 409
    unknown = client.post("/api/v1/stimuli", json={"code": "CASE-3", "texts": {"en": "x"}, "extra": 1})
    assert unknown.status_code == 422
    empty = client.post("/api/v1/stimuli", json={"code": "CASE-3", "texts": {"en": " "}})
    assert empty.status_code == 422
    assert "at least one language" in empty.get_json()["errors"]["problems"][0]
    edited = client.put(f"/api/v1/stimuli/{CASE}", json={"code": CASE, "texts": {"en": "New."}, "note": "n"})
    assert edited.status_code == 200
    body = edited.get_json()
    assert body["number"] == 2 and body["versions"] == [2, 1] and body["texts"] == {"en": "New."}
    moved = client.post(f"/api/v1/stimuli/{CASE}/items", json={"attach": ["K-S-3"], "detach": ["K-S-2"]})
    assert moved.status_code == 200
    assert moved.get_json()["changed"] == ["K-S-3", "K-S-2"]
    assert moved.get_json()["stimulus"]["items"] == ["K-S-1", "K-S-3"]
    bad = client.post(f"/api/v1/stimuli/{CASE}/items", json={"detach": ["K-S-2"]})
    assert bad.status_code == 422
    assert client.get("/api/v1/stimuli/NOPE").status_code == 404
    item = client.get("/api/v1/items/K-S-3").get_json()
    assert item["stimulus"] == CASE
