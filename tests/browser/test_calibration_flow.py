"""A psychometrician runs a calibration (progress and plots on screen); a second one approves it."""

from __future__ import annotations

import numpy as np

from assessment.auth import services as account_services
from assessment.auth.models import Role
from assessment.bank import services as bank_services
from assessment.bank.models import ParameterStatus
from assessment.extensions import db
from tests.assessment.test_calibration import TRUTH, _bank_specs, _csv
from tests.browser.conftest import screenshot


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
