"""Item fit: S-X2 (dichotomous and polytomous), infit/outfit, Q3 local dependence."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from item_bank.irt.calibration import Calibrator
from item_bank.irt.fit import (
    estimated_parameters,
    local_dependence,
    q3,
    rasch_fit,
    s_x2,
)
from item_bank.irt.models import (
    ItemParameters,
    category_probabilities,
    random_item_parameters,
    simulate_responses,
)


def _simulated(model, n_items, n_persons, seed, **kwargs):
    rng = np.random.default_rng(seed)
    params = random_item_parameters(n_items, model, rng, **kwargs)
    return params, simulate_responses(params, rng.normal(size=n_persons), rng)


# LSAT section 7 (Bock & Lieberman, 1970), as in mirt's `LSAT7` data set: frequencies of the 32 patterns of
# five items in the order 00000, 00001, ..., 11111 (1000 persons).
LSAT7_PATTERNS = np.array(list(itertools.product([0, 1], repeat=5)))
LSAT7_FREQ = [12, 19, 1, 7, 3, 19, 3, 17, 10, 5, 3, 7, 7, 23, 8, 28,
              7, 39, 11, 34, 14, 51, 15, 90, 6, 25, 7, 35, 18, 136, 32, 308]  # fmt: skip


def test_s_x2_reproduces_mirt_on_lsat7():
    # R mirt: mod1 <- mirt(expand.table(LSAT7), 1); coef(mod1, IRTpars = TRUE) gives these (a, b) to three
    # decimals, and itemfit(mod1, mincell = 0) gives S-X2 = 4.7492191, 14.4528980, 1.2703374, 5.2373430,
    # 0.9407036 with 2 df each (values quoted in github.com/meyerjp3/psychometrics, ItemFitSX2Test.java).
    params = ItemParameters.from_arrays([f"Item.{j}" for j in range(1, 6)], "2pl",
                                        [0.988, 1.081, 1.706, 0.765, 0.736],
                                        [-1.879, -0.748, -1.058, -0.635, -2.520])  # fmt: skip
    x = np.repeat(LSAT7_PATTERNS, LSAT7_FREQ, axis=0)
    result = s_x2(params, x, mincell=0.0)
    assert result.df.tolist() == [2] * 5
    # Same parameters; mirt integrated over 41 nodes on +-5.12, we use 61 on +-6: differences up to 0.004.
    expected = [4.7492191, 14.4528980, 1.2703374, 5.2373430, 0.9407036]
    assert_allclose(result.statistic, expected, atol=0.01)


@pytest.mark.parametrize(("model", "n_items"), [("2pl", 20), ("3pl", 20), ("grm", 10), ("gpcm", 10)])
def test_s_x2_p_values_are_uniform_at_the_true_parameters(model, n_items):
    p_values = []
    for seed in range(3):
        params, x = _simulated(model, n_items, 1500, 40 + seed, n_categories=4)
        result = s_x2(params, x, n_estimated=np.zeros(n_items, dtype=int))  # nothing estimated from x
        p_values.extend(result.p)
    p_values = np.array(p_values)
    # 30-60 tests of a true model: the 5 % rejection rate has a binomial SD of 3-4 %, so more than 10 % (or a
    # Kolmogorov-Smirnov rejection of uniformity at 1 %) would mean mis-specified expectations or df.
    assert np.mean(p_values < 0.05) <= 0.10
    assert stats.kstest(p_values, "uniform").pvalue > 0.01


def test_s_x2_with_calibrated_parameters_rejects_at_about_the_nominal_rate():
    p_values = []
    for seed in range(3):
        params, x = _simulated("2pl", 20, 2000, 100 + seed)
        fitted = Calibrator("2pl", se_method=None).fit(x, params.item_ids)
        p_values.extend(s_x2(fitted.params_, x).p)
    # As in practice: parameters estimated from the same data, two df charged per item. 60 tests, nominal 5 %.
    assert np.mean(np.array(p_values) < 0.05) <= 0.10


def test_s_x2_flags_an_item_that_does_not_follow_the_model():
    params, x = _simulated("2pl", 15, 2000, 7)
    rng = np.random.default_rng(8)
    theta = rng.normal(size=2000)
    x = simulate_responses(params, theta, rng)
    # Item 0 follows a U-shaped curve (both low and high scorers get it right): no 2PL can fit it.
    x[:, 0] = rng.random(2000) < 1 / (1 + np.exp(-(1.5 * theta**2 - 1.0)))
    fitted = Calibrator("2pl", se_method=None).fit(x, params.item_ids)
    result = s_x2(fitted.params_, x)
    assert result.p[0] < 1e-6
    assert np.median(result.p[1:]) > 0.05


def test_s_x2_tables_respect_the_minimum_expected_count_and_degrees_of_freedom():
    params, x = _simulated("gpcm", 8, 800, 9, n_categories=4)
    result = s_x2(params, x, mincell=1.0)
    sums = x.sum(axis=1)
    informative = np.sum((sums > 0) & (sums < 24))  # the extreme sums 0 and 8 * 3 are left out
    for j in range(params.n_items):
        expected = result.expected[j]
        cells = np.isfinite(expected)
        assert np.all(expected[cells] >= 1.0 - 1e-12)  # collapsing leaves no sparse cell
        # df = cells - score groups - parameters (K = 4 for a gpcm item), as in mirt.
        assert result.df[j] == cells.sum() - expected.shape[0] - 4
        assert np.nansum(result.observed[j]) == informative  # merging keeps every person
    assert_allclose(estimated_parameters(params), 4)


def test_s_x2_without_collapsing_has_one_df_per_score_group_left():
    # 6 items and 20,000 persons: every score group 1..5 is well filled, nothing is merged.
    params, x = _simulated("2pl", 6, 20000, 10)
    result = s_x2(params, x)
    assert result.df.tolist() == [5 - 2] * 6  # sums 1..5, two cells each, minus 5 groups, minus a and b


def test_s_x2_pools_booklets_and_leaves_out_scattered_missingness():
    params, x = _simulated("2pl", 12, 1200, 11)
    x[:600, 8:] = -1  # booklet A: items 1-8
    x[600:, :2] = -1  # booklet B: items 3-12; items 3-8 are in both
    x[1190:, 5] = -1  # ten persons skipped an item: a pattern of their own, too rare to be a form
    none = np.zeros(12, dtype=int)
    pooled = s_x2(params, x, n_estimated=none)
    assert pooled.n_persons == 1190
    a = s_x2(params.subset(np.arange(8)), x[:600, :8], n_estimated=none[:8])
    b = s_x2(params.subset(np.arange(2, 12)), x[600:1190, 2:], n_estimated=none[:10])
    # An anchor item's chi-square and degrees of freedom add over the two independent booklets.
    assert pooled.statistic[2] == pytest.approx(a.statistic[2] + b.statistic[0], rel=1e-12)
    assert pooled.df[2] == a.df[2] + b.df[0]
    assert pooled.statistic[0] == pytest.approx(a.statistic[0], rel=1e-12)  # booklet A only
    assert pooled.expected[2].shape[0] == a.expected[2].shape[0] + b.expected[0].shape[0]
    with pytest.raises(ValueError, match="presented the same items"):
        s_x2(params, x, min_form_size=1000)


def test_infit_and_outfit_are_near_one_under_the_rasch_model():
    params, x = _simulated("rasch", 25, 3000, 12)
    fit = rasch_fit(params, x)
    # With 3000 persons a mean square has a sampling SD near 0.03 (infit) to 0.05 (outfit); estimating theta
    # pulls both slightly below 1 (about 1/J). Beyond 0.85-1.15 an item would misfit by the usual rule.
    assert np.all(np.abs(fit.infit - 1) < 0.12) and np.all(np.abs(fit.outfit - 1) < 0.15)
    assert abs(np.mean(fit.infit) - 1) < 0.05
    assert np.mean(np.abs(fit.infit_t) < 3) > 0.9


def test_infit_and_outfit_flag_a_flat_item_as_underfitting():
    rng = np.random.default_rng(13)
    rasch = random_item_parameters(20, "rasch", rng)
    truth = ItemParameters(
        rasch.item_ids, ("2pl",) * 20, np.where(np.arange(20) == 0, 0.3, 1.0), rasch.b, rasch.c
    )
    x = simulate_responses(truth, rng.normal(size=3000), rng)
    fit = rasch_fit(rasch, x)
    # Item 0 discriminates far less than the Rasch model assumes: noisy, mean squares well above 1.
    assert fit.outfit[0] > 1.15 and fit.infit[0] > 1.1 and fit.infit_t[0] > 3


def test_infit_and_outfit_follow_their_definitions_on_a_tiny_example():
    params = ItemParameters.from_arrays(["a", "b"], "rasch", [1.0, 1.0], [-0.5, 0.7])
    x = np.array([[1, 0], [1, 1], [0, 0], [0, -1]])
    theta = np.array([0.2, 1.0, -1.0, 0.4])
    fit = rasch_fit(params, x, theta)
    p = category_probabilities(params, theta)[:, :, 1]
    for j in range(2):
        seen = x[:, j] >= 0
        e, w = p[seen, j], p[seen, j] * (1 - p[seen, j])
        r2 = (x[seen, j] - e) ** 2
        # Independent loop-free restatement of the two mean squares: rounding-level agreement.
        assert fit.outfit[j] == pytest.approx(np.mean(r2 / w), rel=1e-12)
        assert fit.infit[j] == pytest.approx(r2.sum() / w.sum(), rel=1e-12)


def test_q3_flags_a_planted_dependent_pair_and_nothing_else():
    params, x = _simulated("2pl", 20, 3000, 14)
    rng = np.random.default_rng(15)
    clean = local_dependence(q3(params, x), params.item_ids)
    assert clean == []
    # Items 6 and 7 share a stimulus: 60 % of persons copy their answer to item 6 onto item 7.
    copy = rng.random(3000) < 0.6
    x[copy, 7] = x[copy, 6]
    matrix = q3(params, x)
    assert local_dependence(matrix, params.item_ids) == [("i007", "i008", pytest.approx(matrix[6, 7]))]
    assert matrix[6, 7] > 0.3
    off_diagonal = matrix[np.triu_indices(20, k=1)]
    # Under local independence Q3 averages about -1/(J - 1) = -0.05.
    assert np.median(off_diagonal) == pytest.approx(-1 / 19, abs=0.03)
    assert_allclose(np.diag(matrix), 1.0)
