"""calibrate_for_review: estimates on the bank scale with the evidence to judge them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from item_bank.irt.linking import transform_parameters
from item_bank.irt.models import ItemParameters, random_item_parameters, simulate_responses
from item_bank.review import bank_comparison, benjamini_hochberg, calibrate_for_review

N, J = 3000, 16


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    truth = random_item_parameters(J, "2pl", rng)
    truth = ItemParameters.from_arrays([f"I{j}" for j in range(J)], "2pl", truth.a, truth.b, truth.c)
    groups = np.where(rng.random(N) < 0.5, "ru", "kk")
    x = simulate_responses(truth, rng.normal(0, 1, N), rng)
    # plant DIF: item I3 is 1.2 logits harder for the "kk" group
    hard = transform_parameters(truth.subset(["I3"]), 1.0, 1.2)
    kk = groups == "kk"
    x[kk, 3] = simulate_responses(hard, rng.normal(0, 1, kk.sum()), rng)[:, 0]
    return truth, x, groups


def test_anchors_and_stocking_lord_reach_the_same_bank_scale(data):
    truth, x, _ = data
    # The bank's scale is the truth's moved by theta_bank = 1.3 theta + 0.5
    bank = transform_parameters(truth, 1.3, 0.5).subset([f"I{j}" for j in range(8)])
    anchored = calibrate_for_review(x, truth.item_ids, ["2pl"] * J, bank=bank, linking="anchors")
    linked = calibrate_for_review(x, truth.item_ids, ["2pl"] * J, bank=bank, linking="stocking_lord")
    expected = transform_parameters(truth, 1.3, 0.5)
    new = slice(8, J)
    # 3,000 persons: SE(b) ~0.05-0.1 on this scale; 0.3 allows ~3 SE for the hardest items
    np.testing.assert_allclose(anchored.params.b[new, 0], expected.b[new, 0], atol=0.3)
    np.testing.assert_allclose(linked.params.b[new, 0], expected.b[new, 0], atol=0.3)
    assert anchored.summary["latent_mean"] == pytest.approx(0.5, abs=0.1)
    assert anchored.summary["latent_sd"] == pytest.approx(1.3, abs=0.1)
    assert linked.summary["linking"]["slope"] == pytest.approx(1.3, abs=0.1)
    assert [i.anchored for i in anchored.items] == [True] * 8 + [False] * 8


def test_review_flags_the_planted_dif_item_and_converts_to_json(data):
    truth, x, groups = data
    review = calibrate_for_review(x, truth.item_ids, ["2pl"] * J, linking="none", groups=groups)
    by_id = {i.item_id: i for i in review.items}
    assert by_id["I3"].dif.startswith("C")
    assert any("DIF" in flag for flag in by_id["I3"].flags)
    clean = [i for i in review.items if i.item_id != "I3"]
    assert sum(i.dif.startswith("C") for i in clean) <= 1
    # likelihood-ratio DIF (mirt's DIF(scheme = "add")) finds the same item; BH keeps the clean ones quiet
    assert by_id["I3"].lr_dif["flagged"] and by_id["I3"].lr_dif["df"] == 2
    assert by_id["I3"].lr_dif["p_adjusted"] < 1e-6
    assert any(flag.startswith("LR DIF") for flag in by_id["I3"].flags)
    assert sum(i.lr_dif["flagged"] for i in clean) <= 1
    assert review.summary["lr_dif"]["groups"] == [str(groups[0]), "kk" if groups[0] == "ru" else "ru"]
    assert "I3" in review.summary["lr_dif"]["flagged"]
    text = json.dumps(review.to_dict(), allow_nan=False)  # NaN never reaches JSON columns
    assert '"I3"' in text


def test_lr_dif_can_be_left_out_and_needs_two_groups(data):
    truth, x, groups = data
    without = calibrate_for_review(
        x, truth.item_ids, ["2pl"] * J, linking="none", groups=groups, lr_dif=False
    )
    assert all(i.lr_dif is None for i in without.items) and without.summary["lr_dif"] is None
    one_group = calibrate_for_review(
        x, truth.item_ids, ["2pl"] * J, linking="none", groups=np.full(N, "ru"), max_iter=50
    )
    assert "at least two groups" in one_group.summary["lr_dif"]["skipped"]
    assert all(i.lr_dif is None for i in one_group.items)


def test_benjamini_hochberg_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005, NA), "BH") -> 0.02 0.04 0.04 0.02 NA
    adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.005, float("nan")])
    np.testing.assert_allclose(adjusted[:4], [0.02, 0.04, 0.04, 0.02])
    assert np.isnan(adjusted[4])


def test_bank_comparison_reports_differences_and_flags_drift(data):
    truth, x, _ = data
    bank = transform_parameters(truth, 1.3, 0.5).subset([f"I{j}" for j in range(8)])
    # I2's bank value is 1.5 logits off: a drifted (or mis-keyed) common item
    b = np.array(bank.b)
    b[2, 0] += 1.5
    bank = ItemParameters.from_arrays(bank.item_ids, bank.model, bank.a, b, bank.c)
    review = calibrate_for_review(x, truth.item_ids, ["2pl"] * J, bank=bank, linking="stocking_lord")
    comparison = bank_comparison(review.to_dict()["items"])
    rows = {r["item_id"]: r for r in comparison["items"]}
    assert sorted(rows) == [f"I{j}" for j in range(8)]
    assert rows["I2"]["drift"]
    assert (
        rows["I2"]["d_b"][0] == pytest.approx(review.params.b[2, 0] - b[2, 0]) and rows["I2"]["d_b"][0] < -1.0
    )
    worst = max(rows.values(), key=lambda r: abs(r["robust_z"][0]))
    assert worst["item_id"] == "I2"
    assert rows["I0"]["z_b"][0] == pytest.approx(rows["I0"]["d_b"][0] / review.items[0].se["b"][0])
    assert comparison["b"]["n"] == 8 and comparison["a"]["n"] == 8
    assert comparison["b"]["correlation"] > 0.9
    assert comparison["b"]["rmsd"] >= abs(comparison["b"]["mean_difference"])


def test_bank_comparison_leaves_anchors_out_of_the_statistics(data):
    truth, x, _ = data
    bank = truth.subset([f"I{j}" for j in range(6)])
    review = calibrate_for_review(x, truth.item_ids, ["2pl"] * J, bank=bank, linking="anchors")
    comparison = bank_comparison(review.to_dict()["items"])
    assert len(comparison["items"]) == 6 and all(r["anchored"] for r in comparison["items"])
    assert all(abs(r["d_b"][0]) < 1e-9 for r in comparison["items"])
    assert comparison["b"]["n"] == 0 and comparison["b"]["rmsd"] is None


@pytest.mark.parametrize(
    ("linking", "bank_items", "message"),
    [
        ("anchors", [], "needs items with bank values"),
        ("stocking_lord", ["I0"], "at least 2 common items"),
        ("equipercentile", ["I0"], "linking must be one of"),
    ],
)
def test_impossible_linking_is_refused(data, linking, bank_items, message):
    truth, x, _ = data
    bank = truth.subset(bank_items) if bank_items else None
    with pytest.raises(ValueError, match=message):
        calibrate_for_review(x, truth.item_ids, ["2pl"] * J, bank=bank, linking=linking)
