"""Design simulation: reliability against the truth, exposure, conformity, Sympson-Hetter calibration, CLI."""

import json
import re

import numpy as np
import pytest

from item_bank.__main__ import main
from item_bank.assembly import (
    AssemblyError,
    Blueprint,
    CATDesign,
    ItemPool,
    SectionDesign,
    calibrate_sympson_hetter,
    enemy_map,
    format_report,
    load_design,
    simulate_design,
)
from item_bank.formats.params_csv import write_params
from item_bank.irt.models import random_item_parameters

CATEGORIES = ("civil", "criminal", "ethics")


@pytest.fixture(scope="module")
def bank():
    rng = np.random.default_rng(20)
    params = random_item_parameters(240, "2pl", rng)
    categories = {item: CATEGORIES[j % 3] for j, item in enumerate(params.item_ids)}
    ids = params.item_ids
    enemies = enemy_map([[ids[3 * k], ids[3 * k + 1]] for k in range(20)] + [["P1", ids[5]]])
    return ItemPool(params, categories, enemies, pretest_ids=("P1", "P2", "P3"))


# Tolerance of the reliability check: with 2000 candidates and a reliability near 0.9 the sampling SD of the
# squared correlation is about 0.005, and both figures estimate var(E[theta | x]) / var(theta) (EAP scores
# under the generating prior), so 0.025 is five SDs.
RELIABILITY_TOLERANCE = 0.025


@pytest.mark.parametrize(
    "section",
    [
        SectionDesign(
            mode="cat",
            cat=CATDesign(
                blueprint=Blueprint({"civil": 2, "criminal": 2, "ethics": 1}),
                selection="randomesque",
                stop={"target_se": 0.32, "max_length": 30},
            ),
        ),
        SectionDesign(
            mode="loft", blueprint=Blueprint({"civil": 10, "criminal": 10, "ethics": 10}, n_pretest=1)
        ),
    ],
    ids=["cat", "loft"],
)
def test_reliability_agrees_with_the_squared_correlation_with_true_theta(bank, section):
    report = simulate_design(bank, section, 2000 if section.mode == "cat" else 600, np.random.default_rng(21))
    tolerance = RELIABILITY_TOLERANCE if section.mode == "cat" else 2 * RELIABILITY_TOLERANCE
    assert report.reliability == pytest.approx(report.correlation**2, abs=tolerance)
    assert report.reliability > 0.8
    assert report.rmse == pytest.approx(report.mean_se, rel=0.15)  # posterior SDs are honest
    assert report.conformity == 1.0


def test_loft_simulation_spreads_exposure_and_meets_the_blueprint(bank):
    section = SectionDesign(
        mode="loft", blueprint=Blueprint({"civil": 5, "criminal": 5, "ethics": 5}, (-2.0, 2.0))
    )
    report = simulate_design(bank, section, 300, np.random.default_rng(22))
    assert report.conformity == 1.0
    assert np.all(report.length == 15)
    eligible = section.blueprint.eligible(bank)
    assert np.all(report.exposure[~eligible] == 0)
    # 15 of about 230 eligible items per form: about 0.065 each when spread evenly.
    assert report.max_exposure < 0.15 and report.share_over_target == 0.0


def test_fixed_form_simulation_reports_exposure_one_and_a_u_shaped_se(bank):
    items = bank.item_ids[-25:]  # no enemies among them
    report = simulate_design(
        bank, SectionDesign(mode="fixed", items=items, name="F"), 1000, np.random.default_rng(23)
    )
    on_form = np.isin(np.array(bank.item_ids), items)
    assert np.all(report.exposure[on_form] == 1.0) and np.all(report.exposure[~on_form] == 0.0)
    assert report.share_unused == pytest.approx(1 - 25 / 240)
    se = report.se_by_decile
    assert se.shape == (10,) and se[0] > se[4] and se[9] > se[5]
    assert report.conformity is None and report.stop_reasons == {}


def test_cat_report_counts_lengths_and_stop_reasons(bank):
    design = CATDesign(stop={"target_se": 0.35, "max_length": 12, "min_length": 4})
    report = simulate_design(bank, design, 400, np.random.default_rng(24))
    assert sum(report.stop_reasons.values()) == 400
    assert set(report.stop_reasons) <= {"target_se", "max_length"}
    assert report.length.min() >= 4 and report.length.max() <= 12
    assert report.stop_reasons.get("max_length", 0) == int(np.sum(report.se > 0.35))
    text = format_report(report)
    assert "mean SE" in text and "stopped" in text
    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["n_candidates"] == 400 and len(summary["se_by_decile"]) == 10


def test_simulation_is_reproducible_from_the_seed(bank):
    design = CATDesign(selection="randomesque", stop={"target_se": 0.4, "max_length": 10})
    one = simulate_design(bank, design, 200, np.random.default_rng(25))
    two = simulate_design(bank, design, 200, np.random.default_rng(25))
    np.testing.assert_array_equal(one.theta_hat, two.theta_hat)
    np.testing.assert_array_equal(one.exposure, two.exposure)


def test_a_custom_ability_distribution_is_used(bank):
    design = CATDesign(stop={"target_se": 0.4, "max_length": 10})
    report = simulate_design(
        bank, design, 300, np.random.default_rng(26), lambda rng, n: rng.normal(1.0, 0.5, n)
    )
    assert report.theta.mean() == pytest.approx(1.0, abs=0.1)


def test_sympson_hetter_calibration_brings_exposure_towards_the_target(bank):
    design = CATDesign(stop={"target_se": 0.35, "max_length": 15})
    result = calibrate_sympson_hetter(bank, design, 0.25, 400, np.random.default_rng(27), iterations=5)
    assert result.k.shape == (bank.n_items,) and np.all((result.k > 0) & (result.k <= 1))
    assert result.max_exposure[0] > 0.9 and result.max_exposure[-1] < 0.4
    assert np.sum(result.k < 1) > 0
    with pytest.raises(AssemblyError, match=r"target_rate must lie in \(0, 1\], got 0"):
        calibrate_sympson_hetter(bank, design, 0, 10, np.random.default_rng(0))


# --------------------------------------------------------------------------------------------------------
# Design files and the command line
# --------------------------------------------------------------------------------------------------------


def design_document(params):
    ids = params.item_ids
    return {
        "categories": {item: CATEGORIES[j % 3] for j, item in enumerate(ids)},
        "enemies": [[ids[0], ids[50]], [ids[1], "P1"]],
        "pretest": ["P1", "P2"],
        "sympson_hetter": {ids[2]: 0.5},
        "sections": [
            {"name": "Law, fixed", "mode": "fixed", "items": list(ids[:10]), "time_limit_seconds": 600},
            {
                "name": "Law, LOFT",
                "mode": "loft",
                "blueprint": {"counts": {"civil": 4, "criminal": 4, "ethics": 2}, "difficulty": [-2.5, 2.5]},
                "pretest": 1,
            },
            {
                "name": "Law, adaptive",
                "mode": "cat",
                "selection": "randomesque",
                "blueprint": {"counts": {"civil": 2, "criminal": 2, "ethics": 1}},
                "stop": {"target_se": 0.4, "min_length": 5},
                "pretest": 1,
            },
        ],
    }


@pytest.fixture
def files(tmp_path):
    params = random_item_parameters(90, "2pl", np.random.default_rng(28))
    params_csv = tmp_path / "params.csv"
    write_params(params_csv, params)
    design_json = tmp_path / "design.json"
    design_json.write_text(json.dumps(design_document(params)), encoding="utf-8")
    return params, params_csv, design_json


def test_design_file_round_trip(files):
    params, _, design_json = files
    design = load_design(json.loads(design_json.read_text()), params)
    assert [s.mode for s in design.sections] == ["fixed", "loft", "cat"]
    assert design.sections[1].blueprint.n_pretest == 1
    assert design.sections[2].cat.max_length == 5  # from the blueprint counts
    assert design.pool.k[2] == 0.5
    again = [SectionDesign.from_dict(s.to_dict()) for s in design.sections]
    assert again == list(design.sections)


def test_simulate_test_runs_end_to_end(files, capsys):
    _, params_csv, design_json = files
    args = [
        "simulate-test",
        str(params_csv),
        "--design",
        str(design_json),
        "--candidates",
        "200",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Section 1: Law, fixed [fixed]" in out and "Section 3: Law, adaptive [cat]" in out
    assert "reliability" in out and "exposure" in out and "blueprint    100.0 %" in out
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["mode"] for s in summary["sections"]] == ["fixed", "loft", "cat"]
    assert summary["sections"][1]["blueprint_conformity"] == 1.0
    assert all(0 < s["reliability"] < 1 for s in summary["sections"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["sections"][1]["blueprint"]["counts"].update(civil=40),
            r"sections\[1\]: category 'civil' needs 40",
        ),
        (
            lambda d: d["sections"][2].update(stop={"target_sem": 0.3}),
            r"sections\[2\]: unknown stopping rule 'target_sem'",
        ),
        (lambda d: d["sections"][0].update(mode="linear"), r"sections\[0\]: mode must be one of"),
        (
            lambda d: d["sections"][0]["items"].append(d["enemies"][0][1]),
            r"sections\[0\]: items 'i001' and 'i051' are enemies",
        ),
        (
            lambda d: d["categories"].update(X9="civil"),
            r"categories: item 'X9' is neither in the parameter file",
        ),
        (lambda d: d.update(section=[]), r"unknown top-level keys \['section'\]"),
        (lambda d: d["sections"][1].update(blueprnt={}), r"sections\[1\]: unknown keys \['blueprnt'\]"),
    ],
)
def test_simulate_test_exits_2_with_a_clear_message_on_a_bad_design(files, capsys, change, message):
    params, params_csv, design_json = files
    document = design_document(params)
    change(document)
    design_json.write_text(json.dumps(document), encoding="utf-8")
    assert main(["simulate-test", str(params_csv), "--design", str(design_json), "--candidates", "20"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tandau-irt: error: ") and str(design_json) in err
    assert re.search(message, err), err


def test_simulate_test_refuses_a_file_that_is_not_json(files, capsys):
    _, params_csv, design_json = files
    design_json.write_text("{sections: []", encoding="utf-8")
    assert main(["simulate-test", str(params_csv), "--design", str(design_json)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
