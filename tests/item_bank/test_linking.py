"""Scale linking: recovery of known constants and published STUIRT / Kolen & Brennan figures.

Published figures: the common-item parameters of Kolen & Brennan (2014, *Test Equating, Scaling, and Linking*,
3rd ed., ch. 6; distributed as example 1 of Kolen's STUIRT program, 3PL with D = 1.7) and STUIRT example 2
(mixed format: 12 3PL items and 5 GPCM items), with the linking constants STUIRT reports for them as quoted in
the test suite of J. P. Meyer's psychometrics library (github.com/meyerjp3/psychometrics,
``irt/equating/StockingLordMethodTest.java``, ``HaebaraMethodTest.java``, ``MeanSigmaMethodTest.java``).
The numbers were typed in here; multiplying a by 1.7 puts them on our logistic metric (A and B are unchanged).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from item_bank.irt.linking import (
    LINKERS,
    common_items,
    haebara,
    link,
    mean_mean,
    mean_sigma,
    stocking_lord,
    transform_parameters,
)
from item_bank.irt.models import ItemParameters, category_probabilities, random_item_parameters

D = 1.7

# Kolen & Brennan ch. 6 / STUIRT example 1: (a, b, c) of the 12 common items on form X (new) and Y (base).
KB_X = [
    (0.4551, -0.7101, 0.2087),
    (0.5839, -0.8567, 0.2038),
    (0.7544, 0.0212, 0.1600),
    (0.6633, 0.0506, 0.1240),
    (1.0690, 0.9610, 0.2986),
    (0.9672, 0.1950, 0.0535),
    (0.3479, 2.2768, 0.1489),
    (1.4579, 1.0241, 0.2453),
    (1.8811, 1.4062, 0.1992),
    (0.7020, 2.2401, 0.0853),
    (1.4080, 1.5556, 0.0789),
    (1.2993, 2.1589, 0.1075),
]
KB_Y = [
    (0.4416, -1.3349, 0.1559),
    (0.5730, -1.3210, 0.1913),
    (0.5987, -0.7098, 0.1177),
    (0.6041, -0.3539, 0.0818),
    (0.9902, 0.5320, 0.3024),
    (0.8081, -0.1156, 0.0648),
    (0.4140, 2.5538, 0.2410),
    (1.3554, 0.5811, 0.2243),
    (1.0417, 0.9392, 0.1651),
    (0.6336, 1.8960, 0.0794),
    (1.1347, 1.0790, 0.0630),
    (0.9255, 2.1337, 0.1259),
]
# Ten ability points and the two groups' estimated densities at them, from the same STUIRT example.
KB_POINTS = [-4.0, -3.111, -2.222, -1.333, -0.4444, 0.4444, 1.333, 2.222, 3.111, 4.0]
KB_X_DENSITY = [0.0001008, 0.002760, 0.03021, 0.1420, 0.3149, 0.3158, 0.1542, 0.03596, 0.003925, 0.0001862]
KB_Y_DENSITY = [0.0001173, 0.003242, 0.03449, 0.1471, 0.3148, 0.3110, 0.1526, 0.03406, 0.002510, 0.0001116]


def _three_pl(rows, ids=None, scale=D):
    table = np.array(rows)
    ids = ids or [f"c{j + 1}" for j in range(len(rows))]
    return ItemParameters.from_arrays(ids, "3pl", scale * table[:, 0], table[:, 1], table[:, 2])


@pytest.fixture
def kolen_brennan():
    return _three_pl(KB_X), _three_pl(KB_Y)


def _kb_curves(symmetric):
    return {
        "theta": KB_POINTS,
        "weights": KB_Y_DENSITY,
        "new_theta": KB_POINTS,
        "new_weights": KB_X_DENSITY,
        "symmetric": symmetric,
    }


def test_stocking_lord_reproduces_stuirt_symmetric_example(kolen_brennan):
    result = stocking_lord(*kolen_brennan, **_kb_curves(symmetric=True))
    # STUIRT prints six decimals: A = 1.083417, B = -0.487619.
    assert result.slope == pytest.approx(1.083417, abs=1e-6)
    assert result.intercept == pytest.approx(-0.487619, abs=1e-6)
    assert result.converged


def test_haebara_reproduces_stuirt_symmetric_example(kolen_brennan):
    result = haebara(*kolen_brennan, **_kb_curves(symmetric=True))
    # STUIRT: A = 1.067800, B = -0.471281. The reference densities sum to 1.00004 and are used as printed
    # (5 significant digits); we renormalise them, which moves the optimum by about 2e-6.
    assert result.slope == pytest.approx(1.067800, abs=5e-6)
    assert result.intercept == pytest.approx(-0.471281, abs=5e-6)


# The same example without its ninth common item (X: 1.8811, 1.4062), parameters to six decimals, read on the
# logistic metric (D = 1) in the source's tests; the constants are those it quotes for this variant.
KB11_X = list(
    zip(
        [
            0.455118,
            0.583871,
            0.754398,
            0.663274,
            1.068977,
            0.967194,
            0.347868,
            1.457918,
            0.701952,
            1.407967,
            1.299285,
        ],
        [
            -0.710086,
            -0.856669,
            0.021221,
            0.050618,
            0.961047,
            0.194976,
            2.276794,
            1.024128,
            2.240131,
            1.555634,
            2.158933,
        ],
        [
            0.208748,
            0.203834,
            0.159961,
            0.123961,
            0.298628,
            0.053538,
            0.148927,
            0.24527,
            0.08529,
            0.078897,
            0.10753,
        ],
        strict=True,
    )
)
KB11_Y = list(
    zip(
        [
            0.441595,
            0.572995,
            0.598719,
            0.604125,
            0.990164,
            0.808079,
            0.413973,
            1.355437,
            0.633562,
            1.134661,
            0.925521,
        ],
        [
            -1.334933,
            -1.321004,
            -0.709831,
            -0.353942,
            0.531956,
            -0.115649,
            2.553812,
            0.581109,
            1.896027,
            1.079013,
            2.133706,
        ],
        [
            0.155883,
            0.191298,
            0.117663,
            0.081759,
            0.302443,
            0.064791,
            0.240967,
            0.224322,
            0.079396,
            0.063009,
            0.125873,
        ],
        strict=True,
    )
)


@pytest.mark.parametrize(
    ("method", "symmetric", "A", "B"),
    [
        ("mean_sigma", False, 1.1761, -0.5042),
        ("haebara", False, 1.0798, -0.4710),  # criterion on the base (Y) scale only
        ("stocking_lord", False, 1.0967, -0.4834),
        ("stocking_lord", True, 1.0911, -0.4788),
    ],
)
def test_eleven_item_example_matches_published_constants(method, symmetric, A, B):
    new, base = _three_pl(KB11_X, scale=1.0), _three_pl(KB11_Y, scale=1.0)
    result = link(new, base, method, **_kb_curves(symmetric))
    assert result.slope == pytest.approx(A, abs=6e-5)  # the references are printed to 4 decimals
    assert result.intercept == pytest.approx(B, abs=6e-5)


# STUIRT example 2 (mixed format): 12 3PL items and 5 GPCM items (step difficulties), forms X and Y.
MIXED_X_3PL = [
    (0.751335, -0.897391, 0.244001),
    (0.955947, -0.811477, 0.242883),
    (0.497206, -0.858681, 0.260893),
    (0.724000, -0.123911, 0.243497),
    (0.865200, 0.205889, 0.319135),
    (0.658129, 0.555228, 0.277826),
    (1.082118, 0.950549, 0.157979),
    (0.988294, 1.377501, 0.084828),
    (1.248923, 1.614355, 0.181874),
    (1.116682, 2.353932, 0.246856),
    (0.438171, 3.217965, 0.309243),
    (1.082206, 4.441864, 0.192339),
]
MIXED_Y_3PL = [
    (0.887276, -1.334798, 0.134406),
    (1.184412, -1.129004, 0.237765),
    (0.609412, -1.464546, 0.15139),
    (0.923812, -0.576435, 0.240097),
    (0.822776, -0.476357, 0.192369),
    (0.707818, -0.235189, 0.189557),
    (1.306976, 0.242986, 0.165553),
    (1.295471, 0.598029, 0.090557),
    (1.366841, 0.923206, 0.172993),
    (1.389624, 1.380666, 0.238008),
    (0.293806, 2.02807, 0.203448),
    (0.885347, 3.152928, 0.195473),
]
MIXED_X_GPCM = [
    (0.269994, [-1.09327, 1.101266]),
    (0.972506, [1.526148, 1.739176]),
    (0.378812, [1.362356, 5.566958]),
    (0.537706, [1.486566, -0.071229, 1.614823]),
    (0.554506, [1.425413, 2.630705, 3.242696]),
]
MIXED_Y_GPCM = [
    (0.346324, [-1.387347, 0.399117]),
    (1.252012, [0.756514, 0.956014]),
    (0.392282, [0.975303, 4.676299]),
    (0.660841, [0.643405, -0.418869, 0.804394]),
    (0.669612, [0.641293, 1.750488, 2.53802]),
]


def _mixed(three_pl, gpcm):
    ids = [f"v{j + 1}" for j in range(17)]
    a = [D * r[0] for r in three_pl] + [D * r[0] for r in gpcm]
    b = np.full((17, 3), np.nan)
    b[:12, 0] = [r[1] for r in three_pl]
    for j, (_, steps) in enumerate(gpcm):
        b[12 + j, : len(steps)] = steps
    c = [r[2] for r in three_pl] + [0.0] * 5
    return ItemParameters(tuple(ids), ("3pl",) * 12 + ("gpcm",) * 5, np.array(a), b, np.array(c))


def test_mixed_format_moment_methods_pool_thresholds_as_stuirt():
    new, base = _mixed(MIXED_X_3PL, MIXED_X_GPCM), _mixed(MIXED_Y_3PL, MIXED_Y_GPCM)
    sigma = mean_sigma(new, base)
    # STUIRT: mean/sigma A = 0.887294, B = -0.560159 from 24 pooled b's (12 difficulties + 12 steps).
    assert sigma.slope == pytest.approx(0.887294, abs=1e-6)
    assert sigma.intercept == pytest.approx(-0.560159, abs=1e-6)
    means = mean_mean(new, base)
    # STUIRT's descriptive statistics (4 decimals): mean a 0.7719 (X) and 0.8820 (Y) over 17 items (in the
    # D = 1.7 metric), mean b 1.3566 and 0.6435 over 24 values.
    assert means.slope == pytest.approx(0.7719 / 0.8820, abs=2e-4)
    assert means.intercept == pytest.approx(0.6435 - means.slope * 1.3566, abs=2e-4)


@pytest.mark.parametrize("method", sorted(LINKERS))
def test_every_method_recovers_a_known_transformation(method):
    rng = np.random.default_rng(41)
    base = random_item_parameters(
        20, ["2pl"] * 12 + ["3pl"] * 4 + ["grm"] * 2 + ["gpcm"] * 2, rng, n_categories=4
    )
    slope, intercept = 1.3, -0.4
    new = transform_parameters(base, 1 / slope, -intercept / slope)  # the same items on a shifted scale
    result = link(new, base, method)
    # Error-free parameters: every method's criterion is exactly minimised at the truth; Nelder-Mead stops at
    # xatol 1e-10, the moment methods are closed-form.
    assert result.slope == pytest.approx(slope, abs=1e-7)
    assert result.intercept == pytest.approx(intercept, abs=1e-7)
    assert_allclose(result.transform(new).b, base.b, atol=1e-6)
    assert_allclose(result.transform_theta([0.0, 1.0]), [intercept, intercept + slope])


def test_transformation_preserves_every_category_probability():
    rng = np.random.default_rng(42)
    params = random_item_parameters(8, ["rasch", "2pl", "3pl", "grm", "gpcm", "pcm", "1pl", "grm"], rng)
    moved = transform_parameters(params, 0.8, 0.3)
    theta = np.linspace(-3, 3, 7)
    # P(theta; params) = P(0.8 theta + 0.3; moved): the definition of a scale transformation.
    assert_allclose(
        category_probabilities(moved, 0.8 * theta + 0.3), category_probabilities(params, theta), atol=1e-14
    )


def test_only_common_items_are_used_and_mismatches_are_refused():
    rng = np.random.default_rng(43)
    base = random_item_parameters(6, "2pl", rng)
    new = transform_parameters(base.subset([1, 2, 3, 4]), 1.1, 0.2)
    x, y = common_items(new, base)
    assert x.item_ids == y.item_ids == ("i002", "i003", "i004", "i005")
    other = ItemParameters.from_arrays(["zz"], "2pl", [1.0], [0.0])
    with pytest.raises(ValueError, match="no item id in common"):
        mean_mean(other, base)
    relabelled = ItemParameters(base.item_ids, ("3pl",) * 6, base.a, base.b, np.full(6, 0.2))
    with pytest.raises(ValueError, match="item 'i001': model 3pl"):
        mean_sigma(relabelled, base)
    with pytest.raises(ValueError, match="method must be one of"):
        link(new, base, "equipercentile")
