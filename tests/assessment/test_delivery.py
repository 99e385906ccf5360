"""Delivery: the server's clock, answers that are never lost, one-way states, and races on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.bank import services as bank_services
from assessment.delivery import services
from assessment.delivery.exposure import exposure_of
from assessment.delivery.models import (
    AnswerEvent,
    Attempt,
    AttemptState,
    CurrentAnswer,
    SectionState,
    TimeAdjustment,
)
from assessment.extensions import db
from tests.assessment.conftest import PASSWORD, POSTGRES_URL
from tests.assessment.test_calibration import _bank_specs

T0 = datetime(2026, 12, 1, 9, 0, 0)
TOKEN = "tab-1"
KNOWLEDGE = [f"K-{i:02d}" for i in range(6)]
SJT = ["S-00", "S-01", "S-02"]


def _user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


@pytest.fixture
def sitting(app, users):
    return make_sitting(app)


def make_sitting(app) -> int:
    """A two-section fixed test, a session with its proctor, and the candidate registered (extra time 1.5)."""
    with app.app_context():
        bank_services.import_items(_bank_specs(), actor=None, source="test")
        definition = services.create_definition(
            "Judges 2026",
            [
                {
                    "title": {"en": "Law"},
                    "family": "knowledge",
                    "time_limit_seconds": 600,
                    "mode": "fixed",
                    "config": {"items": KNOWLEDGE},
                },
                {
                    "title": {"en": "Judgement"},
                    "family": "sjt",
                    "time_limit_seconds": 300,
                    "mode": "fixed",
                    "config": {"items": SJT},
                },
            ],
            actor=None,
        )
        session = services.create_session(
            definition,
            name="Room 1",
            opens_at=T0,
            closes_at=T0 + timedelta(hours=5),
            proctors=[_user("proctor")],
            actor=None,
        )
        registration = services.register(session, _user("candidate"), actor=None, extra_time_factor=1.5)
        return registration.attempt.id


def _attempt(attempt_id: int) -> Attempt:
    db.session.expire_all()
    return db.session.get(Attempt, attempt_id)


def _begin(attempt_id: int, at: datetime = T0) -> Attempt:
    attempt = _attempt(attempt_id)
    services.check_in(attempt, TOKEN, now=at)
    services.admit(attempt, actor=_user("proctor"), now=at)
    services.start(attempt, TOKEN, now=at)
    return _attempt(attempt_id)


def _save(attempt_id, item="K-00", choice=1, seq=1, key=None, at=T0, token=TOKEN, flagged=None):
    return services.save_answer(
        _attempt(attempt_id),
        client_token=token,
        item=item,
        response=None if choice is None else {"choice": choice},
        flagged=flagged,
        seq=seq,
        key=key or f"{item}-{seq}",
        now=at,
    )


def test_a_full_sitting_moves_through_both_sections(app, sitting):
    with app.app_context():
        attempt = _begin(sitting)
        assert attempt.state is AttemptState.IN_PROGRESS
        assert [s.allowed_seconds for s in attempt.sections] == [900, 450]  # 1.5 x the limits
        for n, code in enumerate(KNOWLEDGE):
            assert _save(sitting, code, n % 4, seq=n + 1).applied
        assert services.finish_section(
            _attempt(sitting), 0, client_token=TOKEN, now=T0 + timedelta(minutes=5)
        )
        attempt = _attempt(sitting)
        assert attempt.current_section == 1 and attempt.sections[1].state is SectionState.OPEN
        services.save_answer(
            attempt,
            client_token=TOKEN,
            item="S-00",
            response={"most": 0, "least": 3},
            flagged=None,
            seq=10,
            key="s0",
            now=T0 + timedelta(minutes=6),
        )
        services.finish_section(_attempt(sitting), 1, client_token=TOKEN, now=T0 + timedelta(minutes=9))
        attempt = _attempt(sitting)
        assert attempt.state is AttemptState.SUBMITTED
        answers = (
            db.session.execute(db.select(CurrentAnswer).order_by(CurrentAnswer.item_code)).scalars().all()
        )
        assert len(answers) == 7


def test_a_retried_save_is_harmless_and_a_reused_key_with_other_content_is_refused(app, sitting):
    with app.app_context():
        _begin(sitting)
        first = _save(sitting, choice=2, key="k1")
        again = _save(sitting, choice=2, key="k1")
        assert first.applied and again.replayed and again.applied
        assert db.session.execute(db.select(db.func.count()).select_from(AnswerEvent)).scalar_one() == 1
        with pytest.raises(services.DeliveryError, match="different answer"):
            _save(sitting, choice=3, key="k1")


def test_a_stale_save_never_overwrites_a_newer_one(app, sitting):
    with app.app_context():
        _begin(sitting)
        assert _save(sitting, choice=3, seq=5).applied
        late = _save(sitting, choice=0, seq=4)  # sent earlier, arrived later
        assert not late.applied and late.current_seq == 5
        assert db.session.get(CurrentAnswer, (sitting, "K-00")).response == {"choice": 3}
        outcomes = db.session.execute(db.select(AnswerEvent.outcome).order_by(AnswerEvent.id)).scalars().all()
        assert outcomes == ["applied", "stale"]


def test_flagging_keeps_the_answer(app, sitting):
    with app.app_context():
        _begin(sitting)
        _save(sitting, choice=2, seq=1)
        _save(sitting, choice=None, seq=2, flagged=True)
        current = db.session.get(CurrentAnswer, (sitting, "K-00"))
        assert current.flagged and current.response == {"choice": 2}


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-2, True), (0, True), (4.9, True), (5.1, False), (10, False)],
)
def test_saves_around_the_deadline_follow_the_server_clock(app, sitting, offset, accepted):
    with app.app_context():
        _begin(sitting)
        deadline = T0 + timedelta(seconds=900)
        at = deadline + timedelta(seconds=offset)
        if accepted:
            assert _save(sitting, at=at).applied
        else:
            with pytest.raises(services.TimeIsUp):
                _save(sitting, at=at)
            attempt = _attempt(sitting)
            assert attempt.sections[0].state is SectionState.SUBMITTED
            assert attempt.sections[0].submitted_by == "server"


def test_pause_stops_the_clock_and_refuses_saves(app, sitting):
    with app.app_context():
        _begin(sitting)
        proctor = _user("proctor")
        services.pause(_attempt(sitting), actor=proctor, reason="fire alarm", now=T0 + timedelta(minutes=10))
        remaining_at_pause = _attempt(sitting).sections[0].remaining_seconds(T0 + timedelta(minutes=10))
        later = T0 + timedelta(minutes=40)
        assert _attempt(sitting).sections[0].remaining_seconds(later) == remaining_at_pause == 900 - 600
        with pytest.raises(services.Conflict, match="paused"):
            _save(sitting, at=later)
        services.resume(_attempt(sitting), actor=proctor, reason="all clear", now=later)
        section = _attempt(sitting).sections[0]
        assert section.deadline() == T0 + timedelta(seconds=900 + 30 * 60)
        assert section.remaining_seconds(later) == remaining_at_pause
        assert _save(sitting, at=later + timedelta(seconds=1)).applied
        kinds = db.session.execute(db.select(TimeAdjustment.kind).order_by(TimeAdjustment.id)).scalars().all()
        assert kinds == ["pause", "resume"]


def test_an_extension_moves_the_deadline_exactly(app, sitting):
    with app.app_context():
        _begin(sitting)
        with pytest.raises(services.DeliveryError, match="needs a reason"):
            services.extend(_attempt(sitting), 120, actor=_user("proctor"), reason=" ", now=T0)
        services.extend(_attempt(sitting), 120, actor=_user("proctor"), reason="power cut", now=T0)
        assert _attempt(sitting).sections[0].deadline() == T0 + timedelta(seconds=900 + 120)


def test_time_running_out_with_the_browser_gone_is_closed_by_the_server(app, sitting):
    with app.app_context():
        _begin(sitting)
        _save(sitting, "K-01", 3, at=T0 + timedelta(seconds=30))
        assert services.finalize_overdue(now=T0 + timedelta(seconds=903)) == 0  # still within grace
        assert services.finalize_overdue(now=T0 + timedelta(seconds=906)) == 1
        attempt = _attempt(sitting)
        assert attempt.sections[0].submitted_by == "server" and attempt.sections[1].state is SectionState.OPEN
        assert db.session.get(CurrentAnswer, (sitting, "K-01")).response == {"choice": 3}
        # the second section's clock started when the first closed
        assert attempt.sections[1].started_at == T0 + timedelta(seconds=906)


def test_a_second_browser_is_refused_until_the_proctor_releases_the_sitting(app, sitting):
    with app.app_context():
        _begin(sitting)
        with pytest.raises(services.Conflict, match="another browser"):
            services.check_in(_attempt(sitting), "tab-2", now=T0)
        with pytest.raises(services.Conflict):
            _save(sitting, token="tab-2")
        services.release(_attempt(sitting), actor=_user("proctor"), reason="laptop died")
        services.check_in(_attempt(sitting), "tab-2", now=T0)
        assert _save(sitting, token="tab-2").applied


def test_a_silent_tab_loses_its_hold_so_the_candidate_can_resume_elsewhere(app, sitting):
    with app.app_context():
        _begin(sitting)
        services.heartbeat(_attempt(sitting), TOKEN, now=T0 + timedelta(seconds=60))
        with pytest.raises(services.Conflict):
            services.check_in(_attempt(sitting), "other-machine", now=T0 + timedelta(seconds=90))
        later = T0 + timedelta(seconds=60 + services.HOLD_SECONDS + 1)
        services.check_in(_attempt(sitting), "other-machine", now=later)
        assert _save(sitting, token="other-machine", at=later).applied
        with pytest.raises(services.Conflict):
            services.heartbeat(_attempt(sitting), TOKEN, now=later)


def test_terminate_closes_everything_and_needs_a_reason(app, sitting):
    with app.app_context():
        _begin(sitting)
        with pytest.raises(services.DeliveryError, match="needs a reason"):
            services.terminate(_attempt(sitting), actor=_user("proctor"), reason="", now=T0)
        services.terminate(_attempt(sitting), actor=_user("proctor"), reason="phone use", now=T0)
        attempt = _attempt(sitting)
        assert attempt.state is AttemptState.TERMINATED and attempt.termination_reason == "phone use"
        with pytest.raises(services.TimeIsUp):
            _save(sitting)


def test_answers_are_checked_against_the_item_format(app, sitting):
    with app.app_context():
        _begin(sitting)
        with pytest.raises(services.DeliveryError, match="not a valid single_best answer"):
            _save(sitting, choice=7)
        with pytest.raises(services.DeliveryError, match="not in the open section"):
            _save(sitting, item="S-00")


def _threads(app, n, work):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                results.append(work(i))
            except services.DeliveryError as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


postgres_only = pytest.mark.skipif(
    not POSTGRES_URL, reason="race tests need PostgreSQL (CI sets TEST_DATABASE_URL)"
)


@postgres_only
def test_fifty_concurrent_saves_of_one_answer_leave_one_record(app, sitting, database_url):
    with app.app_context():
        _begin(sitting)
    results, errors = _threads(app, 50, lambda i: _save(sitting, choice=2, seq=1, key="same-key"))
    assert errors == [] and len(results) == 50
    assert sum(not r.replayed for r in results) == 1
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(AnswerEvent)).scalar_one() == 1


@postgres_only
def test_concurrent_saves_keep_the_highest_sequence_number(app, sitting, database_url):
    with app.app_context():
        _begin(sitting)
    results, errors = _threads(app, 30, lambda i: _save(sitting, choice=i % 4, seq=i + 1, key=f"k{i}"))
    assert errors == [] and len(results) == 30
    with app.app_context():
        current = db.session.get(CurrentAnswer, (sitting, "K-00"))
        assert current.seq == 30 and current.response == {"choice": 29 % 4}


@postgres_only
def test_concurrent_finish_calls_finish_the_section_once(app, sitting, database_url):
    with app.app_context():
        _begin(sitting)
    results, errors = _threads(
        app, 20, lambda i: services.finish_section(_attempt(sitting), 0, client_token=TOKEN, now=T0)
    )
    assert errors == [] and sorted(results) == [False] * 19 + [True]
    with app.app_context():
        attempt = _attempt(sitting)
        assert attempt.current_section == 1 and attempt.sections[1].state is SectionState.OPEN


@postgres_only
def test_no_save_is_accepted_after_a_pause_commits(app, sitting, database_url):
    with app.app_context():
        _begin(sitting)
        proctor_id = _user("proctor").id

    def work(i):
        if i == 0:
            services.pause(
                _attempt(sitting),
                actor=db.session.get(User, proctor_id),
                reason="race",
                now=T0 + timedelta(seconds=1),
            )
            return "paused"
        return _save(sitting, choice=i % 4, seq=i, key=f"r{i}", at=T0 + timedelta(seconds=2))

    _, errors = _threads(app, 20, work)
    with app.app_context():
        pause_row = db.session.execute(db.select(TimeAdjustment)).scalar_one()
        events = db.session.execute(db.select(AnswerEvent)).scalars().all()
    # every save that was acknowledged committed before the pause; the others were refused as paused
    assert all(e.id for e in events) and len(events) + len(errors) == 19
    assert all(isinstance(e, services.Conflict) for e in errors)
    assert pause_row.kind == "pause"


def make_shuffled_sitting(app) -> int:
    """A one-section knowledge test with shuffled options; the candidate has started it."""
    with app.app_context():
        bank_services.import_items(_bank_specs(), actor=None, source="test")
        definition = services.create_definition(
            "Shuffled",
            [
                {
                    "title": {"en": "Law"},
                    "family": "knowledge",
                    "time_limit_seconds": 600,
                    "mode": "fixed",
                    "config": {"items": KNOWLEDGE},
                    "shuffle_options": True,
                }
            ],
            actor=None,
        )
        session = services.create_session(
            definition,
            name="R",
            opens_at=T0,
            closes_at=T0 + timedelta(hours=1),
            proctors=[_user("proctor")],
            actor=None,
        )
        attempt_id = services.register(session, _user("candidate"), actor=None).attempt.id
        _begin(attempt_id)
        return attempt_id


def test_shuffled_options_are_stored_in_bank_order_and_shown_back_in_display_order(app, users):
    from assessment.delivery.presenter import sitting_view

    attempt_id = make_shuffled_sitting(app)
    with app.app_context():
        attempt = _attempt(attempt_id)
        permutation = attempt.form["sections"][0]["permutations"]["K-00"]
        assert sorted(permutation) == [0, 1, 2, 3]
        view = sitting_view(attempt, now=T0, grace_seconds=5)
        shown = next(i for i in view["items"] if i["code"] == "K-00")
        original = ["a", "b", "c", "d"]
        assert shown["options"] == [original[p] for p in permutation]
        _save(attempt_id, "K-00", choice=2)  # the third option as displayed
        assert db.session.get(CurrentAnswer, (attempt_id, "K-00")).response == {"choice": permutation[2]}
        view = sitting_view(_attempt(attempt_id), now=T0, grace_seconds=5)
        assert next(i for i in view["items"] if i["code"] == "K-00")["answer"] == {"choice": 2}


def test_a_retry_of_a_save_in_a_shuffled_section_is_replayed_not_refused(app, users):
    # Found by bench/http: a retry after a timeout got 422 "key used for a different answer", because the
    # stored event is in the bank's option order and the retry in the displayed one.
    attempt_id = make_shuffled_sitting(app)
    with app.app_context():
        for choice in range(4):  # at least one displayed position differs from the bank's
            first = _save(attempt_id, "K-00", choice=choice, seq=choice + 1)
            again = _save(attempt_id, "K-00", choice=choice, seq=choice + 1)
            assert (again.replayed, again.applied, again.seq) == (True, first.applied, first.seq)
        assert len(db.session.execute(db.select(AnswerEvent)).scalars().all()) == 4
        permutation = _attempt(attempt_id).form["sections"][0]["permutations"]["K-00"]
        other = next(c for c in range(4) if permutation[c] != permutation[3])
        with pytest.raises(services.DeliveryError, match="different answer"):
            _save(attempt_id, "K-00", choice=other, seq=4)  # the same key with another answer


def test_linear_on_the_fly_forms_meet_the_blueprint_and_keep_enemies_apart(app, users):
    from item_bank.items import ItemSpec, LanguageVersion

    options = ("a", "b", "c", "d")
    specs = [
        ItemSpec(
            f"L-{d}-{i}",
            "single_best",
            {"en": LanguageVersion("Q?", options)},
            {"correct": 0},
            status="operational",
            domain=d,
            enemies=(
                ("L-civil-1",) if (d, i) == ("civil", 0) else ("L-civil-0",) if (d, i) == ("civil", 1) else ()
            ),
        )
        for d in ("civil", "criminal")
        for i in range(6)
    ]
    with app.app_context():
        bank_services.import_items(specs, actor=None, source="test")
        author, approver = _user("psychometrician"), _user("administrator")
        for n, spec in enumerate(specs):
            proposal = bank_services.propose_parameters(
                bank_services.find_item(spec.code),
                model="2pl",
                a=1.0,
                b=[n / 6 - 1],
                provenance={},
                actor=author,
            )
            bank_services.approve_parameters(proposal, actor=approver)
        definition = services.create_definition(
            "LOFT",
            [
                {
                    "title": {"en": "Law"},
                    "family": "knowledge",
                    "time_limit_seconds": 600,
                    "mode": "loft",
                    "config": {"blueprint": {"counts": {"civil": 3, "criminal": 2}}},
                }
            ],
            actor=None,
        )
        session = services.create_session(
            definition,
            name="R",
            opens_at=T0,
            closes_at=T0 + timedelta(hours=1),
            proctors=[_user("proctor")],
            actor=None,
        )
        forms = []
        for n in range(8):
            user = account_services.create_user(
                username=f"c{n}", full_name="C", role=Role.CANDIDATE, password=PASSWORD
            )
            attempt = services.register(session, user, actor=None).attempt
            services.check_in(attempt, f"tab-{n}", now=T0)
            items = _attempt(attempt.id).form["sections"][0]["items"]
            forms.append(tuple(items))
            assert sum(code.startswith("L-civil") for code in items) == 3
            assert sum(code.startswith("L-criminal") for code in items) == 2
            assert not {"L-civil-0", "L-civil-1"} <= set(items)
            assert set(_attempt(attempt.id).pinned_parameters) == set(items)
        assert len(set(forms)) > 1  # candidates get different forms
        with pytest.raises(services.DeliveryError, match="unknown blueprint keys"):
            services.create_definition(
                "Bad",
                [
                    {
                        "title": {"en": "x"},
                        "family": "knowledge",
                        "time_limit_seconds": 60,
                        "mode": "loft",
                        "config": {"blueprint": {"count": {}}},
                    }
                ],
                actor=None,
            )


def test_administered_items_are_counted_and_their_versions_frozen(app, sitting):
    from assessment.bank.models import Item

    with app.app_context():
        _begin(sitting)
        # the Start wrote exposure rows, not the shared counters; the version seen is frozen at once
        counts = dict(db.session.execute(db.select(Item.code, Item.times_administered)).all())
        assert set(counts.values()) == {0}
        items = db.session.execute(db.select(Item)).scalars().all()
        seen = exposure_of(items)  # what exposure control reads: the counters plus the rows not moved yet
        assert all(seen[c] == 1 for c in KNOWLEDGE) and all(seen[c] == 0 for c in SJT)
        item = bank_services.find_item("K-00")
        assert item.current.times_administered == 1
        # the finaliser job moves the rows into the counters, once
        assert services.aggregate_exposure() == len(KNOWLEDGE)
        assert services.aggregate_exposure() == 0
        counts = dict(db.session.execute(db.select(Item.code, Item.times_administered)).all())
        assert all(counts[c] == 1 for c in KNOWLEDGE) and all(counts[c] == 0 for c in SJT)
        assert exposure_of(db.session.execute(db.select(Item)).scalars().all()) == counts
        item = bank_services.find_item("K-00")
        assert item.current.times_administered == 1  # first administration counted once, not twice
        # an edit now makes a new version: the one candidates saw stays as it was
        from assessment.bank import repository

        spec = repository.spec_of(item)
        import dataclasses

        bank_services.save_item(dataclasses.replace(spec, key={"correct": 2}), actor=_user("psychometrician"))
        assert [v.number for v in bank_services.find_item("K-00").versions] == [1, 2]


def test_a_sitting_goes_on_with_redis_down(make_app, users):
    # Redis is never in the commit path: configured but unreachable, nothing about the sitting changes.
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    attempt_id = make_sitting(app)
    with app.app_context():
        _begin(attempt_id)
        deadline = _attempt(attempt_id).sections[0].deadline()
        assert _save(attempt_id, "K-03", 2).applied
        assert _attempt(attempt_id).sections[0].deadline() == deadline
        assert db.session.get(CurrentAnswer, (attempt_id, "K-03")).response == {"choice": 2}


@postgres_only
def test_a_room_starting_at_once_is_counted_exactly(app, sitting, database_url):
    from assessment.bank.models import Item

    with app.app_context():
        session = _attempt(sitting).registration.session
        attempts = [sitting]
        for i in range(11):
            user = account_services.create_user(
                username=f"herd{i}", full_name=f"Herd {i}", role=Role.CANDIDATE, password=PASSWORD
            )
            attempts.append(services.register(session, user, actor=None).attempt.id)
        for attempt_id in attempts:
            services.check_in(_attempt(attempt_id), TOKEN, now=T0)
            services.admit(_attempt(attempt_id), actor=_user("proctor"), now=T0)
    results, errors = _threads(
        app, len(attempts), lambda i: services.start(_attempt(attempts[i]), TOKEN, now=T0) or True
    )
    assert errors == [] and len(results) == len(attempts)
    # two finaliser jobs at once: every exposure row is moved exactly once
    moved, errors = _threads(app, 2, lambda i: services.aggregate_exposure())
    assert errors == [] and sum(moved) == len(attempts) * len(KNOWLEDGE)
    with app.app_context():
        items = db.session.execute(db.select(Item).where(Item.code.in_(KNOWLEDGE))).scalars().all()
        assert {i.times_administered for i in items} == {len(attempts)}
        assert {i.current.times_administered for i in items} == {len(attempts)}
        assert set(exposure_of(items).values()) == {len(attempts)}
