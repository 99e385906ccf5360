"""calibrate_for_review: estimates on the bank scale with the evidence to judge them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from item_bank.irt.linking import transform_parameters
from item_bank.irt.models import ItemParameters, random_item_parameters, simulate_responses
from item_bank.review import calibrate_for_review

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
    text = json.dumps(review.to_dict(), allow_nan=False)  # NaN never reaches JSON columns
    assert '"I3"' in text


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
