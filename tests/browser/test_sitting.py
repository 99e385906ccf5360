"""The exam day in a real browser: a full sitting, a reload and a network drop, time running out with the tab
closed, and a proctor pausing, extending and terminating."""

from __future__ import annotations

import time
from datetime import timedelta

from assessment.auth import services as account_services
from assessment.auth.models import Role
from assessment.bank import services as bank_services
from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.delivery.models import Attempt, AttemptState, CurrentAnswer, SectionState
from assessment.extensions import db
from tests.assessment.test_calibration import _bank_specs
from tests.browser.conftest import screenshot

PASSWORD = "browser pass 123"
KNOWLEDGE = [f"K-{i:02d}" for i in range(4)]


def _setup(app, *, knowledge_seconds=600, sjt_seconds=300, candidates=("cand1",)) -> dict[str, int]:
    with app.app_context():
        bank_services.import_items(_bank_specs(), actor=None, source="browser")
        proctor = account_services.create_user(
            username="proctor1", full_name="Proctor One", role=Role.PROCTOR, password=PASSWORD
        )
        definition = services.create_definition(
            "Judges 2026",
            [
                {
                    "title": {"en": "Law"},
                    "family": "knowledge",
                    "time_limit_seconds": knowledge_seconds,
                    "mode": "fixed",
                    "config": {"items": KNOWLEDGE},
                },
                {
                    "title": {"en": "Judgement"},
                    "family": "sjt",
                    "time_limit_seconds": sjt_seconds,
                    "mode": "fixed",
                    "config": {"items": ["S-00"]},
                },
            ],
            actor=None,
        )
        now = db_now()
        session = services.create_session(
            definition,
            name="Room 1",
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(hours=5),
            proctors=[proctor],
            actor=None,
        )
        ids = {"session": session.id}
        for name in candidates:
            user = account_services.create_user(
                username=name, full_name=f"Candidate {name}", role=Role.CANDIDATE, password=PASSWORD
            )
            registration = services.register(session, user, actor=None, language="en")
            ids[name] = registration.attempt.id
        return ids


def _attempt(app, attempt_id):
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        answers = {
            a.item_code: a.response
            for a in db.session.execute(
                db.select(CurrentAnswer).where(CurrentAnswer.attempt_id == attempt_id)
            ).scalars()
        }
        return attempt.state, [s.state for s in attempt.sections], answers


def _open_sitting(page_for, name="cand1"):
    page = page_for(name, PASSWORD)
    page.get_by_role("link", name="Go to the exam").click()
    page.wait_for_selector("text=wait for the proctor")
    return page


def _admit(page_for, live_server, ids, name="cand1"):
    proctor = page_for("proctor1", PASSWORD)
    proctor.goto(f"{live_server.url}/proctor/sessions/{ids['session']}")
    row = proctor.locator("#grid tbody tr").filter(has_text=f"Candidate {name}")
    row.get_by_role("button", name="Admit").click()
    proctor.wait_for_selector(f"#grid tbody tr[data-state=admitted] >> text=Candidate {name}")
    return proctor


def _wait_saved(page, timeout=30_000):
    # the page's CSP forbids evaluated strings (no unsafe-eval), so wait on selectors only
    page.wait_for_selector("#save-status.save-saved", timeout=timeout)


def test_a_full_sitting_of_a_two_section_test(live_app, live_server, page_for):
    ids = _setup(live_app)
    page = _open_sitting(page_for)
    screenshot(page, "sitting-waiting-room")
    _admit(page_for, live_server, ids)
    page.get_by_role("button", name="Start the exam").click()
    page.wait_for_selector("#timer")
    for n, code in enumerate(KNOWLEDGE):
        page.locator(f"#item-{code} input[type=radio]").nth(n % 4).check()
    page.locator("#flag-K-01").check()
    _wait_saved(page)
    assert "flagged" in page.inner_text("#nav-K-01")
    screenshot(page, "sitting-section-1")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Finish this section").click()
    page.wait_for_selector("#item-S-00")
    page.locator("#q-S-00-most-1").check()
    page.locator("#q-S-00-least-3").check()
    _wait_saved(page)
    screenshot(page, "sitting-section-2")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Finish this section").click()
    page.wait_for_selector("text=Your answers have been submitted")
    state, sections, answers = _attempt(live_app, ids["cand1"])
    assert state is AttemptState.SUBMITTED and sections == [SectionState.SUBMITTED] * 2
    assert answers == {
        "K-00": {"choice": 0},
        "K-01": {"choice": 1},
        "K-02": {"choice": 2},
        "K-03": {"choice": 3},
        "S-00": {"most": 1, "least": 3},
    }


def test_answers_survive_a_reload_and_a_two_minute_network_drop(live_app, live_server, page_for):
    ids = _setup(live_app)
    page = _open_sitting(page_for)
    _admit(page_for, live_server, ids)
    page.get_by_role("button", name="Start the exam").click()
    page.wait_for_selector("#timer")
    page.locator("#item-K-00 input[type=radio]").nth(2).check()
    _wait_saved(page)
    page.reload()  # a reload mid-section: answers and time come back from the server
    page.wait_for_selector("#timer")
    assert page.locator("#q-K-00-2").is_checked()

    page.context.set_offline(True)
    started = time.monotonic()
    page.locator("#item-K-01 input[type=radio]").nth(1).check()
    page.locator("#item-K-02 input[type=radio]").nth(3).check()
    page.wait_for_selector(".save-status.save-offline, .save-status.save-unsaved", timeout=20_000)
    screenshot(page, "sitting-offline")
    page.locator("#item-K-03 input[type=radio]").nth(0).check()
    while time.monotonic() - started < 120:  # two minutes without a network
        time.sleep(5)
    page.context.set_offline(False)
    _wait_saved(page, timeout=30_000)
    _, _, answers = _attempt(live_app, ids["cand1"])
    assert answers == {
        "K-00": {"choice": 2},
        "K-01": {"choice": 1},
        "K-02": {"choice": 3},
        "K-03": {"choice": 0},
    }
    screenshot(page, "sitting-back-online")


def test_an_unsent_answer_is_resent_after_a_reload(live_app, live_server, page_for):
    ids = _setup(live_app)
    page = _open_sitting(page_for)
    _admit(page_for, live_server, ids)
    page.get_by_role("button", name="Start the exam").click()
    page.wait_for_selector("#timer")
    page.context.set_offline(True)
    page.locator("#item-K-02 input[type=radio]").nth(1).check()
    page.wait_for_selector(".save-status.save-offline, .save-status.save-unsaved", timeout=20_000)
    page.context.set_offline(False)
    page.reload()  # the answer was never acknowledged: the queue in this browser sends it now
    _wait_saved(page)
    _, _, answers = _attempt(live_app, ids["cand1"])
    assert answers == {"K-02": {"choice": 1}}


def test_time_runs_out_with_the_tab_closed(live_app, live_server, page_for):
    ids = _setup(live_app, knowledge_seconds=12)
    page = _open_sitting(page_for)
    _admit(page_for, live_server, ids)
    page.get_by_role("button", name="Start the exam").click()
    page.wait_for_selector("#timer")
    page.locator("#item-K-00 input[type=radio]").nth(1).check()
    _wait_saved(page)
    page.close()  # the candidate's browser is gone
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        _, sections, answers = _attempt(live_app, ids["cand1"])
        if sections[0] is SectionState.SUBMITTED:
            break
        time.sleep(1)
    assert sections[0] is SectionState.SUBMITTED and answers == {"K-00": {"choice": 1}}
    with live_app.app_context():
        assert db.session.get(Attempt, ids["cand1"]).sections[0].submitted_by == "server"


def test_a_proctor_pauses_extends_and_terminates(live_app, live_server, page_for):
    ids = _setup(live_app, candidates=("cand1", "cand2"))
    first, second = _open_sitting(page_for, "cand1"), _open_sitting(page_for, "cand2")
    proctor = _admit(page_for, live_server, ids, "cand1")
    proctor.locator("#grid tbody tr").filter(has_text="Candidate cand2").get_by_role(
        "button", name="Admit"
    ).click()
    for page in (first, second):
        page.get_by_role("button", name="Start the exam").click()
        page.wait_for_selector("#timer")
    row1 = proctor.locator("#grid tbody tr").filter(has_text="Candidate cand1")
    for name in ("cand1", "cand2"):
        proctor.wait_for_selector(f"#grid tbody tr[data-state=in_progress] >> text=Candidate {name}")

    proctor.once("dialog", lambda d: d.accept("fire alarm"))
    row1.get_by_role("button", name="Pause").click()
    first.wait_for_selector("text=The proctor has paused the exam", timeout=20_000)
    screenshot(first, "sitting-paused")
    screenshot(proctor, "console-paused")
    with live_app.app_context():
        remaining_paused = db.session.get(Attempt, ids["cand1"]).sections[0].remaining_seconds(db_now())
    time.sleep(3)
    with live_app.app_context():
        assert (
            db.session.get(Attempt, ids["cand1"]).sections[0].remaining_seconds(db_now()) == remaining_paused
        )
    row1.get_by_role("button", name="Resume").click()
    first.wait_for_selector("#timer", timeout=20_000)

    answers = iter(["10", "power cut in row 3"])

    def answer(dialog):
        dialog.accept(next(answers))

    proctor.on("dialog", answer)
    row1.get_by_role("button", name="Add time").click()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with live_app.app_context():
            extension = db.session.get(Attempt, ids["cand1"]).sections[0].extension_seconds
        if extension:
            break
        time.sleep(0.2)
    assert extension == 600
    proctor.remove_listener("dialog", answer)

    row2 = proctor.locator("#grid tbody tr").filter(has_text="Candidate cand2")
    proctor.once("dialog", lambda d: d.accept("phone in use"))
    row2.get_by_role("button", name="Terminate").click()
    second.wait_for_selector("text=ended by the proctor", timeout=20_000)
    screenshot(proctor, "console-after-terminate")
    with live_app.app_context():
        attempt = db.session.get(Attempt, ids["cand2"])
        assert attempt.state is AttemptState.TERMINATED and attempt.termination_reason == "phone in use"
        actions = (
            db.session.execute(db.text("SELECT action FROM audit_event WHERE action LIKE 'delivery.%'"))
            .scalars()
            .all()
        )
    assert {
        "delivery.admitted",
        "delivery.paused",
        "delivery.resumed",
        "delivery.extended",
        "delivery.terminated",
    } <= set(actions)
