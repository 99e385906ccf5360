"""Response models: probabilities, likelihoods, analytic gradients and information vs numerical truths."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from item_bank.irt import models
from item_bank.irt.models import (
    DICHOTOMOUS,
    MODELS,
    ItemParameters,
    category_probabilities,
    check_responses,
    expected_score,
    item_information,
    log_likelihood,
    log_likelihood_gradient,
    random_item_parameters,
    simulate_responses,
)

THETA = np.linspace(-4.0, 4.0, 17)


@pytest.fixture
def mixed_items() -> ItemParameters:
    """One item of every model with c > 0 on the 3pl and 3 to 5 categories on the polytomous items."""
    rng = np.random.default_rng(11)
    return random_item_parameters(
        7, ["rasch", "1pl", "2pl", "3pl", "grm", "gpcm", "pcm"], rng, n_categories=[2, 2, 2, 2, 5, 4, 3]
    )


def _with(params: ItemParameters, j: int, field: str, k: int, delta: float) -> ItemParameters:
    a, b, c = params.a.copy(), params.b.copy(), params.c.copy()
    {"a": a, "c": c}.get(field, b)[(j, k) if field == "b" else j] += delta
    return ItemParameters(params.item_ids, params.model, a, b, c)


def test_probabilities_sum_to_one_and_vanish_beyond_each_items_categories(mixed_items):
    p = category_probabilities(mixed_items, THETA)
    assert p.shape == (THETA.size, 7, 5)
    # Sums of at most five probabilities in float64: exact up to a few ulp.
    assert_allclose(p.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    for j, k in enumerate(mixed_items.n_categories):
        assert_array_equal(p[:, j, k:], 0.0)
    assert (p >= 0).all()


def test_dichotomous_probability_follows_the_logistic_formula_without_scaling_constant():
    params = ItemParameters.from_arrays(["x"], "3pl", [1.3], [0.4], [0.2])
    p1 = category_probabilities(params, THETA)[:, 0, 1]
    # Written out independently of the implementation: no 1.702 anywhere.
    assert_allclose(p1, 0.2 + 0.8 / (1 + np.exp(-1.3 * (THETA - 0.4))), rtol=1e-13)


def test_grm_and_gpcm_probabilities_follow_their_textbook_formulas():
    grm = ItemParameters.from_arrays(["g"], "grm", [1.5], [[-1.0, 0.2, 1.1]])
    star = 1 / (1 + np.exp(-1.5 * (THETA[:, None] - np.array([-1.0, 0.2, 1.1]))))
    bounds = np.column_stack([np.ones_like(THETA), star, np.zeros_like(THETA)])
    assert_allclose(category_probabilities(grm, THETA)[:, 0, :], bounds[:, :-1] - bounds[:, 1:], rtol=1e-12)
    gpcm = ItemParameters.from_arrays(["p"], "gpcm", [0.8], [[0.5, -0.3, 1.0]])
    z = np.cumsum(np.column_stack([np.zeros_like(THETA)] + [0.8 * (THETA - b) for b in (0.5, -0.3, 1.0)]), 1)
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert_allclose(category_probabilities(gpcm, THETA)[:, 0, :], expected, rtol=1e-12)


def test_log_likelihood_is_the_sum_of_log_probabilities_of_observed_responses(mixed_items):
    rng = np.random.default_rng(3)
    x = simulate_responses(mixed_items, rng.normal(size=40), rng, missing_rate=0.3)
    ll = log_likelihood(mixed_items, x, THETA)
    p = category_probabilities(mixed_items, THETA)
    direct = np.zeros((40, THETA.size))
    for n in range(40):
        for j in range(7):
            if x[n, j] >= 0:
                direct[n] += np.log(p[:, j, x[n, j]])
    # Same float64 logs summed in a different order.
    assert_allclose(ll, direct, rtol=1e-10)


@pytest.mark.parametrize("model", MODELS)
def test_analytic_gradient_matches_central_differences(model):
    rng = np.random.default_rng(MODELS.index(model))
    params = random_item_parameters(3, model, rng, n_categories=4)
    theta = rng.normal(size=300)
    x = simulate_responses(params, theta, rng, missing_rate=0.1)
    grad_a, grad_b, grad_c = log_likelihood_gradient(params, x, theta)

    def total(p: ItemParameters) -> float:
        return float(np.trace(log_likelihood(p, x, theta)))  # person n at its own theta_n

    h = 1e-5
    for j in range(3):
        fields = [("a", 0, grad_a[j])]
        fields += [("b", k, grad_b[j, k]) for k in range(int(params.n_categories[j]) - 1)]
        if model == "3pl":
            fields.append(("c", 0, grad_c[j]))
        for field, k, analytic in fields:
            numeric = (total(_with(params, j, field, k, h)) - total(_with(params, j, field, k, -h))) / (2 * h)
            # Central differences of a sum of ~300 log-probabilities: truncation ~h^2, rounding ~1e-16*|l|/h.
            assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6)
    if model != "3pl":
        assert np.isnan(grad_c).all()


@pytest.mark.parametrize("family", ["dich", "grm", "gpcm"])
def test_slope_intercept_jacobian_used_by_the_m_step_matches_central_differences(family):
    rng = np.random.default_rng(5)
    k = 2 if family == "dich" else 4
    a = rng.uniform(0.5, 2.0, 3)
    d = np.sort(rng.normal(size=(3, k - 1)), axis=1)[:, ::-1].copy()  # decreasing: a valid grm
    c = np.array([0.15, 0.0, 0.3]) if family == "dich" else np.zeros(3)
    _, dp_da, dp_dd, dp_dg = models._kernel_jacobian(family, a, d, c, THETA)
    h = 1e-6
    num_a = (
        models._kernel_probabilities(family, a + h, d, c, THETA)
        - models._kernel_probabilities(family, a - h, d, c, THETA)
    ) / (2 * h)
    # Probabilities are O(1) and smooth: central differences are good to ~1e-9.
    assert_allclose(dp_da, num_a, atol=1e-8)
    for v in range(k - 1):
        e = np.zeros_like(d)
        e[:, v] = h
        num = (
            models._kernel_probabilities(family, a, d + e, c, THETA)
            - models._kernel_probabilities(family, a, d - e, c, THETA)
        ) / (2 * h)
        assert_allclose(dp_dd[..., v], num, atol=1e-8)
    if family == "dich":
        g = np.log(c[[0, 2]] / (1 - c[[0, 2]]))
        cp, cm = 1 / (1 + np.exp(-(g + h))), 1 / (1 + np.exp(-(g - h)))
        a2, d2 = a[[0, 2]], d[[0, 2]]
        num_g = (
            models._kernel_probabilities(family, a2, d2, cp, THETA)
            - models._kernel_probabilities(family, a2, d2, cm, THETA)
        ) / (2 * h)
        assert_allclose(dp_dg[[0, 2]], num_g, atol=1e-8)
        assert_array_equal(dp_dg[1], 0.0)  # c = 0: no guessing parameter to move


def test_item_information_equals_expected_negative_second_derivative(mixed_items):
    h = 1e-4
    p = category_probabilities(mixed_items, THETA)
    logp = [
        np.log(np.maximum(category_probabilities(mixed_items, THETA + s * h), 1e-300)) for s in (-1, 0, 1)
    ]
    second = (logp[2] - 2 * logp[1] + logp[0]) / h**2
    expected_info = -(np.where(p > 0, p * second, 0.0)).sum(axis=2)
    # Second central difference: truncation ~h^2 = 1e-8, rounding ~1e-16/h^2 = 1e-8 relative.
    assert_allclose(item_information(mixed_items, THETA), expected_info, rtol=1e-5, atol=1e-7)
    assert_allclose(models.test_information(mixed_items, THETA), expected_info.sum(axis=1), rtol=1e-5)


def test_two_pl_information_is_a_squared_p_q():
    params = ItemParameters.from_arrays(["x"], "2pl", [1.7], [0.3])
    p1 = category_probabilities(params, THETA)[:, 0, 1]
    assert_allclose(item_information(params, THETA)[:, 0], 1.7**2 * p1 * (1 - p1), rtol=1e-12)


def test_expected_score_is_the_probability_weighted_category(mixed_items):
    p = category_probabilities(mixed_items, THETA)
    assert_allclose(expected_score(mixed_items, THETA), (p * np.arange(5)).sum(axis=2), rtol=1e-14)


def test_simulated_responses_follow_the_model_and_the_missing_rate():
    rng = np.random.default_rng(8)
    params = ItemParameters.from_arrays(["g"], "grm", [1.2], [[-1.0, 0.0, 1.0]])
    theta = np.full(200_000, 0.5)
    x = simulate_responses(params, theta, rng, missing_rate=0.25)
    observed = x[x >= 0]
    # 200,000 draws: binomial standard errors of the rates are ~0.001.
    assert_allclose((x < 0).mean(), 0.25, atol=0.005)
    freq = np.bincount(observed, minlength=4) / observed.size
    assert_allclose(freq, category_probabilities(params, [0.5])[0, 0], atol=0.005)


def test_random_item_parameters_are_in_the_documented_ranges():
    rng = np.random.default_rng(1)
    p = random_item_parameters(300, ["2pl"] * 100 + ["3pl"] * 100 + ["grm"] * 100, rng)
    assert ((p.a >= 0.4) & (p.a <= 3.0)).all()
    assert ((p.c[100:200] >= 0.05) & (p.c[100:200] <= 0.30)).all()
    assert (p.c[:100] == 0).all()
    assert_array_equal(p.n_categories, [2] * 200 + [5] * 100)
    assert (np.diff(p.b[200:], axis=1) > 0).all()
    one = random_item_parameters(5, "1pl", rng)
    assert np.unique(one.a).size == 1


def test_item_parameters_are_immutable_and_subset_by_id_index_or_mask(mixed_items):
    with pytest.raises(ValueError, match="read-only"):
        mixed_items.a[0] = 2.0
    by_id = mixed_items.subset([mixed_items.item_ids[4], mixed_items.item_ids[0]])
    assert by_id.item_ids == (mixed_items.item_ids[4], mixed_items.item_ids[0])
    assert by_id.b.shape == (2, 4)
    assert_array_equal(mixed_items.subset([1, 2]).a, mixed_items.a[1:3])
    mask = np.array([m in DICHOTOMOUS for m in mixed_items.model])
    assert mixed_items.subset(mask).max_categories == 2
    assert mixed_items.n_items == 7
    assert mixed_items.max_categories == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "4pl"}, "item 'q1': model must be one of"),
        ({"a": [np.nan]}, "item 'q1': field 'a' must be finite"),
        ({"model": "grm", "b": [[0.5, -0.5]]}, "item 'q1': field 'b' of a grm item must increase"),
        ({"model": "3pl", "c": [1.2]}, r"item 'q1': field 'c' must lie in \[0, 1\)"),
        ({"c": [0.2]}, "item 'q1': field 'c' must be 0 for a 2pl item"),
        ({"model": "gpcm", "b": [[0.1, np.nan, 0.3]]}, "item 'q1': field 'b' needs its"),
        ({"b": [[0.1, 0.2]]}, "item 'q1': field 'b' of a 2pl item must hold one difficulty"),
    ],
)
def test_invalid_parameters_raise_naming_the_item_and_field(kwargs, message):
    args = {"item_ids": ["q1"], "model": "2pl", "a": [1.0], "b": [0.0], "c": None} | kwargs
    with pytest.raises(ValueError, match=message):
        ItemParameters.from_arrays(**args)


def test_duplicate_ids_and_length_mismatches_are_rejected():
    with pytest.raises(ValueError, match="item 'q1': item_ids must be unique"):
        ItemParameters.from_arrays(["q1", "q1"], "2pl", [1, 1], [0, 0])
    with pytest.raises(ValueError, match="field 'a' has 1 entries but there are 2 item_ids"):
        ItemParameters.from_arrays(["q1", "q2"], "2pl", [1], [0, 0])


def test_responses_out_of_range_are_rejected_naming_the_item(mixed_items):
    x = np.zeros((2, 7), dtype=int)
    x[1, 6] = 3  # the pcm item has categories 0..2
    with pytest.raises(ValueError, match=f"item {mixed_items.item_ids[6]!r}: response 3 is out of range"):
        check_responses(mixed_items, x)
    with pytest.raises(ValueError, match="responses must have shape"):
        check_responses(mixed_items, np.zeros((2, 6), dtype=int))
    nan_missing = np.zeros((2, 7))
    nan_missing[0, 0] = np.nan
    assert check_responses(mixed_items, nan_missing)[0, 0] == -1


def test_tail_probabilities_keep_full_relative_precision():
    theta = np.array([-6.0, 6.0])
    grm = ItemParameters.from_arrays(["g"], "grm", [2.5], [[-2.0, 0.0, 2.0]])
    p = category_probabilities(grm, theta)[:, 0, :]
    # P(X = 0 | theta = 6) = logistic(-2.5 * 8) ~ 2e-9: computed as a difference of complements, not 1 - P*.
    assert_allclose(p[1, 0], 1 / (1 + np.exp(2.5 * 8)), rtol=1e-12)
    assert_allclose(p[0, 3], 1 / (1 + np.exp(2.5 * 8)), rtol=1e-12)
    two = ItemParameters.from_arrays(["d"], "2pl", [2.0], [-2.0])
    assert_allclose(category_probabilities(two, [6.0])[0, 0, 0], 1 / (1 + np.exp(16.0)), rtol=1e-12)
