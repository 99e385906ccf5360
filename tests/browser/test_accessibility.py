"""WCAG 2.1 AA in a real browser: axe-core (bundled by axe-playwright-python) on every screen a candidate
meets, from the sign-in page to the end of the sitting, and a sitting done with the keyboard alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe

from assessment.access_codes import services as access_codes
from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.bank import services as bank_services
from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.delivery.models import Attempt, AttemptState, CurrentAnswer, ExamSession
from assessment.extensions import db
from item_bank.items import ItemSpec, LanguageVersion
from tests.browser.conftest import screenshot

PASSWORD = "browser pass 123"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
OPTIONS = (
    "Ask both parties to explain their positions again",
    "Adjourn the hearing and consult a colleague",
    "Rule at once on the evidence already heard",
    "Report the incident to the court's chair",
)


def _items() -> list[ItemSpec]:
    def version(stem: str) -> dict[str, LanguageVersion]:
        return {"en": LanguageVersion(stem, OPTIONS)}

    knowledge = [
        ItemSpec(
            f"K-A{n}",
            "single_best",
            {"en": LanguageVersion(f"Which court hears case {n} at first instance?", ("A", "B", "C", "D"))},
            {"correct": 0},
            status="pretest",
            domain="civil",
        )
        for n in range(1, 3)
    ]
    stem = "A party raises their voice at the other side during the hearing. What do you do?"
    return [
        *knowledge,
        ItemSpec(
            "S-ML",
            "sjt_most_least",
            version(stem),
            {"most": 0, "least": 2},
            status="pretest",
            competence="integrity",
        ),
        ItemSpec(
            "S-RT",
            "sjt_rate",
            version(stem),
            {"ratings": [4, 3, 1, 2]},
            status="pretest",
            competence="integrity",
        ),
        ItemSpec(
            "S-RK",
            "sjt_rank",
            version(stem),
            {"rank": [1, 2, 4, 3]},
            status="pretest",
            competence="integrity",
        ),
    ]


def _setup(app, sections: list[dict]) -> dict[str, int]:
    with app.app_context():
        bank_services.import_items(_items(), actor=None, source="browser")
        proctor = account_services.create_user(
            username="proctor1", full_name="Proctor One", role=Role.PROCTOR, password=PASSWORD
        )
        definition = services.create_definition("Judges 2026", sections, actor=None)
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
            username="cand1", full_name="Candidate One", role=Role.CANDIDATE, password=PASSWORD
        )
        registration = services.register(session, user, actor=None, language="en")
        return {"session": session.id, "attempt": registration.attempt.id}


def _section(title: str, family: str, seconds: int, items: list[str]) -> dict:
    return {
        "title": {"en": title},
        "family": family,
        "time_limit_seconds": seconds,
        "mode": "fixed",
        "config": {"items": items},
    }


def _as_proctor(app, attempt_id: int, action) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        proctor = db.session.execute(db.select(User).where(User.username == "proctor1")).scalar_one()
        action(attempt, actor=proctor, now=db_now())


def _admit(app, attempt_id: int) -> None:
    _as_proctor(app, attempt_id, services.admit)


@pytest.fixture
def new_page(browser):
    """A fresh browser context; the page's CSP stays on (axe is injected through the debugging protocol)."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def check(page, name: str) -> None:
    """Fail with axe's own report if the page breaks any WCAG 2.0/2.1 A or AA rule."""
    screenshot(page, f"a11y-{name}")
    results = Axe().run(
        page, options={"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    )
    violations = results.response["violations"]
    assert not violations, f"{name}: {results.generate_report()}"


def _sign_in(page, base_url: str) -> None:
    page.goto(base_url + "/sign-in")
    page.fill("#username", "cand1")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()


def test_every_screen_of_a_sitting_meets_wcag_2_1_aa(live_app, live_server, new_page):
    ids = _setup(
        live_app,
        [
            _section("Law", "knowledge", 600, ["K-A1", "K-A2"]),
            _section("Judgement", "sjt", 240, ["S-ML", "S-RT", "S-RK"]),  # under 5 minutes: the warning
            _section("Last question", "knowledge", 50, ["K-A1"]),  # under a minute: the urgent state
        ],
    )
    page = new_page()
    page.goto(live_server.url + "/sign-in")
    check(page, "sign-in")
    page.fill("#code", "ABCD-EFGH-JKMN")
    page.get_by_role("button", name="Sign in with the code").click()
    page.wait_for_selector("#code-error")
    check(page, "sign-in-wrong-code")

    with live_app.app_context():
        session = db.session.get(ExamSession, ids["session"])
        code = access_codes.issue_codes(session, session.registrations, actor=None, now=db_now())[0].code
    page.fill("#code", code)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in with the code").click()
    check(page, "candidate-home")

    page.get_by_role("link", name="Go to the exam").click()
    page.wait_for_selector("text=wait for the proctor")
    check(page, "waiting-room")
    _admit(live_app, ids["attempt"])
    page.wait_for_selector("#start-exam", timeout=20_000)
    check(page, "admitted")

    page.click("#start-exam")
    page.wait_for_selector("#item-K-A1")
    check(page, "knowledge-items")
    # 3.1.2: the item says which language it is in (the registration's), whatever the interface language
    assert page.locator("#stem-K-A1").get_attribute("lang") == "en"
    page.locator("#q-K-A1-1").check()
    page.locator("#flag-K-A2").check()
    page.wait_for_selector("#save-status.save-saved")
    check(page, "knowledge-answered-and-review")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#finish-section")
    page.wait_for_selector("#item-S-RK")
    page.wait_for_selector("#timer.warning")
    check(page, "sjt-formats-time-warning")
    # the warning is spoken: the live region survives the redraws of the sitting (WCAG 4.1.3)
    page.wait_for_selector("#sitting-live:has-text('5 minutes remaining.')", state="attached")
    # 1.4.10 reflow: at 320 CSS pixels wide nothing needs scrolling sideways
    page.set_viewport_size({"width": 320, "height": 640})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    check(page, "sjt-formats-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#q-S-ML-most-0").check()
    page.locator("#q-S-ML-least-2").check()
    for option, rating in enumerate((4, 3, 1, 2)):
        page.locator(f"#q-S-RT-{option}-{rating}").check()
    for option, rank in enumerate((1, 2, 4, 3)):
        page.select_option(f"#rank-S-RK-{option}", str(rank))
    page.wait_for_selector("#save-status.save-saved")
    check(page, "sjt-answered")
    _as_proctor(live_app, ids["attempt"], lambda a, **kw: services.pause(a, reason="noise", **kw))
    page.wait_for_selector("text=The proctor has paused the exam", timeout=20_000)
    page.wait_for_selector("#sitting-live:has-text('The proctor has paused the exam')", state="attached")
    check(page, "paused")
    _as_proctor(live_app, ids["attempt"], lambda a, **kw: services.resume(a, reason=None, **kw))
    page.wait_for_selector("#item-S-RK", timeout=20_000)

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#finish-section")
    page.wait_for_selector("#timer.urgent")
    page.wait_for_selector("#sitting-live:has-text('1 minute remaining.')", state="attached")
    check(page, "time-urgent")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#finish-section")
    page.wait_for_selector("text=Your answers have been submitted")
    check(page, "submitted")


def test_a_section_can_be_done_with_the_keyboard_alone(live_app, live_server, new_page):
    ids = _setup(
        live_app,
        [_section("Law", "knowledge", 600, ["K-A1", "K-A2"]), _section("Judgement", "sjt", 600, ["S-ML"])],
    )
    page = new_page()
    _sign_in(page, live_server.url)
    page.goto(live_server.url + "/exam/sitting")
    page.wait_for_selector("text=wait for the proctor")
    _admit(live_app, ids["attempt"])
    page.wait_for_selector("#start-exam:focus", timeout=20_000)  # the Start button takes the focus
    page.keyboard.press("Enter")
    page.wait_for_selector("#section-heading:focus")  # a new section puts the focus on its heading

    def focused_id() -> str:
        return page.locator(":focus").get_attribute("id") or ""

    page.keyboard.press("Tab")  # into the first question's options
    assert focused_id() == "q-K-A1-0"
    page.keyboard.press("ArrowDown")  # arrow keys move through a radio group and choose
    page.keyboard.press("ArrowDown")
    assert focused_id() == "q-K-A1-2" and page.locator("#q-K-A1-2").is_checked()
    page.keyboard.press("Tab")  # the flag of question 1
    assert focused_id() == "flag-K-A1"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # question 2: Space chooses the focused option
    assert focused_id() == "q-K-A2-0"
    page.keyboard.press("Space")
    while focused_id() != "finish-section":  # on through the review list to Finish
        page.keyboard.press("Tab")
    page.wait_for_selector("#save-status.save-saved")
    page.once("dialog", lambda dialog: dialog.accept())  # the browser's confirm: Enter accepts it
    page.keyboard.press("Enter")
    page.wait_for_selector("#section-heading:focus")
    page.keyboard.press("Tab")
    assert focused_id() == "q-S-ML-most-0"
    page.keyboard.press("ArrowDown")  # most effective: B
    page.keyboard.press("Tab")
    assert focused_id() == "q-S-ML-least-0"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # least effective: C
    page.wait_for_selector("#save-status.save-saved")
    while focused_id() != "finish-section":
        page.keyboard.press("Tab")
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Your answers have been submitted")
    with live_app.app_context():
        attempt = db.session.get(Attempt, ids["attempt"])
        answers = {
            a.item_code: (a.response, a.flagged)
            for a in db.session.execute(
                db.select(CurrentAnswer).where(CurrentAnswer.attempt_id == attempt.id)
            ).scalars()
        }
        assert attempt.state is AttemptState.SUBMITTED
    assert answers == {
        "K-A1": ({"choice": 2}, True),
        "K-A2": ({"choice": 0}, False),
        "S-ML": ({"most": 1, "least": 2}, False),
    }


def test_flagging_an_item_never_drops_its_unsent_answer(live_app, live_server, new_page):
    # Found by the keyboard test: a flag given while the item's answer waited in the queue replaced it.
    ids = _setup(live_app, [_section("Law", "knowledge", 600, ["K-A1", "K-A2"])])
    page = new_page()
    _sign_in(page, live_server.url)
    page.goto(live_server.url + "/exam/sitting")
    page.wait_for_selector("text=wait for the proctor")
    _admit(live_app, ids["attempt"])
    page.click("#start-exam", timeout=20_000)
    page.wait_for_selector("#item-K-A1")
    page.context.set_offline(True)
    page.locator("#q-K-A1-3").check()
    page.locator("#flag-K-A1").check()
    page.wait_for_selector(".save-status.save-offline, .save-status.save-unsaved", timeout=20_000)
    page.context.set_offline(False)
    page.wait_for_selector("#save-status.save-saved", timeout=30_000)
    with live_app.app_context():
        row = db.session.get(CurrentAnswer, (ids["attempt"], "K-A1"))
        assert (row.response, row.flagged) == ({"choice": 3}, True)


def test_the_access_code_pages_meet_wcag_2_1_aa(live_app, live_server, new_page):
    ids = _setup(live_app, [_section("Law", "knowledge", 600, ["K-A1"])])
    with live_app.app_context():
        account_services.create_user(
            username="admin1", full_name="Admin One", role=Role.ADMINISTRATOR, password=PASSWORD
        )
    page = new_page()
    page.goto(live_server.url + "/sign-in")
    page.fill("#username", "admin1")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    page.goto(f"{live_server.url}/admin/sessions/{ids['session']}/access-codes")
    check(page, "access-codes")
    with page.expect_navigation():
        page.get_by_role("button", name="Issue codes for every candidate").click()
    page.wait_for_selector(".code-slip .access-code")
    check(page, "access-codes-issued")
    page.emulate_media(media="print")  # printed, the page is only the slips
    assert page.locator(".site-header").is_hidden() and page.locator(".page-head").is_hidden()
    assert page.locator(".code-slip").is_visible()
    screenshot(page, "access-codes-print")
