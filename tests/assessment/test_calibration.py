"""Calibration runs: response data in, reviewed estimates out, four-eyes decisions; nothing half-written."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from assessment.audit.models import AuditEvent
from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.bank import services as bank_services
from assessment.bank.models import ItemStatus, ParameterSet, ParameterStatus
from assessment.calibration import jobs, services
from assessment.calibration.models import CalibrationRun, ResponseDataset, RunStatus
from assessment.extensions import db
from item_bank.irt.models import ItemParameters, simulate_responses
from item_bank.items import ItemSpec, LanguageVersion
from tests.assessment.conftest import PASSWORD, REDIS_URL, sign_in

N_KNOWLEDGE, N_SJT = 12, 3


def _truth() -> ItemParameters:
    rng = np.random.default_rng(7)
    k = N_KNOWLEDGE
    b = np.full((k + N_SJT, 4), np.nan)
    b[:k, 0] = np.linspace(-1.5, 1.5, k)
    # most/least items score 0..2: two ordered thresholds each
    b[k:, :2] = np.sort(rng.normal(0, 1, (N_SJT, 2)), axis=1) + np.array([-0.5, 0.5])
    codes = [f"K-{i:02d}" for i in range(k)] + [f"S-{i:02d}" for i in range(N_SJT)]
    return ItemParameters.from_arrays(
        codes, ["2pl"] * k + ["grm"] * N_SJT, np.r_[rng.uniform(0.8, 2.0, k), rng.uniform(1.0, 2.0, N_SJT)], b
    )


TRUTH = _truth()


def _bank_specs() -> list[ItemSpec]:
    options = ("a", "b", "c", "d")
    specs = []
    for code in TRUTH.item_ids:
        if code.startswith("K"):
            specs.append(
                ItemSpec(
                    code,
                    "single_best",
                    {"en": LanguageVersion("Q?", options)},
                    {"correct": 0},
                    status="pretest",
                    domain="civil",
                )
            )
        else:
            specs.append(
                ItemSpec(
                    code,
                    "sjt_most_least",
                    {"en": LanguageVersion("Q?", options)},
                    {"most": 0, "least": 1},
                    status="pretest",
                    competence="integrity",
                )
            )
    return specs


def _csv(n: int = 1500, seed: int = 3, *, groups: bool = True, missing: float = 0.0) -> bytes:
    rng = np.random.default_rng(seed)
    x = simulate_responses(TRUTH, rng.normal(0, 1, n), rng, missing_rate=missing)
    header = ["person_id", *TRUTH.item_ids] + (["language"] if groups else [])
    lines = [",".join(header)]
    for i, row in enumerate(x):
        cells = (
            [f"P{i}"] + ["" if v < 0 else str(v) for v in row] + (["ru" if i % 2 else "kk"] if groups else [])
        )
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def bank(app, users):
    with app.app_context():
        account_services.create_user(
            username="second", full_name="Second", role=Role.PSYCHOMETRICIAN, password=PASSWORD
        )
        bank_services.import_items(_bank_specs(), actor=None, source="test bank")
    return app


def _user(name):
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def _dataset(app, raw=None, name="pilot") -> int:
    with app.app_context():
        return services.import_responses(
            raw or _csv(), "pilot.csv", name=name, actor=_user("psychometrician")
        ).id


def _run(app, dataset_id, linking="none", **kwargs) -> int:
    with app.app_context():
        dataset = db.session.get(ResponseDataset, dataset_id)
        run = services.start_run(
            dataset,
            actor=_user("psychometrician"),
            knowledge_model="2pl",
            sjt_model="grm",
            linking=linking,
            **kwargs,
        )
        return run.id


def test_uploaded_responses_are_stored_with_their_groups(bank):
    dataset_id = _dataset(bank)
    with bank.app_context():
        dataset = db.session.get(ResponseDataset, dataset_id)
        matrix = services.unpack(dataset)
        assert dataset.n_persons == 1500 and dataset.group_label == "language"
        assert matrix.item_codes == list(TRUTH.item_ids)
        assert sorted(set(matrix.groups.tolist())) == ["kk", "ru"]
        assert matrix.responses.min() >= 0 and matrix.responses[:, -1].max() <= 2


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda t: t.replace("K-03", "K-99", 1), "column 'K-99': no item with this code in the bank"),
        (lambda t: t.replace("\nP5,", "\nP5,x", 1), "row 7"),
        (
            lambda t: "\n".join(line + (",3" if i else ",S-09") for i, line in enumerate(t.splitlines())),
            "no item with this code",
        ),
        (lambda t: t.replace(",1,", ",7,", 1), "above the item's highest score"),
    ],
)
def test_bad_response_files_are_refused_whole(bank, mutate, expected):
    raw = mutate(_csv(n=40).decode()).encode()
    with bank.app_context(), pytest.raises(services.CalibrationError) as excinfo:
        services.import_responses(raw, "bad.csv", name="bad", actor=None)
    assert any(expected in p and "bad.csv" in p for p in excinfo.value.problems), excinfo.value.problems
    with bank.app_context():
        assert db.session.execute(db.select(ResponseDataset)).first() is None


def test_a_run_recovers_the_parameters_and_proposes_them(bank):
    run_id = _run(bank, _dataset(bank))
    with bank.app_context():
        assert services.execute_run(run_id) is RunStatus.SUCCEEDED
        run = db.session.get(CalibrationRun, run_id)
        summary, rows = run.result["summary"], run.result["items"]
        assert summary["converged"] and summary["n_persons"] == 1500
        estimates = {r["item_id"]: r for r in rows}
        # 1,500 persons: SE(b) of a mid-difficulty item is ~0.07; 0.25 is ~3.5 SE
        for j, code in enumerate(TRUTH.item_ids[:N_KNOWLEDGE]):
            assert estimates[code]["b"][0] == pytest.approx(TRUTH.b[j, 0], abs=0.25), code
        assert estimates["S-00"]["model"] == "grm" and len(estimates["S-00"]["b"]) == 2
        assert summary["dif_groups"] == {"reference": "kk", "focal": "ru"}
        sets = db.session.execute(db.select(ParameterSet)).scalars().all()
        assert len(sets) == len(TRUTH.item_ids)
        assert {p.status for p in sets} == {ParameterStatus.PROPOSED}
        assert (
            sets[0].provenance["run"] == run_id and sets[0].provenance["dataset_sha256"] == run.dataset.sha256
        )


def test_anchored_run_puts_new_items_on_the_bank_scale(bank):
    # Approve bank values for the first eight knowledge items: on a scale shifted by +1 from the truth.
    with bank.app_context():
        author, second = _user("psychometrician"), _user("second")
        for j, code in enumerate(TRUTH.item_ids[:8]):
            item = bank_services.find_item(code)
            p = bank_services.propose_parameters(
                item,
                model="2pl",
                a=float(TRUTH.a[j]),
                b=[TRUTH.b[j, 0] + 1.0],
                provenance={"source": "bank"},
                actor=author,
            )
            bank_services.approve_parameters(p, actor=second)
    run_id = _run(bank, _dataset(bank), linking="anchors")
    with bank.app_context():
        assert services.execute_run(run_id) is RunStatus.SUCCEEDED
        run = db.session.get(CalibrationRun, run_id)
        rows = {r["item_id"]: r for r in run.result["items"]}
        assert rows["K-00"]["anchored"] and "parameter_set" not in rows["K-00"]
        # the new items move by the same +1 as the anchors, and so do the persons (mean 0 -> +1)
        for j in range(8, N_KNOWLEDGE):
            code = TRUTH.item_ids[j]
            assert rows[code]["b"][0] == pytest.approx(TRUTH.b[j, 0] + 1.0, abs=0.3), code
        assert run.result["summary"]["latent_mean"] == pytest.approx(1.0, abs=0.15)
    second = bank.test_client()
    sign_in(second, "second")
    page = second.get(f"/calibration/runs/{run_id}").get_data(as_text=True)
    # anchors equal the bank by construction: overlays and the difference table, but no scatter to read
    assert 'id="comparison"' in page and 'class="chart scatter"' not in page
    assert page.count("new and bank expected score</title>") == 8


def test_anchoring_without_bank_values_is_refused_before_it_starts(bank):
    dataset_id = _dataset(bank)
    with pytest.raises(services.CalibrationError, match="choose 'none' for a first calibration"):
        _run(bank, dataset_id, linking="anchors")


def test_failed_run_writes_no_parameters(bank):
    run_id = _run(bank, _dataset(bank))
    with bank.app_context():
        # the bank changes between queueing and running: an item of the run is gone
        db.session.delete(bank_services.find_item("K-05"))
        db.session.commit()
        assert services.execute_run(run_id) is RunStatus.FAILED
        run = db.session.get(CalibrationRun, run_id)
        assert "no longer in the bank" in run.error
        assert db.session.execute(db.select(ParameterSet)).first() is None


def test_cancelled_run_keeps_nothing(bank, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_EVERY", 0.0)
    run_id = _run(bank, _dataset(bank), tol=1e-9, max_iter=400)
    with bank.app_context():
        db.session.get(CalibrationRun, run_id).cancel_requested = True
        db.session.commit()
        assert services.execute_run(run_id) is RunStatus.CANCELLED
        assert db.session.execute(db.select(ParameterSet)).first() is None


def test_run_is_claimed_once(bank):
    run_id = _run(bank, _dataset(bank))
    with bank.app_context():
        assert services.execute_run(run_id) is RunStatus.SUCCEEDED
        assert services.execute_run(run_id) is RunStatus.SUCCEEDED  # second call finds it done, does nothing
        assert db.session.execute(db.select(db.func.count()).select_from(ParameterSet)).scalar_one() == 15


def test_decisions_need_four_eyes_to_approve(bank):
    run_id = _run(bank, _dataset(bank))
    with bank.app_context():
        services.execute_run(run_id)
        run = db.session.get(CalibrationRun, run_id)
        with pytest.raises(services.CalibrationError, match="cannot approve it"):
            services.decide(run, "K-00", "approve", actor=_user("psychometrician"), reason="mine")
        services.decide(run, "K-00", "approve", actor=_user("second"), reason="fit fine")
        services.decide(run, "K-01", "keep_pretesting", actor=_user("psychometrician"), reason="small N")
        services.decide(run, "K-02", "retire", actor=_user("second"), reason="misfit")
        k0, k1, k2 = (bank_services.find_item(c) for c in ("K-00", "K-01", "K-02"))
        assert k0.approved_parameters is not None and k0.status is ItemStatus.OPERATIONAL
        assert k1.approved_parameters is None and k1.status is ItemStatus.PRETEST
        assert k2.status is ItemStatus.RETIRED
        actions = db.session.execute(db.select(AuditEvent.action)).scalars().all()
        assert {"calibration.run_started", "calibration.run_finished", "bank.parameters_approved"} <= set(
            actions
        )


def test_the_thread_executor_runs_in_the_background(make_app, bank):
    app = make_app(REDIS_URL=None)
    run_id = _run(app, _dataset(app))
    with app.app_context():
        assert jobs.submit(db.session.get(CalibrationRun, run_id)) == "thread"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with app.app_context():
            status = db.session.get(CalibrationRun, run_id).status
        if status.finished:
            break
        time.sleep(0.2)
    assert status is RunStatus.SUCCEEDED


@pytest.mark.skipif(not REDIS_URL, reason="needs TEST_REDIS_URL (CI sets it)")
def test_the_rq_executor_runs_the_job_on_a_worker(bank):
    from rq import Queue, SimpleWorker

    from assessment.extensions import redis_store

    run_id = _run(bank, _dataset(bank))
    with bank.app_context():
        assert jobs.submit(db.session.get(CalibrationRun, run_id)) == "rq"
        connection = redis_store.client_for(bank)
        worker = SimpleWorker([Queue(jobs.QUEUE, connection=connection)], connection=connection)
        assert worker.work(burst=True)
        db.session.expire_all()
        assert db.session.get(CalibrationRun, run_id).status is RunStatus.SUCCEEDED


def test_review_page_shows_estimates_plots_and_decisions(bank):
    run_id = _run(bank, _dataset(bank))
    with bank.app_context():
        services.execute_run(run_id)
    second = bank.test_client()
    sign_in(second, "second")
    page = second.get(f"/calibration/runs/{run_id}").get_data(as_text=True)
    assert page.count("<svg") == 3 + len(TRUTH.item_ids)
    assert "Item characteristic curves of K-00" in page and "S-X²" in page
    response = second.post(
        f"/calibration/runs/{run_id}/decisions",
        data={"item": "K-03", "decision": "approve", "reason": "good"},
    )
    assert response.status_code == 302
    with bank.app_context():
        assert bank_services.find_item("K-03").approved_parameters is not None


def test_upload_and_start_through_the_pages(make_app, bank):
    app = make_app(REDIS_URL=None)
    client = app.test_client()
    sign_in(client, "psychometrician")
    response = client.post(
        "/calibration/datasets",
        data={"name": "pilot", "file": (io.BytesIO(_csv(n=600)), "p.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with app.app_context():
        dataset_id = db.session.execute(db.select(ResponseDataset.id)).scalar_one()
    response = client.post(
        "/calibration/runs",
        data={
            "dataset": dataset_id,
            "knowledge_model": "2pl",
            "sjt_model": "grm",
            "linking": "none",
            "max_iter": 200,
        },
    )
    assert response.status_code == 302
    run_url = response.headers["Location"]
    deadline = time.monotonic() + 60
    while not client.get(run_url + "/progress").get_json()["finished"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get(run_url + "/progress").get_json()["status"] == "succeeded"
    bad = client.post(
        "/calibration/datasets",
        data={"file": (io.BytesIO(b"person_id,K-00\nP1,5\n"), "b.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "above the item&#39;s highest score" in bad.get_data(as_text=True)


def test_responses_collected_in_exam_sessions_become_a_dataset(app, users):
    from assessment.delivery import services as delivery
    from assessment.delivery.models import Attempt
    from tests.assessment.test_delivery import T0, TOKEN, _begin, _save, make_sitting

    attempt_id = make_sitting(app)
    with app.app_context():
        _begin(attempt_id)
        _save(attempt_id, "K-00", 0)  # correct (the test bank's keys are option 0)
        _save(attempt_id, "K-01", 2, seq=2)  # wrong
        delivery.finish_section(db.session.get(Attempt, attempt_id), 0, client_token=TOKEN, now=T0)
        session_id = db.session.get(Attempt, attempt_id).registration.session_id
        dataset = services.dataset_from_sessions([session_id], name="Room 1", actor=_user("psychometrician"))
        matrix = services.unpack(dataset)
        scores = dict(zip(matrix.item_codes, matrix.responses[0].tolist(), strict=True))
        assert scores == {"K-00": 1, "K-01": 0, "K-02": 0, "K-03": 0, "K-04": 0, "K-05": 0}
        assert matrix.groups.tolist() == ["ru"] and dataset.group_label == "language"
        with pytest.raises(services.CalibrationError, match="at least one exam session"):
            services.dataset_from_sessions([], name="", actor=None)


def test_long_format_files_are_read_like_wide_ones(bank):
    wide = _csv(n=30).decode().splitlines()
    header = wide[0].split(",")
    long_lines = ["person_id,item_id,response,language"]
    for line in wide[1:]:
        cells = line.split(",")
        for code, value in zip(header[1:-1], cells[1:-1], strict=True):
            if value:
                long_lines.append(f"{cells[0]},{code},{value},{cells[-1]}")
    with bank.app_context():
        a = services.unpack(services.import_responses(_csv(n=30), "wide.csv", name="w", actor=None))
        b = services.unpack(
            services.import_responses(
                ("\n".join(long_lines) + "\n").encode(), "long.csv", name="l", actor=None
            )
        )
        assert a.item_codes == b.item_codes and (a.responses == b.responses).all()
        assert a.groups.tolist() == b.groups.tolist()
        twice = b"person_id,item_id,response\nP1,K-00,1\nP1,K-00,0\n"
        with pytest.raises(services.CalibrationError, match="row 3: person 'P1' answers item 'K-00' twice"):
            services.import_responses(twice, "dup.csv", name="d", actor=None)


def test_the_json_api_runs_a_calibration_and_records_decisions(make_app, bank):
    app = make_app(REDIS_URL=None)
    author, second = app.test_client(), app.test_client()
    sign_in(author, "psychometrician")
    sign_in(second, "second")
    uploaded = author.post(
        "/api/v1/calibration/datasets",
        data={"file": (io.BytesIO(_csv(n=800)), "p.csv")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201 and uploaded.get_json()["n_persons"] == 800
    bad = author.post(
        "/api/v1/calibration/runs", json={"dataset": uploaded.get_json()["id"], "linking": "anchors"}
    )
    assert bad.status_code == 422 and "choose 'none'" in bad.get_json()["errors"]["problems"][0]
    started = author.post(
        "/api/v1/calibration/runs", json={"dataset": uploaded.get_json()["id"], "linking": "none"}
    )
    assert started.status_code == 202
    run_url = f"/api/v1/calibration/runs/{started.get_json()['id']}"
    deadline = time.monotonic() + 60
    while author.get(run_url).get_json()["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    run = author.get(run_url).get_json()
    assert run["status"] == "succeeded" and len(run["result"]["items"]) == len(TRUTH.item_ids)
    refused = author.post(run_url + "/decisions", json={"item": "K-00", "decision": "approve"})
    assert refused.status_code == 422
    assert (
        second.post(
            run_url + "/decisions", json={"item": "K-00", "decision": "approve", "reason": "fine"}
        ).status_code
        == 200
    )
    with app.app_context():
        assert bank_services.find_item("K-00").approved_parameters is not None


# Comparison with the bank, likelihood-ratio DIF and bulk decisions on the review page


def _approve_bank_values(app, codes, shift=1.0, off=None):
    """Approved bank values of ``codes``: the truth moved by ``shift``, and ``off`` = {code: extra b}."""
    off = off or {}
    with app.app_context():
        author, second = _user("psychometrician"), _user("second")
        for code in codes:
            j = TRUTH.index(code)
            p = bank_services.propose_parameters(
                bank_services.find_item(code),
                model="2pl",
                a=float(TRUTH.a[j]),
                b=[float(TRUTH.b[j, 0]) + shift + off.get(code, 0.0)],
                provenance={"source": "bank"},
                actor=author,
            )
            bank_services.approve_parameters(p, actor=second)


def test_review_compares_new_estimates_with_the_bank(bank):
    common = list(TRUTH.item_ids[:8])
    _approve_bank_values(bank, common, off={"K-03": 1.5})  # K-03's bank value has drifted
    run_id = _run(bank, _dataset(bank), linking="stocking_lord", lr_dif=False)
    with bank.app_context():
        assert services.execute_run(run_id) is RunStatus.SUCCEEDED
    second = bank.test_client()
    sign_in(second, "second")
    page = second.get(f"/calibration/runs/{run_id}").get_data(as_text=True)
    assert 'id="comparison"' in page
    assert page.count('class="chart scatter"') == 2  # b and a against the bank, with the identity line
    assert page.count('class="identity"') == 2
    # one expected-score overlay per common item, none for the new items
    for code in common:
        assert f"{code}: new and bank expected score" in page
    assert "K-10: new and bank expected score" not in page
    assert page.count('class="point highlighted"') >= 1  # K-03's drift is drawn as a filled square
    assert 'id="difference-K-03" class="flagged"' in page
    api = second.get(f"/api/v1/calibration/runs/{run_id}").get_json()
    rows = {r["item_id"]: r for r in api["comparison"]["items"]}
    assert sorted(rows) == common and rows["K-03"]["drift"]
    assert rows["K-03"]["d_b"][0] < -1.0  # the run puts K-03 ~1.5 below its (wrong) bank value
    assert api["comparison"]["b"]["n"] == 8
    listing = second.get("/api/v1/calibration/runs").get_json()
    assert "comparison" not in listing[0]


def test_review_without_bank_values_has_no_comparison(bank):
    run_id = _run(bank, _dataset(bank, _csv(n=400)), lr_dif=False, max_iter=100)
    with bank.app_context():
        services.execute_run(run_id)
    second = bank.test_client()
    sign_in(second, "second")
    page = second.get(f"/calibration/runs/{run_id}").get_data(as_text=True)
    assert 'id="comparison"' not in page and "scatter" not in page
    assert second.get(f"/api/v1/calibration/runs/{run_id}").get_json()["comparison"]["items"] == []


def _dif_csv(n: int = 2000, seed: int = 9) -> bytes:
    """Responses in which K-05 is 1.2 logits harder for the "ru" group (DIF) and every other item is fair."""
    from item_bank.irt.linking import transform_parameters

    rng = np.random.default_rng(seed)
    x = simulate_responses(TRUTH, rng.normal(0, 1, n), rng)
    ru = np.arange(n) % 2 == 1
    hard = transform_parameters(TRUTH.subset(["K-05"]), 1.0, 1.2)
    x[ru, TRUTH.index("K-05")] = simulate_responses(hard, rng.normal(0, 1, ru.sum()), rng)[:, 0]
    lines = [",".join(["person_id", *TRUTH.item_ids, "language"])]
    for i, row in enumerate(x):
        lines.append(",".join([f"P{i}", *(str(v) for v in row), "ru" if ru[i] else "kk"]))
    return ("\n".join(lines) + "\n").encode()


def test_likelihood_ratio_dif_is_shown_next_to_mantel_haenszel(bank):
    run_id = _run(bank, _dataset(bank, _dif_csv()))
    with bank.app_context():
        assert services.execute_run(run_id) is RunStatus.SUCCEEDED
        run = db.session.get(CalibrationRun, run_id)
        rows = {r["item_id"]: r for r in run.result["items"]}
        assert run.settings["lr_dif"] is True
        lr = rows["K-05"]["lr_dif"]
        assert lr["flagged"] and lr["df"] == 2 and lr["p_adjusted"] < 1e-4 and lr["chi2"] > 20
        assert rows["K-05"]["dif"].startswith(("B", "C"))  # Mantel-Haenszel agrees
        assert rows["S-00"]["lr_dif"]["df"] == 3  # GRM with two thresholds: a, b1, b2 freed
        assert sum(r["lr_dif"]["flagged"] for c, r in rows.items() if c != "K-05") <= 1
        summary = run.result["summary"]["lr_dif"]
        assert summary["groups"] == ["kk", "ru"] and "K-05" in summary["flagged"]
        assert run.progress["phase"] == "lr_dif" and run.progress["phase_done"] == len(TRUTH.item_ids)
        # the progress box keeps the main calibration's figures, not those of the last LR DIF fit
        assert run.progress["iteration"] == run.result["summary"]["iterations"]
    second = bank.test_client()
    sign_in(second, "second")
    page = second.get(f"/calibration/runs/{run_id}").get_data(as_text=True)
    assert "LR DIF" in page and 'id="lr-dif-summary"' in page
    row = page[page.index('id="item-K-05"') :]
    row = row[: row.index("</tr>")]
    assert "χ²" in row and "flagged" in row and "LR DIF (chi2" in row
    api = second.get(f"/api/v1/calibration/runs/{run_id}").get_json()
    k05 = next(r for r in api["result"]["items"] if r["item_id"] == "K-05")
    assert k05["lr_dif"]["flagged"] is True and set(k05["lr_dif"]) == {
        "chi2",
        "df",
        "p",
        "p_adjusted",
        "flagged",
    }


def test_a_run_without_lr_dif_reports_only_mantel_haenszel(bank):
    run_id = _run(bank, _dataset(bank, _csv(n=400)), lr_dif=False, max_iter=100)
    with bank.app_context():
        services.execute_run(run_id)
        run = db.session.get(CalibrationRun, run_id)
        assert all(r["lr_dif"] is None for r in run.result["items"])
        assert run.result["summary"]["lr_dif"] is None
        assert run.result["items"][0]["dif"] is not None


@pytest.fixture
def reviewed(bank):
    run_id = _run(bank, _dataset(bank, _csv(n=600)), lr_dif=False, max_iter=200)
    with bank.app_context():
        services.execute_run(run_id)
    return run_id


def _statuses(app, codes):
    with app.app_context():
        out = {}
        for code in codes:
            item = bank_services.find_item(code)
            proposal = item.parameter_sets[-1]
            out[code] = (item.status.value, proposal.status.value)
        return out


def test_bulk_approval_needs_the_second_psychometrician_and_is_audited_per_item(bank, reviewed):
    codes = ["K-00", "K-01", "S-00"]
    with bank.app_context():
        run = db.session.get(CalibrationRun, reviewed)
        with pytest.raises(services.CalibrationError) as excinfo:
            services.decide_many(run, codes, "approve", actor=_user("psychometrician"), reason="fine")
        assert len(excinfo.value.problems) == 3 and all("four eyes" in p for p in excinfo.value.problems)
    assert set(_statuses(bank, codes).values()) == {("pretest", "proposed")}
    with bank.app_context():
        run = db.session.get(CalibrationRun, reviewed)
        done = services.decide_many(run, codes, "approve", actor=_user("second"), reason="fit is fine")
        assert done == codes
        events = (
            db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "calibration.decision"))
            .scalars()
            .all()
        )
        assert len(events) == 3
        assert {e.details["reason"] for e in events} == {"fit is fine"}
        assert {e.details["batch"] for e in events} == {3} and {e.actor_username for e in events} == {
            "second"
        }
        approvals = (
            db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "bank.parameters_approved"))
            .scalars()
            .all()
        )
        assert len(approvals) == 3
    assert set(_statuses(bank, codes).values()) == {("operational", "approved")}


def test_bulk_decision_changes_nothing_when_one_item_cannot_take_it(bank, reviewed):
    with bank.app_context():
        run = db.session.get(CalibrationRun, reviewed)
        services.decide(run, "K-00", "approve", actor=_user("second"), reason="fine")
        with pytest.raises(services.CalibrationError) as excinfo:
            services.decide_many(
                run, ["K-02", "K-00", "X-99"], "keep_pretesting", actor=_user("second"), reason="more data"
            )
        problems = excinfo.value.problems
        assert any("'K-00'" in p and "approved, not proposed" in p for p in problems)
        assert any("'X-99'" in p and "no proposal in run" in p for p in problems)
        assert not any("'K-02'" in p for p in problems)
    assert _statuses(bank, ["K-02", "K-00"]) == {
        "K-02": ("pretest", "proposed"),
        "K-00": ("operational", "approved"),
    }
    with bank.app_context():
        run = db.session.get(CalibrationRun, reviewed)
        services.decide_many(run, ["K-02", "K-04"], "retire", actor=_user("psychometrician"), reason="misfit")
    assert _statuses(bank, ["K-02", "K-04"]) == {
        "K-02": ("retired", "rejected"),
        "K-04": ("retired", "rejected"),
    }


def test_bulk_decisions_through_the_page(bank, reviewed):
    author = bank.test_client()
    sign_in(author, "psychometrician")
    page = author.get(f"/calibration/runs/{reviewed}").get_data(as_text=True)
    assert 'id="bulk-decisions"' in page
    assert page.count('form="bulk-decisions"') == len(TRUTH.item_ids)
    assert "Select all flagged" in page and "Select all unflagged" in page
    url = f"/calibration/runs/{reviewed}/decisions/bulk"
    no_reason = author.post(
        url, data={"items": ["K-01", "K-02"], "decision": "keep_pretesting", "reason": ""}
    )
    assert no_reason.status_code == 302
    assert _statuses(bank, ["K-01"]) == {"K-01": ("pretest", "proposed")}
    refused = author.post(
        url, data={"items": ["K-01"], "decision": "approve", "reason": "mine"}, follow_redirects=True
    )
    assert "Nothing was changed" in refused.get_data(as_text=True)
    ok = author.post(
        url,
        data={"items": ["K-01", "K-02"], "decision": "keep_pretesting", "reason": "small N"},
        follow_redirects=True,
    )
    assert "recorded for 2 items: K-01, K-02" in ok.get_data(as_text=True)
    assert _statuses(bank, ["K-01", "K-02"]) == {
        "K-01": ("pretest", "rejected"),
        "K-02": ("pretest", "rejected"),
    }
    page = author.get(f"/calibration/runs/{reviewed}").get_data(as_text=True)
    assert page.count('form="bulk-decisions"') == len(TRUTH.item_ids) - 2  # decided rows lose their box


def test_bulk_decisions_through_the_json_api(bank, reviewed):
    second = bank.test_client()
    sign_in(second, "second")
    url = f"/api/v1/calibration/runs/{reviewed}/decisions/bulk"
    missing = second.post(url, json={"items": ["K-00"], "decision": "approve"})
    assert missing.status_code == 422 and "reason" in missing.get_json()["errors"]["json"]
    bad = second.post(url, json={"items": ["K-00", "NOPE"], "decision": "approve", "reason": "ok"})
    assert bad.status_code == 422
    assert bad.get_json()["errors"]["problems"] == [f"item 'NOPE' has no proposal in run {reviewed}"]
    assert _statuses(bank, ["K-00"]) == {"K-00": ("pretest", "proposed")}
    ok = second.post(url, json={"items": ["K-00", "K-01"], "decision": "approve", "reason": "ok"})
    assert ok.status_code == 200 and ok.get_json() == {
        "decision": "approve",
        "reason": "ok",
        "items": ["K-00", "K-01"],
    }
    assert _statuses(bank, ["K-00", "K-01"]) == {
        "K-00": ("operational", "approved"),
        "K-01": ("operational", "approved"),
    }
