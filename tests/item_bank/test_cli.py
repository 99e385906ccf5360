"""The command line: calibrate -> score -> fit round trip, progress and JSON output, bad input handling."""

import json
import subprocess
import sys

import numpy as np
import pytest

from item_bank.__main__ import main
from item_bank.formats.params_csv import read_params, write_params
from item_bank.formats.responses_csv import ResponseTable, read_csv_rows, write_responses
from item_bank.irt.models import ItemParameters, random_item_parameters, simulate_responses


@pytest.fixture
def simulated(tmp_path):
    """1200 persons x 12 2PL items with 5 % not presented, and the true abilities."""
    rng = np.random.default_rng(61)
    params = random_item_parameters(12, "2pl", rng)
    theta = rng.normal(size=1200)
    x = simulate_responses(params, theta, rng, missing_rate=0.05)
    path = tmp_path / "responses.csv"
    write_responses(
        path,
        ResponseTable(params.item_ids, x, tuple(f"cand{n:04d}" for n in range(1200)), np.arange(2, 1202)),
    )
    return path, params, theta


def test_calibrate_score_fit_round_trip(simulated, tmp_path, capsys):
    responses, truth, theta = simulated
    params_csv, scores_csv, fit_csv = tmp_path / "params.csv", tmp_path / "scores.csv", tmp_path / "fit.csv"

    assert main(["calibrate", str(responses), "--model", "2pl", "--out", str(params_csv), "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["converged"] and summary["n_persons"] == 1200 and summary["n_items"] == 12
    assert summary["iterations"] == len(
        [line for line in err.splitlines() if line.startswith("EM iteration")]
    )
    for key in ("log_likelihood", "aic", "bic", "warnings", "latent_mean", "latent_sd"):
        assert key in summary
    estimated = read_params(params_csv)
    assert estimated.se is not None and np.all(estimated.se.a > 0)
    # 1200 persons: the slope estimates have SEs near 0.08-0.1, so 0.35 is a generous recovery bound.
    assert np.max(np.abs(estimated.params.a - truth.a)) < 0.35

    assert (
        main(
            [
                "score",
                str(responses),
                "--params",
                str(params_csv),
                "--method",
                "eap",
                "--out",
                str(scores_csv),
            ]
        )
        == 0
    )
    rows = read_csv_rows(scores_csv)
    assert rows[0][1] == ["person_id", "theta", "se"] and len(rows) == 1201
    assert rows[1][1][0] == "cand0000"
    scores = np.array([[float(v) for v in cells[1:]] for _, cells in rows[1:]])
    assert np.corrcoef(scores[:, 0], theta)[0, 1] > 0.8  # 12 items: reliability near 0.72, r near 0.85

    assert main(["fit", str(responses), "--params", str(params_csv), "--out", str(fit_csv)]) == 0
    fit_rows = read_csv_rows(fit_csv)
    assert fit_rows[0][1] == ["item_id", "S_X2", "df", "p"]
    assert [cells[0] for _, cells in fit_rows[1:]] == list(truth.item_ids)


def test_quiet_silences_progress_and_rasch_fit_has_infit_columns(simulated, tmp_path, capsys):
    responses, _, _ = simulated
    params_csv, fit_csv = tmp_path / "params.csv", tmp_path / "fit.csv"
    assert main(["-q", "calibrate", str(responses), "--model", "rasch", "--out", str(params_csv)]) == 0
    assert main(["fit", str(responses), "--params", str(params_csv), "--out", str(fit_csv), "-q"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert read_csv_rows(fit_csv)[0][1] == [
        "item_id",
        "S_X2",
        "df",
        "p",
        "infit",
        "outfit",
        "infit_t",
        "outfit_t",
    ]


def test_fixed_bank_items_keep_their_values(simulated, tmp_path, capsys):
    responses, truth, _ = simulated
    bank = tmp_path / "bank.csv"
    write_params(bank, truth.subset(np.arange(6)))  # the first six items are operational
    out = tmp_path / "params.csv"
    assert (
        main(["calibrate", str(responses), "--model", "2pl", "--fixed", str(bank), "--out", str(out), "-q"])
        == 0
    )
    estimated = read_params(out).params
    # Written with 10 significant digits: the fixed values come back to 1e-9.
    np.testing.assert_allclose(estimated.a[:6], truth.a[:6], rtol=1e-9)
    np.testing.assert_allclose(estimated.b[:6, 0], truth.b[:6, 0], rtol=1e-9)


def _bad_cases(tmp_path, good_params):
    """(name, argv, file text, expected fragments of the error message)."""
    params = str(good_params)
    return [
        (
            "non-numeric",
            ["score", "{f}", "--params", params, "--method", "eap"],
            "person_id,i001,i002\np1,1,yes\n",
            ["row 2", "column 'i002' (C)", "'yes' is not a category number"],
        ),
        (
            "out of range",
            ["score", "{f}", "--params", params, "--method", "ml"],
            "i001,i002\n1,0\n0,2\n",
            ["row 3", "column 'i002' (B)", "category 2 is out of range"],
        ),
        (
            "unanswered column",
            ["calibrate", "{f}", "--model", "2pl"],
            "i001,i002,i003\n1,0,\n0,1,\n",
            ["column 'i003' (C)", "nobody answered this item"],
        ),
        (
            "duplicate ids",
            ["calibrate", "{f}", "--model", "2pl"],
            "i001,i002,i001\n1,0,1\n",
            ["row 1", "column 'i001' (C)", "duplicate item id"],
        ),
        ("not a csv", ["fit", "{f}", "--params", params], "\x00\x01\x02binary", ["not a CSV file"]),
        (
            "unknown item",
            ["score", "{f}", "--params", params, "--method", "wle"],
            "i001,zz9\n1,0\n",
            ["column 'zz9' (B)", "no parameters for this item"],
        ),
        (
            "bad params",
            ["score", "{f}", "--params", "{f}", "--method", "eap"],
            "item_id,model,a,b\nq1,2pl,one,0\n",
            ["row 2", "column 'a' (C)", "'one' is not a number"],
        ),
        ("one category", ["calibrate", "{f}", "--model", "2pl"], "i001,i002\n1,0\n1,1\n1,0\n", ["i001"]),
    ]


@pytest.mark.parametrize("case", range(8))
def test_bad_input_exits_2_names_the_place_and_writes_no_file(tmp_path, capsys, case):
    good_params = tmp_path / "good.csv"
    write_params(good_params, ItemParameters.from_arrays(["i001", "i002"], "2pl", [1.0, 1.2], [0.0, 0.5]))
    name, argv, text, fragments = _bad_cases(tmp_path, good_params)[case]
    bad = tmp_path / "input.csv"
    bad.write_text(text, encoding="utf-8")
    out = tmp_path / "out.csv"
    argv = [a.format(f=bad) for a in argv] + ["--out", str(out)]
    assert main(argv) == 2, name
    err = capsys.readouterr().err
    assert err.startswith("tandau-irt: error: ")
    for fragment in fragments:
        assert fragment in err, (name, err)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.csv", "input.csv"]  # no temporary file either


def test_usage_errors_exit_2_and_help_exits_0(capsys):
    assert main(["calibrate", "r.csv", "--model", "4pl", "--out", "p.csv"]) == 2
    assert "invalid choice: '4pl'" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["--help"]) == 0
    assert "calibrate" in capsys.readouterr().out


def test_module_entry_point_runs():
    done = subprocess.run(
        [sys.executable, "-m", "item_bank", "score", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "--method {eap,map,ml,wle}" in done.stdout
