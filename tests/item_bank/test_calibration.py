"""MML-EM calibration: published reference estimates, parameter recovery, SEs, linking designs, contract."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from item_bank.irt.calibration import Calibrator
from item_bank.irt.models import (
    ItemParameters,
    log_likelihood,
    random_item_parameters,
    simulate_responses,
)

PATTERNS = np.array(list(itertools.product([0, 1], repeat=5)))

# LSAT section 7 (Bock & Lieberman, 1970): the 32 response patterns of five items in the order of
# PATTERNS (00000, 00001, ..., 11111) with their frequencies, 1000 persons, as tabulated in mirt's `LSAT7`
# data set. The sum-score distribution 12/40/114/205/321/308 is printed in mirt's own test suite
# (tests/testthat/test-01-mirtOne.R, EAPsum table); the test below checks it.
LSAT7_FREQ = [12, 19, 1, 7, 3, 19, 3, 17, 10, 5, 3, 7, 7, 23, 8, 28,
              7, 39, 11, 34, 14, 51, 15, 90, 6, 25, 7, 35, 18, 136, 32, 308]  # fmt: skip
# LSAT section 6 (Thissen, 1982; Bock & Lieberman, 1970), same order; patterns 01010 and 01100 never occur.
# Frequencies as printed by ltm's `ltm(LSAT ~ z1)` factor-score table ("Obs" column).
LSAT6_FREQ = [3, 6, 2, 11, 1, 1, 3, 4, 1, 8, 0, 16, 0, 3, 2, 15,
              10, 29, 14, 81, 3, 28, 15, 80, 16, 56, 21, 173, 11, 61, 28, 298]  # fmt: skip


@pytest.fixture(scope="module")
def lsat7() -> np.ndarray:
    return np.repeat(PATTERNS, LSAT7_FREQ, axis=0)


@pytest.fixture(scope="module")
def lsat6() -> np.ndarray:
    return np.repeat(PATTERNS, LSAT6_FREQ, axis=0)


def _intercepts(params: ItemParameters) -> np.ndarray:
    return -params.a * params.b[:, 0]


def _se_of_intercepts(cal: Calibrator) -> np.ndarray:
    """Delta-method SE of d = -a b from the reported covariance of (a, b)."""
    names, cov, p = cal.parameter_names_, cal.covariance_, cal.params_
    out = []
    for j, item in enumerate(p.item_ids):
        ix = [names.index(f"{item}.a"), names.index(f"{item}.b")]
        grad = np.array([-p.b[j, 0], -p.a[j]])
        out.append(np.sqrt(grad @ cov[np.ix_(ix, ix)] @ grad))
    return np.array(out)


# ---------------------------------------------------------------------------------------------------------
# Published reference estimates
# ---------------------------------------------------------------------------------------------------------


def test_lsat7_table_reproduces_the_published_sum_score_distribution(lsat7):
    assert lsat7.shape == (1000, 5)
    assert_array_equal(np.bincount(lsat7.sum(axis=1)), [12, 40, 114, 205, 321, 308])


def test_lsat7_two_pl_agrees_with_mirt_to_two_decimals(lsat7):
    cal = Calibrator("2pl").fit(lsat7)
    # mirt 1.x, `mirt(expand.table(LSAT7), 1)` (EM, 61 nodes, TOL 1e-4): slopes a1 and intercepts d, as
    # asserted in mirt's tests/testthat/test-01-mirtOne.R ('dich'). "Two decimals": |difference| < 0.005.
    assert_allclose(cal.params_.a, [0.988, 1.081, 1.706, 0.7651, 0.7358], atol=0.005)
    assert_allclose(_intercepts(cal.params_), [1.8561, 0.808, 1.8043, 0.486, 1.8545], atol=0.005)
    assert cal.converged_
    assert cal.n_parameters_ == 10
    assert_allclose(cal.aic_, -2 * cal.log_likelihood_ + 20, rtol=1e-12)
    assert_allclose(cal.bic_, -2 * cal.log_likelihood_ + 10 * np.log(1000), rtol=1e-12)


def test_lsat7_two_pl_standard_errors_agree_with_mirt_richardson(lsat7):
    cal = Calibrator("2pl").fit(lsat7)
    # mirt's `SE.type = 'Richardson'` (numerical Hessian of the marginal log-likelihood) prints 95% intervals
    # in the same test file; SE = half-width / 1.959964. E.g. a1: (1.3354 - 0.6406) / 2 / 1.959964 = 0.1772.
    # The intervals are printed to 4 decimals, so the SEs carry ~3e-5 rounding: compare to 0.002.
    half = np.array([[0.6406, 1.3354], [0.7501, 1.4119], [1.0779, 2.334], [0.5022, 1.028], [0.4395, 1.032]])
    se_a = (half[:, 1] - half[:, 0]) / 2 / 1.959964
    half_d = np.array(
        [[1.5984, 2.1138], [0.6291, 0.9869], [1.4036, 2.205], [0.3392, 0.6328], [1.6302, 2.0787]]
    )
    se_d = (half_d[:, 1] - half_d[:, 0]) / 2 / 1.959964
    assert_allclose(cal.se_.a, se_a, atol=0.002)
    assert_allclose(_se_of_intercepts(cal), se_d, atol=0.002)


def test_lsat7_one_pl_common_slope_agrees_with_mirt(lsat7):
    cal = Calibrator("1pl").fit(lsat7)
    # mirt with CONSTRAIN = (1-5, a1), same test file: common a 1.011, d = 1.868 0.791 1.461 0.521 1.993.
    assert_allclose(cal.params_.a, 1.011, atol=0.005)
    assert_allclose(_intercepts(cal.params_), [1.868, 0.791, 1.461, 0.521, 1.993], atol=0.005)
    assert cal.n_parameters_ == 6


def test_lsat6_rasch_agrees_with_mirt_and_ltm(lsat6):
    cal = Calibrator("rasch").fit(lsat6)
    # mirt `itemtype = 'Rasch'` on LSAT6 (same test file): d = 2.73 0.999 0.24 1.306 2.099 and latent
    # variance 0.57. Equivalently ltm's rasch(LSAT): common slope sqrt(0.57) = 0.755.
    assert_allclose(-cal.params_.b[:, 0], [2.73, 0.999, 0.24, 1.306, 2.099], atol=0.005)
    assert_allclose(cal.latent_sd_**2, [0.57], atol=0.005)
    assert_allclose(cal.params_.a, 1.0)
    assert np.isnan(cal.se_.a).all()
    # mirt's SEM interval for the variance, (0.371, 0.77): SE ~0.10; ours is exact, the SEM one approximate.
    se_var = 2 * cal.latent_sd_[0] * cal.latent_se_[0, 1]
    assert_allclose(se_var, (0.77 - 0.371) / 2 / 1.959964, atol=0.01)


def test_lsat6_two_pl_agrees_with_ltm_to_two_decimals(lsat6):
    cal = Calibrator("2pl").fit(lsat6)
    # ltm `ltm(LSAT ~ z1, IRT.param = TRUE)` output (21 Gauss-Hermite nodes, hence agreement to ~1e-3 only):
    # Dffclt -3.3597 -1.3696 -0.2799 -1.8659 -3.1236, Dscrmn 0.8254 0.7229 0.8905 0.6886 0.6575.
    assert_allclose(cal.params_.b[:, 0], [-3.3597, -1.3696, -0.2799, -1.8659, -3.1236], atol=0.005)
    assert_allclose(cal.params_.a, [0.8254, 0.7229, 0.8905, 0.6886, 0.6575], atol=0.005)


def test_lsat7_three_pl_without_prior_is_at_least_as_good_as_mirt(lsat7):
    cal = Calibrator("3pl", c_prior=None).fit(lsat7)
    # mirt `mirt(dat, 1, '3PL')` (no prior), tests/testthat/test-15-IRTpars.R: intercepts d, IRT b, and
    # logit(g) = -0.8709602 for item 2; the other four c go to 0, where the likelihood is flat along a ridge.
    d = np.array([1.8656, 0.0940, 1.7805, 0.4819, 1.8685])
    b = np.array([-1.8529, -0.0488, -1.0684, -0.6546, -2.4355])
    c = np.array([0.0, 1 / (1 + np.exp(0.8709602)), 0.0, 0.0, 0.0])
    mirt = ItemParameters.from_arrays(cal.params_.item_ids, "3pl", -d / b, b, c)
    nodes = cal.quadrature_nodes_
    logw = -0.5 * nodes**2 - logsumexp(-0.5 * nodes**2)
    mirt_loglik = logsumexp(log_likelihood(mirt, lsat7, nodes) + logw, axis=1).sum()
    # Same maximum up to mirt's earlier stop on the ridge: our log-likelihood is not lower (mirt's printed
    # values are rounded to 4 decimals, worth ~1e-5 in log-likelihood) and the estimates agree to 0.02.
    assert cal.log_likelihood_ >= mirt_loglik - 1e-4
    assert_allclose(_intercepts(cal.params_), d, atol=0.02)
    assert_allclose(cal.params_.b[:, 0], b, atol=0.02)
    assert_allclose(cal.params_.c, c, atol=0.01)


# ---------------------------------------------------------------------------------------------------------
# Parameter recovery on simulated data
# ---------------------------------------------------------------------------------------------------------


def _recovery(model, n_persons, n_items, missing, seed, **kwargs):
    rng = np.random.default_rng(seed)
    truth = random_item_parameters(n_items, model, rng, n_categories=kwargs.pop("n_categories", 5))
    x = simulate_responses(truth, rng.normal(size=n_persons), rng, missing_rate=missing)
    cal = Calibrator(model, **kwargs).fit(x)
    return truth, cal


def _z(estimate, truth, se):
    ok = np.isfinite(se)
    return (estimate[ok] - truth[ok]) / se[ok]


@pytest.mark.parametrize("missing", [0.0, 0.15])
@pytest.mark.parametrize(
    ("model", "n_persons", "n_items"),
    [("rasch", 2000, 15), ("2pl", 3000, 15), ("3pl", 8000, 15), ("grm", 2000, 10), ("gpcm", 2000, 10),
     ("pcm", 2000, 10)],
)  # fmt: skip
def test_parameters_are_recovered_within_their_standard_errors(model, n_persons, n_items, missing):
    truth, cal = _recovery(model, n_persons, n_items, missing, seed=len(model) * 100 + int(missing * 100))
    assert cal.converged_
    z = np.concatenate(
        [_z(cal.params_.a, truth.a, cal.se_.a), _z(cal.params_.b, truth.b, cal.se_.b)]
        + ([_z(cal.params_.c, truth.c, cal.se_.c)] if model == "3pl" else [])
    )
    # Every estimate within 4 of its own standard errors of the truth (about 1 in 16,000 per parameter by
    # chance), and the z-scores' mean square near 1 (it is a chi-square/df with 30-60 df: 0.5..1.7 is
    # ~99.9 % coverage). The 3pl c-prior shrinks c towards 0.2, so its z-scores are only bounded.
    assert np.abs(z).max() < 4
    if model != "3pl":
        assert 0.5 < np.mean(z**2) < 1.7
    if model in ("rasch", "pcm"):
        # theta ~ N(0, 1) in the simulation, estimated variance with a = 1 (the scale of the truth).
        assert_allclose(cal.latent_sd_, [1.0], atol=0.06)


def test_mixed_two_pl_and_grm_items_are_calibrated_in_one_run():
    rng = np.random.default_rng(21)
    models = ["2pl"] * 8 + ["grm"] * 6
    truth = random_item_parameters(14, models, rng, n_categories=4)
    x = simulate_responses(truth, rng.normal(size=3000), rng, missing_rate=0.1)
    cal = Calibrator(models).fit(x)
    assert cal.params_.model == tuple(models)
    assert_array_equal(cal.params_.n_categories, [2] * 8 + [4] * 6)
    z = np.concatenate([_z(cal.params_.a, truth.a, cal.se_.a), _z(cal.params_.b, truth.b, cal.se_.b)])
    assert np.abs(z).max() < 4  # as in the single-model recovery test
    assert 0.5 < np.mean(z**2) < 1.7


def test_one_pl_recovers_the_common_slope():
    truth, cal = _recovery("1pl", 3000, 12, 0.1, seed=4)
    assert np.unique(cal.params_.a).size == 1
    # One slope from 36,000 responses: its SE is ~0.02; 4 SEs.
    assert abs(cal.params_.a[0] - truth.a[0]) < 4 * cal.se_.a[0]
    assert np.abs(_z(cal.params_.b, truth.b, cal.se_.b)).max() < 4


def test_fixed_parameter_calibration_puts_new_items_on_the_bank_scale():
    rng = np.random.default_rng(31)
    bank = random_item_parameters(20, "2pl", rng, item_ids=[f"bank{j}" for j in range(20)])
    new = random_item_parameters(6, ["2pl"] * 3 + ["grm"] * 3, rng, n_categories=4,
                                 item_ids=[f"new{j}" for j in range(6)])  # fmt: skip
    everything = ItemParameters(
        bank.item_ids + new.item_ids,
        bank.model + new.model,
        np.r_[bank.a, new.a],
        np.vstack([np.c_[bank.b, np.full((20, 2), np.nan)], new.b]),
        np.r_[bank.c, new.c],
    )
    # This year's candidates are stronger and more spread out than the bank's calibration population.
    theta = rng.normal(0.5, 1.3, size=4000)
    x = simulate_responses(everything, theta, rng, missing_rate=0.0)
    cal = Calibrator(list(everything.model), fixed=bank).fit(x, item_ids=list(everything.item_ids))
    # Mean and sd of 4000 draws: sampling SE ~0.02 (mean) and ~0.015 (sd) plus estimation error: 0.07.
    assert_allclose(cal.latent_mean_, [0.5], atol=0.07)
    assert_allclose(cal.latent_sd_, [1.3], atol=0.07)
    assert_array_equal(cal.params_.a[:20], bank.a)  # held exactly
    assert np.isnan(cal.se_.a[:20]).all()
    z = np.concatenate([_z(cal.params_.a[20:], new.a, cal.se_.a[20:]),
                        _z(cal.params_.b[20:, :3], new.b, cal.se_.b[20:, :3])])  # fmt: skip
    assert np.abs(z).max() < 4  # new items on the bank scale within 4 SEs
    assert np.isfinite(cal.latent_se_).all()


def test_multiple_group_calibration_recovers_focal_mean_and_sd():
    rng = np.random.default_rng(41)
    truth = random_item_parameters(20, "2pl", rng)
    groups = np.repeat(["ref", "focal"], [3000, 3000])
    theta = np.r_[rng.normal(0, 1, 3000), rng.normal(-0.6, 0.8, 3000)]
    x = simulate_responses(truth, theta, rng, missing_rate=0.05)
    cal = Calibrator("2pl").fit(x, groups=groups, reference_group="ref")
    assert cal.groups_ == ("ref", "focal")
    assert_allclose(cal.latent_mean_[0], 0.0)
    assert_allclose(cal.latent_sd_[0], 1.0)
    # 3000 focal persons: SE of the mean ~0.03, of the sd ~0.02, plus linking error: 0.08.
    assert_allclose(cal.latent_mean_[1], -0.6, atol=0.08)
    assert_allclose(cal.latent_sd_[1], 0.8, atol=0.08)
    assert cal.latent_se_[1, 0] > 0 and cal.latent_se_[1, 1] > 0
    assert np.isnan(cal.latent_se_[0]).all()


def test_items_free_across_groups_get_one_parameter_set_per_group():
    rng = np.random.default_rng(43)
    truth = random_item_parameters(15, "2pl", rng)
    harder_first = truth.b + np.r_[0.8, np.zeros(14)][:, None]
    shifted = ItemParameters(truth.item_ids, truth.model, truth.a, harder_first, truth.c)
    x = np.vstack([
        simulate_responses(truth, rng.normal(0, 1, 3000), rng),
        simulate_responses(shifted, rng.normal(0.3, 1, 3000), rng),
    ])  # fmt: skip
    groups = np.repeat([0, 1], 3000)
    free = Calibrator("2pl", groups_free_items=[truth.item_ids[0]]).fit(x, groups=groups)
    same = Calibrator("2pl").fit(x, groups=groups)
    b_ref, b_focal = free.group_params_[0].b[0, 0], free.group_params_[1].b[0, 0]
    # The DIF item's difficulty differs by the simulated 0.8 (SE of the difference ~0.1); the others agree.
    assert_allclose(b_focal - b_ref, 0.8, atol=0.3)
    assert_array_equal(free.group_params_[0].b[1:], free.group_params_[1].b[1:])
    assert_allclose(free.latent_mean_[1], 0.3, atol=0.08)
    assert f"{truth.item_ids[0]}@1.b" in free.parameter_names_
    # Likelihood-ratio DIF statistic: freeing a truly shifted item improves the fit a lot (2 df).
    assert 2 * (free.log_likelihood_ - same.log_likelihood_) > 30
    assert free.n_parameters_ == same.n_parameters_ + 2


# ---------------------------------------------------------------------------------------------------------
# Standard errors against the numerical Hessian of the marginal log-likelihood
# ---------------------------------------------------------------------------------------------------------


def _marginal_objective(cal, x, groups, names, c_prior):
    """Marginal log-likelihood + log prior as a function of the named public parameters, written from
    models.log_likelihood and the normalised normal weights independently of the calibration code."""
    base = cal.group_params_
    labels = list(cal.groups_)
    nodes = cal.quadrature_nodes_

    def objective(vec):
        total = 0.0
        for g, label in enumerate(labels):
            p = base[label]
            a, b, c = p.a.copy(), p.b.copy(), p.c.copy()
            mean, sd = cal.latent_mean_[g], cal.latent_sd_[g]
            for value, name in zip(vec, names, strict=True):
                if name == f"mean@{label}":
                    mean = value
                elif name == f"sd@{label}":
                    sd = value
                elif "." in name:
                    item, field = name.split(".")
                    if "@" in item:
                        item, grp = item.split("@")
                        if grp != str(label):
                            continue
                    j = p.item_ids.index(item)
                    if field == "a":
                        a[j] = value
                    elif field == "c":
                        c[j] = value
                    else:
                        b[j, int(field[1:] or 1) - 1] = value
            params = ItemParameters(p.item_ids, p.model, a, b, c)
            logw = -0.5 * ((nodes - mean) / sd) ** 2
            logw -= logsumexp(logw)
            rows = groups == label if groups is not None else slice(None)
            total += logsumexp(log_likelihood(params, x[rows], nodes) + logw, axis=1).sum()
            if c_prior is not None and g == 0:
                is3 = np.array([m == "3pl" for m in p.model])
                total += ((c_prior[0] - 1) * np.log(c[is3]) + (c_prior[1] - 1) * np.log1p(-c[is3])).sum()
        return total

    return objective


def _numerical_covariance(objective, point, h=1e-4):
    n = point.size
    hess = np.zeros((n, n))
    f0 = objective(point)
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            if i == j:
                hess[i, i] = (objective(point + ei) - 2 * f0 + objective(point - ei)) / h**2
            else:
                hess[i, j] = hess[j, i] = (
                    objective(point + ei + ej) - objective(point + ei - ej)
                    - objective(point - ei + ej) + objective(point - ei - ej)
                ) / (4 * h * h)  # fmt: skip
    return np.linalg.inv(-hess)


def _public_point(cal):
    values = []
    for name in cal.parameter_names_:
        if name.startswith(("mean@", "sd@")):
            field, label = name.split("@")
            g = [str(lab) for lab in cal.groups_].index(label)
            values.append((cal.latent_mean_ if field == "mean" else cal.latent_sd_)[g])
            continue
        item, field = name.split(".")
        label = cal.groups_[0]
        if "@" in item:
            item, grp = item.split("@")
            label = next(lab for lab in cal.groups_ if str(lab) == grp)
        p = cal.group_params_[label]
        j = p.item_ids.index(item)
        values.append(p.a[j] if field == "a" else p.c[j] if field == "c" else p.b[j, int(field[1:] or 1) - 1])
    return np.array(values)


@pytest.mark.parametrize(
    "case",
    ["2pl+grm missing", "3pl with c prior", "rasch variance", "two groups, free item"],
)
def test_standard_errors_equal_the_inverse_numerical_hessian(case):
    rng = np.random.default_rng(7)
    groups = None
    if case == "2pl+grm missing":
        models = ["2pl", "2pl", "grm", "gpcm"]
        truth = random_item_parameters(4, models, rng, n_categories=3)
        x = simulate_responses(truth, rng.normal(size=600), rng, missing_rate=0.2)
        cal = Calibrator(models, tol=1e-8).fit(x)
    elif case == "3pl with c prior":
        truth = random_item_parameters(4, "3pl", rng)
        x = simulate_responses(truth, rng.normal(size=800), rng)
        cal = Calibrator("3pl", tol=1e-8).fit(x)
    elif case == "rasch variance":
        truth = random_item_parameters(4, "rasch", rng)
        x = simulate_responses(truth, rng.normal(0, 1.4, size=600), rng)
        cal = Calibrator("rasch", tol=1e-8).fit(x)
    else:
        truth = random_item_parameters(4, "2pl", rng)
        x = simulate_responses(truth, rng.normal(size=800), rng)
        groups = np.repeat(np.array(["a", "b"]), 400)
        cal = Calibrator("2pl", tol=1e-8, groups_free_items=[truth.item_ids[0]]).fit(x, groups=groups)
    assert cal.converged_
    point = _public_point(cal)
    c_prior = cal.c_prior if case == "3pl with c prior" else None
    objective = _marginal_objective(cal, x, groups, cal.parameter_names_, c_prior)
    numeric = _numerical_covariance(objective, point)
    # Exact Louis information vs a finite-difference Hessian (h = 1e-4 on a log-likelihood of ~2000):
    # differencing error ~1e-6 relative; the estimates sit within 1e-8 of the optimum. Variances to 2e-4
    # relative, and every covariance to 1e-3 of the product of the two SEs (i.e. correlations to 0.001).
    assert_allclose(np.diag(cal.covariance_), np.diag(numeric), rtol=2e-4)
    scale = np.sqrt(np.outer(np.diag(numeric), np.diag(numeric)))
    assert_allclose(cal.covariance_ / scale, numeric / scale, atol=1e-3)


def test_cross_product_standard_errors_approximate_the_exact_ones():
    _, exact = _recovery("2pl", 3000, 10, 0.0, seed=9)
    _, xpd = _recovery("2pl", 3000, 10, 0.0, seed=9, se_method="crossprod")  # same seed, same data
    assert (exact.se_method_, xpd.se_method_) == ("louis", "crossprod")  # "auto" is exact when cheap
    # Both estimate the same information; with 3000 persons they differ by O(1/sqrt(N)) ~ a few percent.
    assert_allclose(xpd.se_.a, exact.se_.a, rtol=0.15)
    assert_allclose(xpd.se_.b, exact.se_.b, rtol=0.15)
    _, none = _recovery("2pl", 3000, 10, 0.0, seed=9, se_method=None)
    assert np.isnan(none.se_.a).all()
    assert none.se_method_ is None
    assert_allclose(none.params_.a, exact.params_.a)


# ---------------------------------------------------------------------------------------------------------
# Numerics and the estimator contract
# ---------------------------------------------------------------------------------------------------------


def test_float32_e_step_gives_the_float64_estimates():
    rng = np.random.default_rng(17)
    truth = random_item_parameters(30, ["2pl"] * 20 + ["grm"] * 10, rng, n_categories=4)
    x = simulate_responses(truth, rng.normal(size=5000), rng, missing_rate=0.1)
    f32 = Calibrator(list(truth.model), dtype="float32", tol=1e-5, se_method=None).fit(x)
    f64 = Calibrator(list(truth.model), dtype="float64", tol=1e-5, se_method=None).fit(x)
    # float32 rounding in the two GEMMs moves the estimates by ~1e-5, a thousandth of their SEs (~0.03).
    assert_allclose(f32.params_.a, f64.params_.a, atol=2e-4)
    assert_allclose(f32.params_.b, f64.params_.b, atol=2e-4)
    # The reported log-likelihood comes from a final float64 E-step in both cases.
    assert_allclose(f32.log_likelihood_, f64.log_likelihood_, rtol=1e-9)


def test_worker_threads_do_not_change_the_result():
    rng = np.random.default_rng(18)
    truth = random_item_parameters(12, "grm", rng, n_categories=3)
    x = simulate_responses(truth, rng.normal(size=9000), rng, missing_rate=0.1)
    one = Calibrator("grm", dtype="float64", n_jobs=1, se_method=None).fit(x)
    two = Calibrator("grm", dtype="float64", n_jobs=2, se_method=None).fit(x)
    # Blocks are summed in a different order: float64 rounding only.
    assert_allclose(two.params_.b, one.params_.b, atol=1e-8)
    assert_allclose(two.log_likelihood_, one.log_likelihood_, rtol=1e-12)


def test_squarem_and_plain_em_reach_the_same_maximum_in_fewer_iterations():
    rng = np.random.default_rng(19)
    truth = random_item_parameters(15, "2pl", rng)
    x = simulate_responses(truth, rng.normal(size=3000), rng)
    fast = Calibrator("2pl", tol=1e-6, se_method=None).fit(x)
    plain = Calibrator("2pl", tol=1e-6, acceleration=None, se_method=None).fit(x)
    # Plain EM stops when one step moves less than 1e-6, which for a rate-0.9 EM is ~1e-5 from the optimum.
    assert_allclose(fast.params_.a, plain.params_.a, atol=1e-4)
    assert_allclose(fast.params_.b, plain.params_.b, atol=1e-4)
    assert fast.n_iter_ < plain.n_iter_
    assert fast.log_likelihood_ >= plain.log_likelihood_ - 1e-6


def test_estimates_do_not_depend_on_the_order_of_the_items():
    rng = np.random.default_rng(23)
    models = ["2pl", "grm", "3pl", "2pl", "gpcm", "2pl", "grm", "3pl"]
    truth = random_item_parameters(8, models, rng, n_categories=4)
    x = simulate_responses(truth, rng.normal(size=2000), rng, missing_rate=0.1)
    order = rng.permutation(8)
    one = Calibrator(models, dtype="float64", tol=1e-7, se_method=None).fit(x, item_ids=list(truth.item_ids))
    two = Calibrator([models[j] for j in order], dtype="float64", tol=1e-7, se_method=None).fit(
        x[:, order], item_ids=[truth.item_ids[j] for j in order]
    )
    back = two.params_.subset(list(truth.item_ids))
    # Same maximum reached along a different summation order: agreement to ~1e-6.
    assert_allclose(back.a, one.params_.a, atol=1e-5)
    assert_allclose(back.b, one.params_.b, atol=1e-5)
    assert_allclose(back.c, one.params_.c, atol=1e-5)
    assert_allclose(two.log_likelihood_, one.log_likelihood_, rtol=1e-10)


def test_callback_reports_every_iteration_and_a_raise_cancels_without_partial_results():
    rng = np.random.default_rng(29)
    truth = random_item_parameters(10, "2pl", rng)
    x = simulate_responses(truth, rng.normal(size=1000), rng)
    seen = []
    cal = Calibrator("2pl", callback=lambda i, ll, change: seen.append((i, ll, change))).fit(x)
    assert [s[0] for s in seen] == list(range(1, cal.n_iter_ + 1))
    assert seen[-1][2] < cal.tol

    class CancelledError(Exception):
        pass

    def cancel(iteration, loglik, change):
        if iteration == 3:
            raise CancelledError

    cancelled = Calibrator("2pl", callback=cancel)
    with pytest.raises(CancelledError):
        cancelled.fit(x)
    assert not [name for name in vars(cancelled) if name.endswith("_")]
    # A cancelled refit keeps the previous complete result untouched.
    cal.callback = cancel
    before = cal.params_
    with pytest.raises(CancelledError):
        cal.fit(x[:500])
    assert cal.params_ is before


def test_hyper_parameters_are_stored_unchanged():
    fixed = random_item_parameters(2, "2pl", np.random.default_rng(0))
    cal = Calibrator(["2pl", "grm"], n_quad=41, tol=1e-3, c_prior=None, fixed=fixed, dtype="float64")
    assert cal.model == ["2pl", "grm"]
    assert cal.fixed is fixed
    assert (cal.n_quad, cal.tol, cal.c_prior, cal.dtype) == (41, 1e-3, None, "float64")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x: x.__setitem__((0, 2), 2), "item 'i003': response 2 is out of range for a 2pl item"),
        (lambda x: x.__setitem__((slice(None), 1), -1), "item 'i002': nobody answered it"),
        (lambda x: x.__setitem__((slice(None), 0), 1), "item 'i001': everyone who answered it got it right"),
        (lambda x: x.__setitem__((3, 4), -7), "item 'i005': response -7 is out of range"),
    ],
)
def test_bad_responses_raise_naming_the_item(change, message):
    x = simulate_responses(random_item_parameters(5, "2pl", np.random.default_rng(1)),
                           np.random.default_rng(2).normal(size=200), np.random.default_rng(3))  # fmt: skip
    change(x)
    with pytest.raises(ValueError, match=message):
        Calibrator("2pl").fit(x)


def test_bad_arguments_raise_with_their_values():
    x = np.random.default_rng(0).integers(0, 2, size=(50, 3))
    with pytest.raises(ValueError, match="item 'i002': model must be one of"):
        Calibrator(["2pl", "2p", "2pl"]).fit(x)
    with pytest.raises(ValueError, match="model has 2 entries for 3 items"):
        Calibrator(["2pl", "2pl"]).fit(x)
    with pytest.raises(ValueError, match=r"groups must have one label per person \(50\)"):
        Calibrator().fit(x, groups=[0, 1])
    with pytest.raises(ValueError, match="groups_free_items names items not in the data"):
        Calibrator(groups_free_items=["zz"]).fit(x, groups=np.arange(50) % 2)
    fixed = ItemParameters.from_arrays(["i001"], "grm", [1.0], [[-1.0, 1.0]])
    with pytest.raises(ValueError, match="item 'i001': model '2pl' differs from its fixed model 'grm'"):
        Calibrator(["2pl", "2pl", "2pl"], fixed=fixed).fit(x)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        Calibrator(dtype="half").fit(x)


def test_plain_language_warnings_name_the_item():
    rng = np.random.default_rng(37)
    truth = random_item_parameters(6, "gpcm", rng, n_categories=4)
    x = simulate_responses(truth, rng.normal(size=80), rng)
    x[x[:, 2] == 1, 2] = 2  # nobody uses category 1 of the third item
    cal = Calibrator("gpcm", max_iter=3).fit(x)
    text = " ".join(cal.warnings_)
    assert not cal.converged_
    assert cal.warnings_[0].startswith("The calibration did not converge in 3 EM iterations")
    assert "Nobody chose category 1 of item 'i003'" in text
    assert "Item 'i001' has only 80 responses" in text


def test_near_zero_discrimination_is_reported():
    rng = np.random.default_rng(47)
    truth = random_item_parameters(10, "2pl", rng)
    x = simulate_responses(truth, rng.normal(size=3000), rng)
    x[:, 4] = rng.integers(0, 2, size=3000)  # an item answered at random
    cal = Calibrator("2pl").fit(x)
    assert any("item 'i005' is near zero" in w for w in cal.warnings_)
