"""The commission reads a profile and rates; an administrator releases; a candidate reads their report."""

from __future__ import annotations

from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.extensions import db
from assessment.results import campaigns
from tests.assessment.test_campaigns import NOW, _add_interview, _campaign, build_field
from tests.browser.conftest import screenshot

PASSWORD = "x" * 12


def test_commission_rates_administrator_releases_candidate_reads(live_app, live_server, page_for):
    with live_app.app_context():
        account_services.create_user(
            username="administrator", full_name="Admin Browser", role=Role.ADMINISTRATOR, password=PASSWORD
        )
    campaign_id = build_field(live_app)
    stage_id = _add_interview(live_app, campaign_id)
    with live_app.app_context():
        campaign = _campaign(campaign_id)
        codes = [c.code for c in campaign.candidates]
        mine = next(c.code for c in campaign.candidates if c.user.username == "cand1")
        second = db.session.execute(db.select(User).where(User.username == "member1")).scalar_one()
        stage = db.session.get(campaigns.CampaignStage, stage_id)
        for i, candidate in enumerate(campaign.candidates):  # the other member rated already
            campaigns.record_ratings(stage, candidate, second, {"integrity": 2 + i % 3}, now=NOW)

    member = page_for("member0", PASSWORD)
    member.get_by_role("link", name="Campaigns").click()
    member.get_by_role("link", name="Ranking").click()
    assert "No composite yet" in member.inner_text("main")  # the interview has no panel scores yet
    for i, code in enumerate(codes):
        member.goto(f"{live_server.url}/campaigns/{campaign_id}/candidates/{code}")
        if i == 0:
            assert "Suggested areas to probe" in member.inner_text("#summary")
            assert member.locator("figure svg").count() == 2  # domains and competences with bands
            screenshot(member, "results-profile-before-rating")
        member.get_by_label(str(1 + (i + 1) % 4), exact=True).check()
        with member.expect_navigation():
            member.get_by_role("button", name="Save my ratings").click()
        assert "Your ratings are saved." in member.inner_text(".flashes")
    screenshot(member, "results-profile-rated")
    member.get_by_role("link", name="Ranking: Judges, spring round").click()
    rows = member.locator("#ranking tbody tr")
    assert rows.count() == 4
    ranks = sorted(member.locator("#ranking tbody tr td:first-child").all_inner_texts())
    assert ranks == ["1", "2", "3", "4"]  # every candidate ranked, after every stage, nobody cut on the way
    assert "Candidate Number" not in member.inner_text("#ranking")  # coded for the commission
    screenshot(member, "results-ranking-commission")

    admin = page_for("administrator", PASSWORD)
    admin.goto(f"{live_server.url}/campaigns/{campaign_id}")
    admin.fill("#note", "Spring round closed")
    with admin.expect_navigation():
        admin.get_by_role("button", name="Release results to candidates").click()
    assert "Results released to 4 candidates." in admin.inner_text(".flashes")
    screenshot(admin, "results-released")

    candidate = page_for("cand1", PASSWORD)
    candidate.get_by_role("link", name="My results").click()
    text = candidate.inner_text("main")
    assert "Judges, spring round" in text and "Interview" in text and "Likely range" in text
    assert not any(code in text for code in codes if code != mine)  # nothing about anyone else
    screenshot(candidate, "results-candidate-report")
