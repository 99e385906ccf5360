"""A psychometrician runs a calibration (progress and plots on screen); a second one approves it."""

from __future__ import annotations

import numpy as np

from assessment.auth import services as account_services
from assessment.auth.models import Role
from assessment.bank import services as bank_services
from assessment.bank.models import ParameterStatus
from assessment.extensions import db
from tests.assessment.test_calibration import TRUTH, _bank_specs, _csv
from tests.browser.conftest import ARTIFACTS, screenshot


def screenshot_path(name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def test_calibration_from_upload_to_four_eyes_approval(live_app, live_server, page_for, tmp_path):
    with live_app.app_context():
        for name in ("psychometrician", "second"):
            account_services.create_user(
                username=name,
                full_name=f"{name.title()} Browser",
                role=Role.PSYCHOMETRICIAN,
                password="browser pass 123",
            )
        bank_services.import_items(_bank_specs(), actor=None, source="browser test")
    data = tmp_path / "pilot.csv"
    data.write_bytes(_csv(n=20000, seed=5))

    page = page_for("psychometrician", "browser pass 123")
    page.get_by_role("link", name="Calibration").click()
    page.fill("#name", "Pilot 2026")
    page.set_input_files("#file", str(data))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    assert "20000 persons × 15 items" in page.inner_text(".flashes")

    page.select_option("#linking", "none")
    with page.expect_navigation():
        page.get_by_role("button", name="Calibrate").click()
    assert page.locator("#run-status").is_visible()
    assert page.locator("#run-iteration").is_visible()
    screenshot(page, "calibration-progress")

    page.wait_for_selector("text=Summary", timeout=120_000)  # the page reloads itself when the run ends
    assert page.inner_text("#run-state") == "succeeded"
    assert page.locator("svg.chart").count() >= 3
    assert "four eyes" in page.inner_text("main")
    assert page.locator("#decision-K-00 option[value=approve]").is_disabled()
    screenshot(page, "calibration-review")

    reviewer = page_for("second", "browser pass 123")
    reviewer.goto(page.url)
    reviewer.locator("summary", has_text="K-00").click()
    assert reviewer.locator("#item-K-00 + tr svg.chart").is_visible()
    reviewer.select_option("#decision-K-00", "approve")
    reviewer.fill("#reason-K-00", "fit and information are fine")
    with reviewer.expect_navigation():
        reviewer.locator("#item-K-00").get_by_role("button", name="Record").click()
    assert "K-00: Approve recorded." in reviewer.inner_text(".flashes")
    screenshot(reviewer, "calibration-approved")

    with live_app.app_context():
        item = bank_services.find_item("K-00")
        approved = item.approved_parameters
        assert approved is not None and approved.status is ParameterStatus.APPROVED
        assert approved.decision_reason == "fit and information are fine"
        # 20,000 simulated persons: the estimate is within 0.1 of the truth (SE ~0.02)
        assert abs(approved.b[0] - float(TRUTH.b[0, 0])) < 0.1
        assert db.session.get(type(approved), approved.id).proposed_by_id != approved.approved_by_id
    assert np.isfinite(approved.a)


def test_review_compares_with_the_bank_and_decides_in_bulk(live_app, live_server, page_for):
    from assessment.auth.models import User
    from assessment.calibration import services as calibration

    with live_app.app_context():
        users = {
            name: account_services.create_user(
                username=name,
                full_name=f"{name.title()} Browser",
                role=Role.PSYCHOMETRICIAN,
                password="browser pass 123",
            )
            for name in ("psychometrician", "second")
        }
        bank_services.import_items(_bank_specs(), actor=None, source="browser test")
        author, second = (db.session.get(User, users[n].id) for n in ("psychometrician", "second"))
        for j, code in enumerate(TRUTH.item_ids[:8]):  # bank values for eight items; K-03's has drifted
            proposal = bank_services.propose_parameters(
                bank_services.find_item(code),
                model="2pl",
                a=float(TRUTH.a[j]),
                b=[float(TRUTH.b[j, 0]) + (1.5 if code == "K-03" else 0.0)],
                provenance={"source": "bank"},
                actor=author,
            )
            bank_services.approve_parameters(proposal, actor=second)
        dataset = calibration.import_responses(_csv(n=3000, seed=5), "pilot.csv", name="Pilot", actor=author)
        run = calibration.start_run(
            dataset, actor=author, knowledge_model="2pl", sjt_model="grm", linking="stocking_lord"
        )
        assert calibration.execute_run(run.id).value == "succeeded"
        run_id = run.id

    reviewer = page_for("second", "browser pass 123")
    reviewer.goto(f"{live_server.url}/calibration/runs/{run_id}")
    comparison = reviewer.locator("#comparison")
    assert comparison.locator("svg.scatter").count() == 2
    assert comparison.locator("svg.scatter line.identity").count() == 2
    assert reviewer.locator("#difference-K-03.flagged").is_visible()
    reviewer.locator("summary", has_text="K-01").click()
    assert reviewer.locator("#item-K-01 + tr svg.chart").count() == 2  # curves and the overlay on the bank's
    screenshot(reviewer, "calibration-comparison")
    comparison.screenshot(path=str(screenshot_path("calibration-comparison-plots")))

    reviewer.get_by_role("button", name="Select all unflagged").click()
    boxes = reviewer.locator('input[name="items"][form="bulk-decisions"]')
    ticked = [boxes.nth(n).get_attribute("value") for n in range(boxes.count()) if boxes.nth(n).is_checked()]
    assert ticked and "K-03" not in ticked
    assert reviewer.inner_text("#bulk-count") == f"{len(ticked)} / {boxes.count()}"
    reviewer.select_option("#bulk-decision", "approve")
    reviewer.fill("#bulk-reason", "fit, DIF and drift checks are clean")
    with reviewer.expect_navigation():
        reviewer.get_by_role("button", name="Apply to the ticked items").click()
    assert f"recorded for {len(ticked)} items" in reviewer.inner_text(".flashes")
    screenshot(reviewer, "calibration-bulk-approved")
    with live_app.app_context():
        for code in ticked:
            assert bank_services.find_item(code).approved_parameters.decision_reason == (
                "fit, DIF and drift checks are clean"
            )
        assert bank_services.find_item("K-03").parameter_sets[-1].status is ParameterStatus.PROPOSED
