"""Classical item statistics: p-values, corrected point-biserials, Cronbach's alpha, missing data."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from item_bank.irt.classical import (
    alpha_if_deleted,
    cronbach_alpha,
    item_statistics,
    p_values,
    pairwise_correlation,
    pairwise_covariance,
    point_biserial,
)

# Five persons, three dichotomous items. Worked by hand (sample variances, n - 1 = 4):
#   item means 0.8, 0.6, 0.4 -> variances 0.8/4 = 0.2, 1.2/4 = 0.3, 1.2/4 = 0.3 (sum 0.8)
#   totals 3, 2, 1, 0, 3 (mean 1.8): squared deviations 1.44 + 0.04 + 0.64 + 3.24 + 1.44 = 6.8 -> variance 1.7
#   alpha = 3/2 * (1 - 0.8/1.7) = 1.35/1.7 = 0.79411764...
#   without item 3: totals 2, 2, 1, 0, 2 (mean 1.4), variance 3.2/4 = 0.8; alpha = 2 * (1 - 0.5/0.8) = 0.75
#   item 1 against its rest score (2, 1, 0, 0, 2; mean 1): cross products sum 1.0, sums of squares 0.8 and 4
#   -> r = 1/sqrt(3.2) = 0.5590169943749474
HAND = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]])


def test_alpha_matches_the_hand_computed_example():
    assert cronbach_alpha(HAND) == pytest.approx(1.35 / 1.7, rel=1e-14)  # exact arithmetic, rounding only


def test_alpha_if_deleted_matches_the_hand_computed_example():
    assert alpha_if_deleted(HAND)[2] == pytest.approx(0.75, rel=1e-14)


def test_p_values_and_corrected_point_biserial_match_the_hand_computed_example():
    assert_allclose(p_values(HAND), [0.8, 0.6, 0.4], rtol=1e-14)
    assert point_biserial(HAND)[0] == pytest.approx(1 / np.sqrt(3.2), rel=1e-12)


def test_alpha_equals_the_variance_of_totals_formula_on_complete_data():
    rng = np.random.default_rng(7)
    x = (rng.random((400, 12)) < rng.uniform(0.2, 0.8, 12)).astype(int)
    x[:, :6] |= x[:, 6:]  # make the items correlate
    j = x.shape[1]
    textbook = j / (j - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))
    assert cronbach_alpha(x) == pytest.approx(textbook, rel=1e-12)  # two algebraic routes to one number


def test_polytomous_p_value_divides_the_mean_by_the_maximum_score():
    x = np.array([[0, 2], [1, 4], [2, 0], [3, 4]])
    assert_allclose(p_values(x), [1.5 / 3, 2.5 / 4])
    assert_allclose(p_values(x, max_scores=[4, 4]), [1.5 / 4, 2.5 / 4])  # known maxima override the data


def test_missing_responses_are_left_out_pairwise():
    x = np.array([[1, 1, -1], [0, -1, 1], [1, 0, 0], [1, 1, 1], [-1, 0, 0], [0, 0, 1]])
    observed = x >= 0
    cov, n = pairwise_covariance(np.where(observed, x, 0), observed)
    for j in range(3):
        for k in range(3):
            both = observed[:, j] & observed[:, k]
            assert n[j, k] == both.sum()
            expected = np.cov(x[both, j], x[both, k])[0, 1]
            assert cov[j, k] == pytest.approx(expected, abs=1e-14)  # same formula, other summation order
    assert_allclose(p_values(x), [3 / 5, 2 / 5, 3 / 5])  # proportions among those who answered


def test_pairwise_correlation_is_a_correlation_and_matches_numpy_on_complete_data():
    rng = np.random.default_rng(8)
    values = rng.normal(size=(200, 5))
    values[:, 1] += values[:, 0]
    corr = pairwise_correlation(values, np.ones_like(values))
    assert_allclose(corr, np.corrcoef(values.T), atol=1e-12)  # same statistic, rounding only
    mask = rng.random(values.shape) > 0.3
    corr_missing = pairwise_correlation(values, mask)
    assert np.all(np.abs(corr_missing) <= 1.0)
    both = mask[:, 0] & mask[:, 1]
    assert corr_missing[0, 1] == pytest.approx(np.corrcoef(values[both, 0], values[both, 1])[0, 1], abs=1e-12)


def test_item_statistics_bundles_every_statistic():
    stats = item_statistics(HAND, item_ids=["q1", "q2", "q3"])
    assert stats.item_ids == ("q1", "q2", "q3")
    assert stats.n.tolist() == [5, 5, 5]
    assert stats.alpha == pytest.approx(cronbach_alpha(HAND))
    assert_allclose(stats.alpha_if_deleted, alpha_if_deleted(HAND))
    assert_allclose(stats.point_biserial, point_biserial(HAND))
    assert_allclose(stats.p_value, [0.8, 0.6, 0.4])


def test_constant_items_and_bad_input_are_reported_not_hidden():
    x = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1]])
    assert np.isnan(point_biserial(x)[0])  # an item everybody got right has no correlation
    with pytest.raises(ValueError, match="2-D"):
        cronbach_alpha(np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="-1"):
        p_values(np.array([[1, -2]]))
    assert np.isnan(cronbach_alpha(np.array([[1], [0]])))  # one item has no alpha
