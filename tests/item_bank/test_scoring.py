"""Person scoring (EAP, MAP, ML, WLE), sum-score tables, reliability and information curves."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import integrate, optimize, stats

from item_bank.irt.information import conditional_sem, information_curves, person_information
from item_bank.irt.models import (
    ItemParameters,
    category_probabilities,
    log_likelihood,
    random_item_parameters,
    simulate_responses,
    test_information,
)
from item_bank.irt.scoring import (
    SCORERS,
    eap_scores,
    eap_sum_scores,
    empirical_reliability,
    lord_wingersky,
    map_scores,
    marginal_reliability,
    ml_scores,
    quadrature,
    score_responses,
    sum_score_table,
    wle_scores,
)

METHODS = sorted(SCORERS)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture
def mixed_items(rng):
    """A legal-knowledge block (2PL, 3PL) and an SJT block (GRM, GPCM) in one test."""
    return random_item_parameters(
        30, ["2pl"] * 12 + ["3pl"] * 6 + ["grm"] * 6 + ["gpcm"] * 6, rng, n_categories=4
    )


def _pattern_posterior_moments(params, pattern, prior_mean=0.0, prior_sd=1.0):
    """Posterior mean and SD of one pattern by adaptive quadrature of L(theta) phi(theta) on the real line."""

    def likelihood(t):
        return np.exp(log_likelihood(params, pattern[None, :], [t])[0, 0])

    def density(t):
        return likelihood(t) * stats.norm.pdf(t, prior_mean, prior_sd)

    lo, hi = prior_mean - 10 * prior_sd, prior_mean + 10 * prior_sd
    opts = {"epsabs": 0, "epsrel": 1e-12, "limit": 200}
    mass = integrate.quad(density, lo, hi, **opts)[0]
    mean = integrate.quad(lambda t: t * density(t), lo, hi, **opts)[0] / mass
    var = integrate.quad(lambda t: (t - mean) ** 2 * density(t), lo, hi, **opts)[0] / mass
    return mean, np.sqrt(var)


# Bounds per model for 40 items and 2000 persons. Test information near theta = 0 is about 8 (3PL: the lower
# asymptote flattens the curves) to 40 (GPCM, four categories), i.e. SEs of 0.15-0.35, so the observed
# correlations (0.90-0.98) and RMSEs (0.21-0.52) sit well inside these limits; a broken scorer falls far
# outside.
RECOVERY_BOUNDS = {"2pl": (0.92, 0.42), "3pl": (0.88, 0.56), "grm": (0.94, 0.36), "gpcm": (0.96, 0.27)}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", sorted(RECOVERY_BOUNDS))
def test_every_method_recovers_simulated_theta(rng, method, model):
    params = random_item_parameters(40, model, rng, n_categories=4)
    theta = rng.normal(size=2000)
    x = simulate_responses(params, theta, rng, missing_rate=0.1)
    result = score_responses(params, x, method)
    inner = ~result.at_bound
    min_corr, max_rmse = RECOVERY_BOUNDS[model]
    assert inner.mean() > 0.98  # extreme patterns are rare on 40 items
    assert np.corrcoef(result.theta[inner], theta[inner])[0, 1] > min_corr
    rmse = np.sqrt(np.mean((result.theta[inner] - theta[inner]) ** 2))
    assert rmse < max_rmse
    # The reported SEs are honest: their root mean square matches the realised RMSE within 15 % (2000 persons
    # give the RMSE a relative sampling error of about 3 %; the rest is the SE's own approximation error).
    # The 3PL gets 20 %: the asymptotic ML/WLE SE is known to be optimistic there (observed ratio 0.87).
    rel = 0.2 if model == "3pl" else 0.15
    assert rmse == pytest.approx(np.sqrt(np.mean(result.se[inner] ** 2)), rel=rel)


@pytest.mark.parametrize("scorer", [ml_scores, wle_scores])
def test_modal_standard_error_is_inverse_root_test_information_of_the_items_taken(rng, mixed_items, scorer):
    theta = rng.normal(size=60)
    x = simulate_responses(mixed_items, theta, rng, missing_rate=0.3)
    result = scorer(mixed_items, x)
    for n in range(60):
        taken = mixed_items.subset(np.flatnonzero(x[n] >= 0))
        expected = 1.0 / np.sqrt(test_information(taken, [result.theta[n]])[0])
        # Same quantity by an independent route (models.test_information on the person's items): only float
        # rounding separates the two.
        assert_allclose(result.se[n], expected, rtol=1e-9)


def test_ml_estimate_maximises_the_likelihood(rng, mixed_items):
    theta = rng.normal(size=20)
    x = simulate_responses(mixed_items.subset(np.arange(12, 30)), theta, rng)  # GRM/GPCM: unimodal likelihood
    params = mixed_items.subset(np.arange(12, 30))
    result = ml_scores(params, x)
    for n in range(20):
        best = optimize.minimize_scalar(
            lambda t, n=n: -log_likelihood(params, x[n : n + 1], [t])[0, 0],
            bounds=(-6, 6),
            method="bounded",
            options={"xatol": 1e-10},
        )
        # Brent's bounded search stops at xatol 1e-10 on a smooth concave function: agreement to 1e-6 leaves
        # room for its flat-top resolution (sqrt of machine epsilon in the log-likelihood).
        assert result.theta[n] == pytest.approx(best.x, abs=1e-6)


def test_map_estimate_maximises_the_posterior(rng, mixed_items):
    params = mixed_items.subset(np.arange(12))
    x = simulate_responses(params, rng.normal(size=15), rng)
    result = map_scores(params, x, prior_mean=0.5, prior_sd=0.8)
    for n in range(15):
        best = optimize.minimize_scalar(
            lambda t, n=n: -log_likelihood(params, x[n : n + 1], [t])[0, 0] - stats.norm.logpdf(t, 0.5, 0.8),
            bounds=(-6, 6),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert result.theta[n] == pytest.approx(best.x, abs=1e-6)  # as for ML above
    info = person_information(params, result.theta, x)
    assert_allclose(result.se, 1 / np.sqrt(info + 1 / 0.8**2), rtol=1e-9)  # definition, float rounding only


def test_wle_maximises_likelihood_times_root_information_under_2pl(rng):
    params = random_item_parameters(15, "2pl", rng)
    x = simulate_responses(params, rng.normal(size=15), rng)
    result = wle_scores(params, x)
    for n in range(15):
        # Warm's estimating equation for the 2PL is the derivative of log L + 0.5 log I.
        best = optimize.minimize_scalar(
            lambda t, n=n: (
                -log_likelihood(params, x[n : n + 1], [t])[0, 0]
                - 0.5 * np.log(test_information(params, [t])[0])
            ),
            bounds=(-6, 6),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert result.theta[n] == pytest.approx(best.x, abs=1e-6)


def test_extreme_patterns_are_held_at_the_documented_bounds():
    params = random_item_parameters(10, "rasch", np.random.default_rng(1))
    x = np.array([[1] * 10, [0] * 10, [1] * 5 + [-1] * 5])
    ml = ml_scores(params, x)
    assert_allclose(ml.theta, [6.0, -6.0, 6.0])  # exactly the bound, by the documented rule
    assert ml.at_bound.all()
    assert np.all(np.isfinite(ml.se)) and np.all(ml.se > 1.0)  # finite but large at the bound
    narrow = ml_scores(params, x, theta_bounds=(-4.0, 4.0))
    assert_allclose(narrow.theta, [4.0, -4.0, 4.0])
    wle = wle_scores(params, x)
    assert not wle.at_bound.any()  # Warm's correction makes extreme Rasch patterns finite
    assert 2.0 < wle.theta[0] < 6.0 and -6.0 < wle.theta[1] < -2.0


def test_persons_without_responses_get_the_prior_or_nan():
    params = random_item_parameters(8, "2pl", np.random.default_rng(2))
    x = np.array([[-1] * 8, [1, 0, 1, 0, 1, 0, 1, 0]])
    eap = eap_scores(params, x, prior_mean=0.7, prior_sd=1.3)
    # The posterior of an empty pattern is the prior; 61 nodes over +-6 SD integrate a normal's mean exactly
    # (symmetry) and its SD to about 2e-8 (the variance beyond +-6 SD is cut off).
    assert eap.theta[0] == pytest.approx(0.7, abs=1e-12)
    assert eap.se[0] == pytest.approx(1.3, rel=1e-7)
    map_ = map_scores(params, x, prior_mean=0.7, prior_sd=1.3)
    assert (map_.theta[0], map_.se[0]) == (0.7, 1.3)
    assert np.isnan(ml_scores(params, x).theta[0]) and np.isnan(wle_scores(params, x).se[0])
    assert np.isfinite(ml_scores(params, x).theta[1])


def test_eap_matches_adaptive_numerical_integration(rng, mixed_items):
    x = simulate_responses(mixed_items, rng.normal(size=3), rng, missing_rate=0.2)
    result = eap_scores(mixed_items, x, prior_mean=0.3, prior_sd=0.9, n_quad=121)
    for n in range(3):
        mean, sd = _pattern_posterior_moments(mixed_items, x[n], 0.3, 0.9)
        # 121 equally spaced nodes (step 0.09 on the prior's scale) integrate these smooth, unimodal
        # posteriors with SD >= 0.2 to about 1e-9 (the rectangle rule converges geometrically on analytic
        # integrands).
        assert result.theta[n] == pytest.approx(mean, abs=1e-7)
        assert result.se[n] == pytest.approx(sd, abs=1e-7)


def test_default_61_point_eap_is_close_to_exact_integration(rng, mixed_items):
    x = simulate_responses(mixed_items, rng.normal(size=2), rng)
    result = eap_scores(mixed_items, x)
    for n in range(2):
        mean, sd = _pattern_posterior_moments(mixed_items, x[n])
        # mirt's grid (61 points, step 0.2): posterior SDs near 0.3 on 30 items leave errors around 1e-5.
        assert result.theta[n] == pytest.approx(mean, abs=1e-3)
        assert result.se[n] == pytest.approx(sd, abs=1e-3)


def test_unknown_method_and_bad_prior_are_refused():
    params = random_item_parameters(3, "2pl", np.random.default_rng(3))
    with pytest.raises(ValueError, match="method must be one of"):
        score_responses(params, np.zeros((1, 3), dtype=int), "bayes")
    with pytest.raises(ValueError, match="prior_sd"):
        eap_scores(params, np.zeros((1, 3), dtype=int), prior_sd=0.0)
    with pytest.raises(ValueError, match="out of range"):
        eap_scores(params, np.full((1, 3), 2))


# ---------------------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------------------

two_pl_tests = st.integers(min_value=2, max_value=10).flatmap(
    lambda j: st.tuples(
        st.lists(st.floats(0.3, 3.0), min_size=j, max_size=j),
        st.lists(st.floats(-3.0, 3.0), min_size=j, max_size=j),
        st.lists(st.integers(0, 1), min_size=j, max_size=j),
        st.integers(0, j - 1),
    )
)


def _two_pl(a, b):
    return ItemParameters.from_arrays([f"i{j}" for j in range(len(a))], "2pl", a, b)


@settings(max_examples=40, deadline=None)
@given(two_pl_tests)
def test_eap_does_not_decrease_when_a_wrong_answer_becomes_right(case):
    a, b, pattern, flip = case
    params = _two_pl(a, b)
    before = np.array(pattern)
    before[flip] = 0
    after = before.copy()
    after[flip] = 1
    theta = eap_scores(params, np.vstack([before, after])).theta
    # With a > 0 the likelihood ratio of the two patterns increases in theta, so the posterior mean cannot
    # fall; 1e-12 absorbs rounding when the extra item carries almost no information.
    assert theta[1] >= theta[0] - 1e-12


@settings(max_examples=25, deadline=None)
@given(two_pl_tests, st.randoms(use_true_random=False), st.sampled_from(METHODS))
def test_scores_do_not_depend_on_item_order(case, random, method):
    a, b, pattern, _ = case
    params = _two_pl(a, b)
    order = list(range(len(a)))
    random.shuffle(order)
    x = np.array([pattern])
    first = score_responses(params, x, method)
    second = score_responses(params.subset(order), x[:, order], method)
    # Sums over items in another order differ only by rounding.
    assert_allclose(second.theta, first.theta, atol=1e-8)
    assert_allclose(second.se, first.se, rtol=1e-8)


@settings(max_examples=25, deadline=None)
@given(two_pl_tests, st.sampled_from(METHODS))
def test_standard_errors_are_positive_and_finite(case, method):
    a, b, pattern, _ = case
    result = score_responses(_two_pl(a, b), np.array([pattern]), method)
    assert np.all(result.se > 0) and np.all(np.isfinite(result.se)) and np.all(np.isfinite(result.theta))


# ---------------------------------------------------------------------------------------------------------
# Sum scores and reliability
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def small_mixed():
    """Six items, 2^4 * 3^2 = 144 response patterns: small enough to enumerate."""
    return ItemParameters.from_arrays(
        ["d1", "d2", "d3", "g1", "p1", "p2"],
        ["2pl", "2pl", "3pl", "rasch", "grm", "gpcm"],
        [1.2, 0.7, 1.6, 1.0, 1.4, 0.9],
        [[-0.5, np.nan], [0.8, np.nan], [0.2, np.nan], [-1.1, np.nan], [-0.6, 0.9], [0.4, -0.3]],
        [0, 0, 0.2, 0, 0, 0],
    )


def test_lord_wingersky_matches_enumeration_of_all_patterns(small_mixed):
    theta = np.array([-1.5, 0.0, 2.0])
    p = category_probabilities(small_mixed, theta)
    dist = lord_wingersky(p, small_mixed.n_categories)
    brute = np.zeros_like(dist)
    for pattern in itertools.product(*(range(k) for k in small_mixed.n_categories)):
        prob = np.prod([p[:, j, k] for j, k in enumerate(pattern)], axis=0)
        brute[:, sum(pattern)] += prob
    assert_allclose(dist, brute, rtol=1e-12, atol=1e-15)  # same sums in another order: rounding only


def test_sum_score_table_matches_brute_force_posterior(small_mixed):
    table = sum_score_table(small_mixed, prior_mean=0.2, prior_sd=1.1)
    nodes, weights = quadrature(61, 0.2, 1.1)
    patterns = np.array(list(itertools.product(*(range(k) for k in small_mixed.n_categories))))
    like = np.exp(log_likelihood(small_mixed, patterns, nodes))  # (144, Q)
    for s in range(int(patterns.sum(axis=1).max()) + 1):
        joint = like[patterns.sum(axis=1) == s].sum(axis=0) * weights
        mean = np.sum(joint * nodes) / joint.sum()
        sd = np.sqrt(np.sum(joint * (nodes - mean) ** 2) / joint.sum())
        # Same quadrature, patterns summed before instead of after: agreement to rounding.
        assert table.theta[s] == pytest.approx(mean, abs=1e-12)
        assert table.se[s] == pytest.approx(sd, abs=1e-12)
        assert table.probability[s] == pytest.approx(joint.sum(), rel=1e-10)
    assert table.probability.sum() == pytest.approx(1.0, abs=1e-12)


def test_sum_score_eap_uses_the_table_and_leaves_incomplete_patterns_out(small_mixed):
    x = np.array([[1, 0, 1, 1, 2, 0], [0, 0, 0, 0, 0, 0], [1, -1, 1, 1, 2, 0]])
    result = eap_sum_scores(small_mixed, x)
    table = sum_score_table(small_mixed)
    assert_allclose(result.theta[:2], table.theta[[5, 0]])
    assert np.isnan(result.theta[2])


def test_marginal_reliability_agrees_with_the_empirical_reliability_of_eap_scores(rng):
    params = random_item_parameters(25, "2pl", rng)
    theoretical = marginal_reliability(params)
    x = simulate_responses(params, rng.normal(size=20000), rng)
    eap = eap_scores(params, x)
    # For EAP, var(theta_hat) + mean(se^2) = prior variance, so both estimate the same ratio; 20,000 persons
    # give the empirical value a sampling error near 0.003.
    assert empirical_reliability(eap.theta, eap.se) == pytest.approx(theoretical, abs=0.015)
    assert 0.5 < theoretical < 1.0
    assert marginal_reliability(params.subset(np.arange(10))) < theoretical  # fewer items, less reliable


def test_information_curves_wrap_the_model_information(mixed_items):
    grid = np.linspace(-3, 3, 13)
    curves = information_curves(mixed_items, grid)
    assert_allclose(curves.test, test_information(mixed_items, grid), rtol=1e-14)  # same computation
    assert_allclose(curves.item.sum(axis=1), curves.test, rtol=1e-14)
    assert_allclose(curves.sem, 1 / np.sqrt(curves.test), rtol=1e-14)
    assert_allclose(conditional_sem(mixed_items, grid), curves.sem)
    assert information_curves(mixed_items).theta.shape == (81,)


def test_person_information_counts_only_presented_items(mixed_items):
    x = np.full((2, mixed_items.n_items), -1)
    x[0, :5] = 0
    x[1, 5:] = 0
    info = person_information(mixed_items, [0.4, 0.4], x)
    expected = [
        test_information(mixed_items.subset(np.arange(5)), [0.4])[0],
        test_information(mixed_items.subset(np.arange(5, 30)), [0.4])[0],
    ]
    assert_allclose(info, expected, rtol=1e-12)  # same sums, rounding only
