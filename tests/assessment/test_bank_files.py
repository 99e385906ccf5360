"""Import and export through the pages: every format round-trips, a broken file changes nothing."""

from __future__ import annotations

import io
import json

import pytest

from assessment.audit.models import AuditEvent
from assessment.bank import repository, services
from assessment.bank.models import Item
from assessment.extensions import db
from item_bank.items import ItemSpec, LanguageVersion
from item_bank.items import Stimulus as StimulusSpec
from tests.assessment.conftest import sign_in

CASE = StimulusSpec(
    "CASE-9", {"en": "A buyer returns a car.", "ru": "Покупатель возвращает автомобиль."}, {"en": "Car"}
)


def _specs() -> list[ItemSpec]:
    en = LanguageVersion("Which rule applies?", ("one", "two", "three", "four"), "reviewed")
    ru = LanguageVersion("Какое правило применяется?", ("одно", "два", "три", "четыре"), "translated")
    sjt = LanguageVersion("A party sends a gift.", ("keep", "return", "report", "ignore"), "reviewed")
    return [
        ItemSpec(
            "K-F-1",
            "single_best",
            {"en": en, "ru": ru},
            {"correct": 2},
            status="operational",
            domain="civil",
            topic="sale",
            tags=("hard",),
            enemies=("K-F-2",),
            stimulus="CASE-9",
        ),
        ItemSpec("K-F-2", "single_best", {"en": en}, {"correct": 0}, domain="civil", enemies=("K-F-1",)),
        ItemSpec("S-F-1", "sjt_most_least", {"en": sjt}, {"most": 1, "least": 0}, competence="integrity"),
        ItemSpec("S-F-2", "sjt_rank", {"en": sjt}, {"rank": [4, 1, 2, 3]}, competence="integrity"),
        ItemSpec("S-F-3", "sjt_rate", {"en": sjt}, {"ratings": [1, 4, 3, 1]}, competence="integrity"),
    ]


@pytest.fixture
def client(app, users):
    with app.app_context():
        services.import_items(_specs(), [CASE], actor=None, source="fixture")
    client = app.test_client()
    sign_in(client, "psychometrician")
    return client


def _bank(app) -> list[ItemSpec]:
    with app.app_context():
        items = db.session.execute(db.select(Item).order_by(Item.code)).scalars().all()
        return [repository.spec_of(i) for i in items]


def _wipe(app):
    with app.app_context():
        for item in db.session.execute(db.select(Item)).scalars():
            db.session.delete(item)
        db.session.commit()


@pytest.mark.parametrize("kind", ["json", "csv", "qti21", "qti30"])
def test_export_then_import_into_an_empty_bank_gives_the_same_items(app, client, kind):
    before = _bank(app)
    response = client.get(f"/bank/export?format={kind}")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    content = response.data
    stimuli = client.get("/bank/export?format=stimuli-csv").data if kind == "csv" else None
    _wipe(app)
    name = {"json": "bank.json", "csv": "bank.csv"}.get(kind, "bank.zip")
    data = {"file": (io.BytesIO(content), name)}
    if stimuli is not None:
        data["stimuli"] = (io.BytesIO(stimuli), "stimuli.csv")
    imported = client.post("/bank/import", data=data, content_type="multipart/form-data")
    assert imported.status_code == 200, imported.get_data(as_text=True)[-2000:]
    after = _bank(app)
    if kind.startswith("qti"):
        # QTI carries what a QTI tool can hold: compare the content, key and language versions
        assert [(s.code, s.format, dict(s.key), dict(s.versions)) for s in after] == [
            (s.code, s.format, dict(s.key), dict(s.versions)) for s in before
        ]
    else:
        assert after == before


def test_a_broken_file_changes_nothing_and_lists_every_problem(app, client):
    document = json.loads(client.get("/bank/export?format=json").data)
    document["items"][0]["key"] = {"correct": 9}
    document["items"][1]["versions"]["en"]["stem"] = ""
    document["items"].append(dict(document["items"][2], code="S-NEW-9", competence=None))
    before = _bank(app)
    with app.app_context():
        events = db.session.execute(db.select(db.func.count()).select_from(AuditEvent)).scalar_one()
    response = client.post(
        "/bank/import",
        data={"file": (io.BytesIO(json.dumps(document).encode()), "bad.json")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing was imported" in page
    assert "bad.json" in page and "K-F-1" in page and "key.correct" in page
    assert "versions.en.stem" in page and "S-NEW-9" in page
    assert _bank(app) == before
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(AuditEvent)).scalar_one() == events


def test_unknown_file_kind_is_named(client):
    response = client.post(
        "/bank/import", data={"file": (io.BytesIO(b"x"), "bank.docx")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "unknown kind of file &#39;.docx&#39;" in response.get_data(
        as_text=True
    )


def test_exports_are_audited(app, client):
    client.get("/bank/export?format=csv")
    with app.app_context():
        event = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "bank.items_exported")
        ).scalar_one()
        assert event.details == {"format": "csv", "count": 5} and event.actor_username == "psychometrician"


def test_a_package_from_tao_imports_with_the_defaults_given_on_the_page(app, client):
    from tests.item_bank.test_formats_items_qti import tao_package

    without = client.post(
        "/bank/import",
        data={"file": (io.BytesIO(tao_package()), "tao.zip")},
        content_type="multipart/form-data",
    )
    assert without.status_code == 422 and "legal domain" in without.get_data(as_text=True)
    response = client.post(
        "/bank/import",
        data={
            "file": (io.BytesIO(tao_package()), "tao.zip"),
            "default_domain": "civil",
            "default_language": "en",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[-1500:]
    with app.app_context():
        item = services.find_item("i60b7d3c1a2e4f5")
        assert item.domain == "civil" and item.current.key == {"correct": 2}
