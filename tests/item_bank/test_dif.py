"""DIF: Mantel-Haenszel with the ETS A/B/C rules, Mantel/SMD for polytomous items, likelihood-ratio DIF."""

import numpy as np
import pytest
from scipy import stats

from item_bank.irt.dif import (
    ets_classification,
    ets_polytomous_classification,
    likelihood_ratio_dif,
    mantel_haenszel,
    mantel_haenszel_tables,
    mantel_polytomous,
)
from item_bank.irt.models import ItemParameters, random_item_parameters, simulate_responses

# Two strata, worked by hand (reference right A / wrong B, focal right C / wrong D):
#   stratum 1: A=30 B=20 C=20 D=30 (T=100); stratum 2: A=40 B=10 C=30 D=20 (T=100)
#   R = sum AD/T = 9 + 8 = 17, S = sum BC/T = 4 + 3 = 7  ->  alpha_MH = 17/7, D = -2.35 ln(17/7) = -2.0852
#   E(A) = 25 + 35 = 60 against A = 70; Var(A) = (50*50*50*50 + 50*50*70*30) / (100^2 * 99) = 11.5e6 / 990000
#   chi2 = (|70 - 60| - 0.5)^2 / Var = 90.25 * 990000 / 11.5e6 = 7.76935
#   RBG: P = (A+D)/T = 0.6, Q = 0.4 in both strata:
#   var(ln alpha) = 10.2/(2*17^2) + 11/(2*17*7) + 2.8/(2*7^2) = 0.0176471 + 0.0462185 + 0.0285714 = 0.0924370
HAND = {"a": [30, 40], "b": [20, 10], "c": [20, 30], "d": [30, 20]}


def test_mantel_haenszel_matches_the_hand_computed_tables():
    result = mantel_haenszel_tables(**HAND)
    # Exact rational arithmetic above; only float rounding separates the values.
    assert result.alpha == pytest.approx(17 / 7, rel=1e-14)
    assert result.delta == pytest.approx(-2.35 * np.log(17 / 7), rel=1e-14)
    assert result.chi2 == pytest.approx(90.25 * 990000 / 11.5e6, rel=1e-12)
    var_log = 10.2 / (2 * 17**2) + 11 / (2 * 17 * 7) + 2.8 / (2 * 7**2)
    assert result.log_alpha_se == pytest.approx(np.sqrt(var_log), rel=1e-12)
    assert result.delta_se == pytest.approx(2.35 * np.sqrt(var_log), rel=1e-12)


def test_large_but_imprecise_dif_is_b_and_becomes_c_with_ten_times_the_data():
    # |D| = 2.09 >= 1.5 and the chi-square is significant (p = 0.005), but with SE(D) = 0.71 the interval test
    # P(|D| <= 1) gives Phi((1 - 2.085)/0.714) = 0.064 > 0.05: not significantly beyond 1, so B, not C.
    small = mantel_haenszel_tables(**HAND)
    assert small.p < 0.01
    assert small.ets == "B-"
    big = mantel_haenszel_tables(**{k: [10 * v for v in cells] for k, cells in HAND.items()})
    assert big.delta == pytest.approx(small.delta)  # same odds ratio
    assert big.ets == "C-"


@pytest.mark.parametrize(
    ("delta", "se", "p", "expected"),
    [
        (-0.6, 0.1, 1e-6, "A"),  # |D| < 1 however significant
        (-1.2, 0.3, 0.20, "A"),  # not significant
        (-1.2, 0.1, 1e-4, "B-"),  # 1 <= |D| < 1.5
        (1.3, 0.1, 1e-4, "B+"),  # favours the focal group
        (-1.6, 0.2, 1e-5, "C-"),  # |D| >= 1.5 and (1.6 - 1)/0.2 = 3 > 1.645: significantly above 1
        (-1.6, 0.5, 1e-3, "B-"),  # same D, (1.6 - 1)/0.5 = 1.2 < 1.645: not significantly above 1
        (-1.8, 0.2, 1e-8, "C-"),  # (1.8 - 1)/0.2 = 4: significantly above 1
        (2.5, 0.3, 1e-9, "C+"),
    ],
)
def test_ets_rules_on_hand_made_values(delta, se, p, expected):
    assert ets_classification(delta, se, p) == expected


def _two_groups(params, focal_params, n, rng, focal_mean=-0.4):
    reference = simulate_responses(params, rng.normal(0.0, 1.0, n), rng)
    focal = simulate_responses(focal_params, rng.normal(focal_mean, 1.0, n), rng)
    return np.vstack([reference, focal]), np.array(["ru"] * n + ["kk"] * n)


def test_mantel_haenszel_finds_the_planted_item_and_leaves_clean_items_alone():
    rng = np.random.default_rng(31)
    params = random_item_parameters(30, "2pl", rng)
    b = params.b.copy()
    b[4, 0] += 0.9  # item 5 is harder in the Kazakh version for persons of equal ability
    focal = ItemParameters(params.item_ids, params.model, params.a, b, params.c)
    x, groups = _two_groups(params, focal, 3000, rng)
    result = mantel_haenszel(x, groups, focal="kk", item_ids=params.item_ids)
    assert result.ets[4] == "C-"
    assert result.flagged("C") == ("i005",)
    # Groups differ in mean ability (impact, not DIF); matching on the total score absorbs it. With 29 clean
    # items, a few B's from sampling error are possible but most must be A.
    assert sum(e == "A" for e in result.ets) >= 26
    assert result.n_reference[0] == result.n_focal[0] == 3000


def test_mantel_haenszel_skips_missing_responses_and_rejects_polytomous_items():
    rng = np.random.default_rng(32)
    params = random_item_parameters(10, "2pl", rng)
    x, groups = _two_groups(params, params, 500, rng)
    x[:100, 2] = -1
    result = mantel_haenszel(x, groups, focal="kk")
    assert result.n_reference[2] == 400
    with pytest.raises(ValueError, match="mantel_polytomous"):
        mantel_haenszel(np.where(x > 0, 2, x), groups, focal="kk")


def test_group_labels_are_checked():
    x = np.zeros((6, 2), dtype=int)
    with pytest.raises(ValueError, match="focal group 'xx'"):
        mantel_haenszel(x, ["a", "a", "b", "b", "c", "c"], focal="xx")
    with pytest.raises(ValueError, match="name the reference group"):
        mantel_haenszel(x, ["a", "a", "b", "b", "c", "c"], focal="a")
    result = mantel_haenszel(x, ["a", "a", "b", "b", "c", "c"], focal="a", reference="b")
    assert result.n_reference.tolist() == [2, 2]  # group "c" is ignored


def test_mantel_polytomous_matches_a_hand_computed_single_stratum():
    # One stratum: reference scores 0, 1, 2; focal 1, 2, 2. T = 6, sum y = 8, sum y^2 = 14, F = 5,
    # E(F) = 3 * 8 / 6 = 4, Var(F) = 3 * 3 / (36 * 5) * (6 * 14 - 64) = 1  ->  chi2 = 1.
    # SMD = 5/3 - 1 = 2/3; SD of the six scores = sqrt(14/15 * ... ) computed below.
    x = np.array([[0], [1], [2], [1], [2], [2]])
    groups = ["r", "r", "r", "f", "f", "f"]
    result = mantel_polytomous(x, groups, focal="f", matching=np.zeros(6))
    assert result.chi2[0] == pytest.approx(1.0, rel=1e-14)
    assert result.p[0] == pytest.approx(stats.chi2.sf(1.0, 1), rel=1e-12)
    assert result.smd[0] == pytest.approx(2 / 3, rel=1e-14)
    assert result.effect_size[0] == pytest.approx((2 / 3) / np.std([0, 1, 2, 1, 2, 2], ddof=1), rel=1e-12)


def test_mantel_polytomous_finds_a_planted_sjt_item():
    rng = np.random.default_rng(33)
    params = random_item_parameters(12, "gpcm", rng, n_categories=4)
    b = params.b.copy()
    b[2] += 0.8  # every step of item 3 is harder for the focal group
    focal = ItemParameters(params.item_ids, params.model, params.a, b, params.c)
    x, groups = _two_groups(params, focal, 2500, rng)
    result = mantel_polytomous(x, groups, focal="kk", item_ids=params.item_ids)
    assert result.ets[2] == "CC-"
    assert sum(e == "AA" for e in result.ets) >= 10  # clean items: negligible effect sizes


@pytest.mark.parametrize(
    ("effect", "p", "expected"),
    [(0.1, 1e-5, "AA"), (0.3, 0.2, "AA"), (0.2, 0.01, "BB+"), (-0.3, 0.001, "CC-")],
)
def test_ets_polytomous_rules(effect, p, expected):
    assert ets_polytomous_classification(effect, p) == expected


def test_likelihood_ratio_dif_detects_the_planted_item():
    rng = np.random.default_rng(34)
    params = random_item_parameters(10, "2pl", rng)
    b = params.b.copy()
    b[1, 0] += 0.8
    focal = ItemParameters(params.item_ids, params.model, params.a, b, params.c)
    x, groups = _two_groups(params, focal, 1000, rng)
    result = likelihood_ratio_dif(
        x, groups, item_ids=params.item_ids, items=["i001", "i002", "i003"], reference_group="ru"
    )
    assert result.df.tolist() == [2, 2, 2]  # a and b freed in the focal group
    assert result.p[1] < 1e-6
    # Clean items: LR ~ chi2(2); the other anchors absorb a little of item 2's DIF, so allow p > 0.001.
    assert result.p[0] > 1e-3 and result.p[2] > 1e-3
    assert result.flagged(0.001) == ("i002",)
