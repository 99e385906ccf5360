"""An adaptive section in a real browser, taken with the keyboard only: one question at a time, then Next."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from assessment.auth import services as account_services
from assessment.auth.models import Role
from assessment.bank import services as bank_services
from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.delivery.models import Attempt, AttemptState
from assessment.extensions import db
from item_bank.items import ItemSpec, LanguageVersion
from tests.browser.conftest import screenshot
from tests.browser.test_sitting import PASSWORD, _admit, _open_sitting

CODES = [f"A-{d}-{i}" for d in ("civil", "criminal") for i in range(6)]


def _setup(app) -> dict[str, int]:
    with app.app_context():
        specs = [
            ItemSpec(
                code,
                "single_best",
                {
                    "en": LanguageVersion(
                        f"Which rule applies in case {code}?", ("first", "second", "third", "fourth")
                    )
                },
                {"correct": 0},
                status="operational",
                domain=code.split("-")[1],
            )
            for code in CODES
        ]
        bank_services.import_items(specs, actor=None, source="browser")
        for n, code in enumerate(CODES):
            proposal = bank_services.propose_parameters(
                bank_services.find_item(code), model="2pl", a=1.5, b=[n / 4 - 1.5], provenance={}, actor=None
            )
            bank_services.approve_parameters(proposal, actor=None)
        proctor = account_services.create_user(
            username="proctor1", full_name="Proctor One", role=Role.PROCTOR, password=PASSWORD
        )
        definition = services.create_definition(
            "Adaptive law",
            [
                {
                    "title": {"en": "Law, adaptive"},
                    "family": "knowledge",
                    "time_limit_seconds": 600,
                    "mode": "cat",
                    "config": {
                        "stop": {"max_length": 3},
                        "blueprint": {"counts": {"civil": 1, "criminal": 1}},
                    },
                }
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
        user = account_services.create_user(
            username="cand1", full_name="Candidate cand1", role=Role.CANDIDATE, password=PASSWORD
        )
        return {
            "session": session.id,
            "cand1": services.register(session, user, actor=None, language="en").attempt.id,
        }


def test_a_candidate_takes_a_short_adaptive_section_with_the_keyboard(live_app, live_server, page_for):
    ids = _setup(live_app)
    page = _open_sitting(page_for)
    _admit(page_for, live_server, ids)
    page.get_by_role("button", name="Start the exam").click()
    for n in (1, 2, 3):
        heading = page.get_by_role("heading", name=re.compile(rf"Question {n} \(adaptive section"))
        heading.wait_for()
        assert page.locator(".item").count() == 1 and page.locator("#item-nav").count() == 0
        assert page.locator("input[type=checkbox]").count() == 0  # no flag for review
        page.keyboard.press("Tab")  # from the focused question to its options
        page.keyboard.press("Space")  # choose the first option
        page.wait_for_selector("#save-status.save-saved")
        if n == 2:
            screenshot(page, "sitting-adaptive-question")
        page.keyboard.press("Tab")
        expect(page.locator("#next-question")).to_be_focused()
        page.keyboard.press("Enter")
    page.wait_for_selector("text=Your answers have been submitted")
    with live_app.app_context():
        attempt = db.session.get(Attempt, ids["cand1"])
        assert attempt.state is AttemptState.SUBMITTED
        assert len(attempt.form["sections"][0]["items"]) == 3
        assert attempt.sections[0].adaptive_state["responses"] == [1, 1, 1]
