"""Item bank use cases: all-or-nothing imports, the versioning rule, lifecycle, four-eyes approval."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.exc import IntegrityError

from assessment.audit.models import AuditEvent
from assessment.auth.models import User
from assessment.bank import repository, services
from assessment.bank.models import Item, ItemStatus, ParameterSet, ParameterStatus
from assessment.extensions import db
from item_bank.items import ItemSpec, LanguageVersion
from item_bank.items import Stimulus as StimulusSpec


def knowledge(code: str, correct: int = 1, **fields) -> ItemSpec:
    versions = {
        "en": LanguageVersion("Which court hears it?", ("first", "second", "third", "fourth"), "reviewed"),
        "ru": LanguageVersion("Какой суд?", ("первый", "второй", "третий", "четвертый"), "translated"),
    }
    defaults = {
        "code": code,
        "format": "single_best",
        "versions": versions,
        "key": {"correct": correct},
        "domain": "civil_procedure",
        "topic": "jurisdiction",
    }
    return ItemSpec(**{**defaults, **fields})


def sjt(code: str, **fields) -> ItemSpec:
    versions = {"en": LanguageVersion("A party offers a gift.", ("accept", "decline", "report", "ignore"))}
    defaults = {
        "code": code,
        "format": "sjt_rank",
        "versions": versions,
        "key": {"rank": [4, 1, 2, 3]},
        "competence": "integrity",
    }
    return ItemSpec(**{**defaults, **fields})


def _user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def _item(code: str) -> Item:
    return db.session.execute(db.select(Item).where(Item.code == code)).scalar_one()


def test_import_creates_items_with_stimuli_enemies_and_language_versions(app, users):
    case = StimulusSpec("CASE-1", {"en": "The facts...", "ru": "Фабула..."}, {"en": "Case one"})
    with app.app_context():
        report = services.import_items(
            [
                knowledge("K-1", enemies=("K-2",), stimulus="CASE-1"),
                knowledge("K-2", enemies=("K-1",)),
                sjt("S-1"),
            ],
            [case],
            actor=_user("psychometrician"),
            source="bank.json",
        )
        assert report.created == ["K-1", "K-2", "S-1"] and report.stimuli_created == ["CASE-1"]
        spec = repository.spec_of(_item("K-1"))
        assert spec == knowledge("K-1", enemies=("K-2",), stimulus="CASE-1")
        assert [e.code for e in _item("K-2").enemies] == ["K-1"]


def test_a_broken_import_changes_nothing_and_names_every_problem(app, users):
    with app.app_context():
        services.import_items([knowledge("K-1")], actor=None, source="first.json")
        before = db.session.execute(db.select(db.func.count()).select_from(AuditEvent)).scalar_one()
        batch = [
            knowledge("K-1", correct=3),  # a valid change ...
            knowledge("K-2", correct=9),  # ... but this key is out of range
            sjt("S-1", competence=None),
            knowledge("K-3", enemies=("K-404",), stimulus="CASE-404"),
            knowledge("K-3"),
        ]
        with pytest.raises(services.BankError) as excinfo:
            services.import_items(batch, actor=None, source="second.json")
        problems = excinfo.value.problems
        assert any("'K-2'" in p and "key.correct" in p for p in problems)
        assert any("'S-1'" in p and "competence" in p for p in problems)
        assert any("'K-3'" in p and "'K-404'" in p for p in problems)
        assert any("'K-3'" in p and "'CASE-404'" in p for p in problems)
        assert any("'K-3'" in p and "more than once" in p for p in problems)
        db.session.rollback()
        assert db.session.execute(db.select(Item.code)).scalars().all() == ["K-1"]
        assert _item("K-1").current.key == {"correct": 1}
        assert db.session.execute(db.select(db.func.count()).select_from(AuditEvent)).scalar_one() == before


def test_a_draft_is_edited_in_place_but_an_administered_version_never(app, users):
    with app.app_context():
        author = _user("psychometrician")
        services.save_item(knowledge("K-1"), actor=author)
        services.save_item(knowledge("K-1", correct=2), actor=author, note="key fixed before use")
        item = _item("K-1")
        assert [(v.number, v.key["correct"]) for v in item.versions] == [(1, 2)]
        item.current.times_administered = 3  # delivery counts each administration
        db.session.commit()
        services.save_item(knowledge("K-1", correct=0), actor=author, note="key corrected after review")
        item = _item("K-1")
        assert [(v.number, v.key["correct"]) for v in item.versions] == [(1, 2), (2, 0)]
        assert item.current.change_note == "key corrected after review"
        history = db.session.execute(
            db.select(AuditEvent.action, AuditEvent.details)
            .where(AuditEvent.target_type == "Item", AuditEvent.target_id == str(item.id))
            .order_by(AuditEvent.id)
        ).all()
        assert [h[0] for h in history] == ["bank.item_created", "bank.item_edited", "bank.item_edited"]
        assert history[-1][1]["changes"]["key"] == [{"correct": 2}, {"correct": 0}]
        assert history[-1][1]["outcome"] == "new version"


def test_an_operational_item_gets_a_new_version_even_if_never_administered(app, users):
    with app.app_context():
        services.save_item(knowledge("K-1", status="operational"), actor=_user("psychometrician"))
        services.save_item(
            knowledge(
                "K-1",
                status="operational",
                topic="appeals",
                versions={"en": LanguageVersion("New stem?", ("a", "b", "c", "d"))},
            ),
            actor=_user("psychometrician"),
        )
        item = _item("K-1")
        assert [v.number for v in item.versions] == [1, 2]
        assert item.versions[0].content["en"]["stem"] == "Which court hears it?"
        assert item.topic == "appeals"


def test_reimporting_the_same_file_changes_nothing(app, users):
    with app.app_context():
        batch = [knowledge("K-1"), sjt("S-1")]
        services.import_items(batch, actor=None, source="a.json")
        report = services.import_items(batch, actor=None, source="a.json")
        assert report.unchanged == ["K-1", "S-1"] and not report.created and not report.new_versions


def test_lifecycle_moves_one_step_and_retired_is_final(app, users):
    with app.app_context():
        actor = _user("psychometrician")
        services.save_item(knowledge("K-1"), actor=actor)
        item = _item("K-1")
        with pytest.raises(services.BankError, match="cannot go from draft to operational"):
            services.change_status(item, ItemStatus.OPERATIONAL, actor=actor)
        for status in (ItemStatus.REVIEW, ItemStatus.PRETEST, ItemStatus.OPERATIONAL, ItemStatus.RETIRED):
            services.change_status(item, status, actor=actor)
        with pytest.raises(services.BankError):
            services.change_status(item, ItemStatus.OPERATIONAL, actor=actor)


def _propose(item, actor, a=1.2):
    return services.propose_parameters(
        item, model="2pl", a=a, b=[0.3], provenance={"run": "test"}, actor=actor
    )


def test_approval_needs_a_second_psychometrician_and_supersedes_the_old_set(app, users):
    with app.app_context():
        author = _user("psychometrician")
        second = _user("administrator")  # any other account id stands in for a second psychometrician here
        services.save_item(knowledge("K-1"), actor=author)
        first = _propose(_item("K-1"), author)
        with pytest.raises(services.BankError, match="cannot approve it"):
            services.approve_parameters(first, actor=author)
        services.approve_parameters(first, actor=second, reason="fit fine")
        newer = _propose(_item("K-1"), author, a=1.4)
        services.approve_parameters(newer, actor=second)
        statuses = db.session.execute(
            db.select(ParameterSet.id, ParameterSet.status).order_by(ParameterSet.id)
        ).all()
        assert [s for _, s in statuses] == [ParameterStatus.SUPERSEDED, ParameterStatus.APPROVED]
        assert _item("K-1").approved_parameters.a == 1.4


def test_the_database_refuses_two_approved_sets_for_one_item(app, users):
    with app.app_context():
        author = _user("psychometrician")
        services.save_item(knowledge("K-1"), actor=author)
        for a in (1.0, 1.1):
            _propose(_item("K-1"), author, a=a)
        rows = db.session.execute(db.select(ParameterSet)).scalars().all()
        for row in rows:
            row.status = ParameterStatus.APPROVED
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_the_database_refuses_self_approval(app, users):
    with app.app_context():
        author = _user("psychometrician")
        services.save_item(knowledge("K-1"), actor=author)
        proposal = _propose(_item("K-1"), author)
        proposal.approved_by_id = author.id
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_item_parameters_for_the_irt_engine(app, users):
    with app.app_context():
        author = _user("psychometrician")
        services.import_items([knowledge("K-1"), sjt("S-1")], actor=author, source="x")
        k = services.propose_parameters(
            _item("K-1"), model="3pl", a=1.1, b=[0.5], c=0.2, provenance={}, actor=author
        )
        s = services.propose_parameters(
            _item("S-1"), model="grm", a=0.9, b=[-1.0, 0.0, 1.0, 2.0], provenance={}, actor=author
        )
        params = repository.item_parameters_of([k, s])
        assert params.item_ids == ("K-1", "S-1")
        assert params.model == ("3pl", "grm")
        assert (
            params.b.shape == (2, 4)
            and params.b[0, 1:].tolist() == [pytest.approx(float("nan"), nan_ok=True)] * 3
        )
        assert list(params.n_categories) == [2, 5]


def test_save_refuses_a_format_change(app, users):
    with app.app_context():
        services.save_item(sjt("S-1"), actor=_user("psychometrician"))
        changed = dataclasses.replace(sjt("S-1"), format="sjt_most_least", key={"most": 1, "least": 0})
        with pytest.raises(services.BankError, match="a new format needs a new item code"):
            services.save_item(changed, actor=_user("psychometrician"))
