"""Section scores: number-correct, theta and SE from the pinned parameters, sub-scores, and the omit rule."""

from __future__ import annotations

import numpy as np
import pytest

from item_bank.irt.models import ItemParameters
from item_bank.irt.scoring import eap_scores
from item_bank.items import ItemSpec, LanguageVersion
from item_bank.section_scoring import MIN_SUBSCORE_ITEMS, score_section

OPTIONS = ("a", "b", "c", "d")


def _items() -> list[ItemSpec]:
    return [
        ItemSpec(
            f"K{i}",
            "single_best",
            {"en": LanguageVersion("Q?", OPTIONS)},
            {"correct": i % 4},
            domain="civil" if i < 6 else "criminal",
        )
        for i in range(8)
    ]


PARAMS = ItemParameters.from_arrays(
    [f"K{i}" for i in range(8)], "2pl", np.linspace(0.8, 1.6, 8), np.linspace(-1.5, 1.5, 8)
)


def test_theta_and_se_are_the_eap_of_the_category_scores():
    items = _items()
    responses = {"K0": {"choice": 0}, "K1": {"choice": 1}, "K2": {"choice": 0}, "K5": {"choice": 1}}
    score = score_section(items, responses, PARAMS)
    expected_scores = [1, 1, 0, 0, 0, 1, 0, 0]  # K3, K4, K6, K7 omitted count as 0; K2 wrong
    direct = eap_scores(PARAMS, np.array([expected_scores]))
    assert score.item_scores == {
        "K0": 1,
        "K1": 1,
        "K2": 0,
        "K3": None,
        "K4": None,
        "K5": 1,
        "K6": None,
        "K7": None,
    }
    assert (score.number_correct, score.max_score, score.n_scored, score.n_answered) == (3, 8, 8, 4)
    assert score.theta == pytest.approx(float(direct.theta[0]), abs=1e-12)
    assert score.se == pytest.approx(float(direct.se[0]), abs=1e-12)


def test_subscores_flag_too_few_items():
    score = score_section(_items(), {}, PARAMS)
    assert set(score.subscores) == {"civil", "criminal"}
    assert score.subscores["civil"]["n"] == 6 and not score.subscores["civil"]["too_few"]
    assert score.subscores["criminal"]["n"] == 2 and score.subscores["criminal"]["too_few"]
    assert MIN_SUBSCORE_ITEMS == 5


def test_more_correct_answers_never_lower_theta():
    items = _items()
    previous = -np.inf
    responses: dict = {}
    for item in items:
        responses[item.code] = {"choice": item.key["correct"]}
        theta = score_section(items, responses, PARAMS).theta
        assert theta >= previous
        previous = theta


def test_uncalibrated_items_count_only_towards_number_correct():
    items = _items()
    score = score_section(items, {"K0": {"choice": 0}}, None)
    assert score.theta is None and score.number_correct == 1
    assert "no scored item" in score.unscored_reason
    partial = score_section(items, {"K7": {"choice": 3}}, PARAMS.subset(["K0", "K1"]))
    assert partial.number_correct == 1 and partial.theta is not None
