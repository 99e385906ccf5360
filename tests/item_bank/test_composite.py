"""The multi-stage composite: standardising, weighting, SEs and bands, rank ranges, cuts and minimums."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

from item_bank.composite import (
    StageScores,
    composite,
    critical_value,
    cut_analysis,
    decision_consistency,
    estimate_reliability,
    minimum_screen,
    rank_ranges,
    standardise,
)

IDS = ["c1", "c2", "c3"]
C = math.sqrt(1.5)  # 1 / population SD of (1, 0, -1) and of (3, 5, 4): both have SD sqrt(2/3)
Z95 = 1.959963984540054


def hand_stages() -> list[StageScores]:
    # knowledge: theta 1, 0, -1 (mean 0, SD sqrt(2/3)) -> z = +C, 0, -C; SEs 0.1, 0.1, 0.2 -> se_z = se * C
    # interview: mean ratings 3, 5, 4 (mean 4, SD sqrt(2/3)) -> z = -C, +C, 0; SEs 0.2, 0.1, 0.1
    return [
        StageScores("knowledge", IDS, [1.0, 0.0, -1.0], [0.1, 0.1, 0.2], reliability=0.9),
        StageScores("interview", IDS, [3.0, 5.0, 4.0], [0.2, 0.1, 0.1], reliability=0.8),
    ]


# The hand-worked composite, weights 3 : 1 -> 0.75 : 0.25 (C = sqrt(1.5) = 1.224745):
#   C1 = 0.75 C - 0.25 C = 0.5 C  = 0.612372     SE1^2 = 1.5 (0.75^2 0.1^2 + 0.25^2 0.2^2) = 1.5 * 0.008125
#   C2 = 0      + 0.25 C = 0.25 C = 0.306186     SE2^2 = 1.5 (0.75^2 0.1^2 + 0.25^2 0.1^2) = 1.5 * 0.00625
#   C3 = -0.75 C + 0     = -0.75 C = -0.918559   SE3^2 = 1.5 (0.75^2 0.2^2 + 0.25^2 0.1^2) = 1.5 * 0.023125
#   SE = 0.110397, 0.096825, 0.186246; 95 % bands (z = 1.959964):
#   c1 [0.395998, 0.828747], c2 [0.116414, 0.495959], c3 [-1.283594, -0.553524]
#   ranks 1, 2, 3. Ranges: c1 best 1 (no lower bound above 0.8287), worst 3 - #{upper < 0.3960} = 3 - 1 = 2;
#   c2 best 1 + #{lower > 0.4960} = 1 (c1's lower is 0.3960), worst 2; c3 best 1 + 2 = 3, worst 3.
#   Mosier: corr(z_knowledge, z_interview) = 1.5 (-1 + 0 + 0) / 3 = -0.5, both variances 1;
#   var(C) = 0.75^2 + 0.25^2 + 2 (0.75)(0.25)(-0.5) = 0.4375; error = 0.75^2 (1 - 0.9) + 0.25^2 (1 - 0.8)
#   = 0.06875; reliability = 1 - 0.06875 / 0.4375 = 0.842857 (59/70).
HAND_COMPOSITE = [0.5 * C, 0.25 * C, -0.75 * C]
HAND_SE = [C * math.sqrt(0.008125), C * math.sqrt(0.00625), C * math.sqrt(0.023125)]


def test_three_candidates_two_stages_worked_by_hand():
    result = composite(hand_stages(), {"knowledge": 3, "interview": 1})
    assert_allclose(result.weights, [0.75, 0.25])
    assert_allclose(result.stages[0].z, [C, 0.0, -C], rtol=1e-12)
    assert_allclose(result.stages[1].z, [-C, C, 0.0], atol=1e-12)
    assert_allclose(result.composite, HAND_COMPOSITE, rtol=1e-12)
    assert_allclose(result.se, HAND_SE, rtol=1e-12)
    assert_allclose(result.lower, [0.395998, 0.116414, -1.283594], atol=1e-6)
    assert_allclose(result.upper, [0.828747, 0.495959, -0.553524], atol=1e-6)
    assert result.rank.tolist() == [1, 2, 3]
    assert result.best_rank.tolist() == [1, 1, 3]
    assert result.worst_rank.tolist() == [2, 2, 3]
    assert result.stage_correlations[0, 1] == pytest.approx(-0.5)
    assert result.variance == pytest.approx(0.4375)
    assert result.reliability == pytest.approx(59 / 70)


def test_the_trace_adds_up_to_the_composite_and_its_se():
    result = composite(hand_stages(), {"knowledge": 3, "interview": 1})
    trace = result.trace("c1")
    knowledge, interview = trace.contributions
    assert (knowledge.score, knowledge.se, knowledge.mean) == (1.0, 0.1, 0.0)
    assert knowledge.sd == pytest.approx(math.sqrt(2 / 3))
    assert (interview.declared_weight, interview.weight) == (1.0, 0.25)
    assert interview.z == pytest.approx(-C)
    assert knowledge.contribution + interview.contribution == pytest.approx(trace.composite)
    assert knowledge.error_variance + interview.error_variance == pytest.approx(trace.se**2)
    assert (trace.rank, trace.best_rank, trace.worst_rank, trace.reason) == (1, 1, 2, None)
    assert [t.candidate_id for t in result.traces()] == IDS


def test_weights_that_do_not_sum_to_one_are_normalised():
    a = composite(hand_stages(), {"knowledge": 3, "interview": 1})
    b = composite(hand_stages(), {"knowledge": 60, "interview": 20})
    c = composite(hand_stages(), {"knowledge": 0.75, "interview": 0.25})
    for other in (b, c):
        assert_allclose(other.composite, a.composite, rtol=1e-12)
        assert_allclose(other.se, a.se, rtol=1e-12)
    assert b.declared_weights.tolist() == [60.0, 20.0]
    assert b.weights.sum() == pytest.approx(1.0)


def test_a_candidate_with_a_missing_stage_is_reported_and_not_ranked():
    knowledge = StageScores(
        "knowledge", ["c1", "c2", "c3", "c4"], [1.0, 0.0, -1.0, 0.5], [0.1, 0.1, 0.2, 0.1]
    )
    # c4 has not been interviewed (NaN); c5 sat only the interview (absent from the knowledge list)
    interview = StageScores(
        "interview",
        ["c1", "c2", "c3", "c4", "c5"],
        [3.0, 5.0, 4.0, np.nan, 4.5],
        [0.2, 0.1, 0.1, np.nan, 0.1],
    )
    result = composite([knowledge, interview], {"knowledge": 3, "interview": 1})
    assert result.candidate_ids == ("c1", "c2", "c3", "c4", "c5")
    assert result.computed.tolist() == [True, True, True, False, False]
    assert result.n_ranked == 3
    assert result.rank.tolist() == [1, 2, 3, 0, 0]
    assert np.isnan(result.composite[3]) and np.isnan(result.se[4])
    assert result.reasons == {
        "c4": "no score in stage 'interview': composite not computed",
        "c5": "no score in stage 'knowledge': composite not computed",
    }
    trace = result.trace("c4")
    assert (trace.composite, trace.rank, trace.best_rank) == (None, None, None)
    assert trace.contributions[0].z is not None and trace.contributions[1].score is None
    # each stage is standardised over everybody who sat it: the interview over c1, c2, c3 and c5
    assert result.stages[1].n_scored == 4
    assert result.stages[1].mean == pytest.approx((3 + 5 + 4 + 4.5) / 4)


def test_a_fixed_scale_replaces_the_campaign_reference():
    stage = StageScores("knowledge", IDS, [0.5, 2.5, -1.5], [0.2, 0.4, 0.2], scale_mean=0.5, scale_sd=2.0)
    standard = standardise(stage)
    assert standard.reference == "scale"
    assert_allclose(standard.z, [0.0, 1.0, -1.0])
    assert_allclose(standard.se, [0.1, 0.2, 0.1])


def test_reliability_is_estimated_from_the_ses_when_not_given():
    # var(1, 0, -1) = 2/3; mean SE^2 = (0.09 + 0.09 + 0.36) / 3 = 0.18; r = 1 - 0.18 / (2/3) = 0.73
    stage = StageScores("sjt", IDS, [1.0, 0.0, -1.0], [0.3, 0.3, 0.6])
    assert estimate_reliability(stage) == pytest.approx(0.73)
    standard = standardise(stage)
    assert standard.reliability_estimated and standard.reliability == pytest.approx(0.73)
    noisy = StageScores("sjt", IDS, [1.0, 0.0, -1.0], [2.0, 2.0, 2.0])
    assert estimate_reliability(noisy) == 0.0  # clipped: the SEs claim more error than there is variance
    assert math.isnan(estimate_reliability(StageScores("sjt", IDS, [1.0, np.nan, np.nan], [0.3, 0.0, 0.0])))


def test_composite_se_matches_a_monte_carlo_of_stage_errors():
    # Ten candidates with fixed true scores on three stages (different scales), each measured 10 000 times
    # with normal errors of the stated SEs, all 100 000 rows standardised as one campaign. The SD of each
    # candidate's 10 000 composites estimates its SE with a relative sampling error of 1/sqrt(2 * 9999) =
    # 0.71 %; tolerance 3.5 % (5 sampling SDs, for the largest of ten).
    rng = np.random.default_rng(20240611)
    n, reps = 10, 10_000
    truth = np.column_stack([rng.normal(0, 1, n), rng.normal(3.5, 0.6, n), rng.normal(50, 10, n)])
    se = np.column_stack([rng.uniform(0.2, 0.5, n), rng.uniform(0.1, 0.3, n), rng.uniform(2, 6, n)])
    observed = np.repeat(truth, reps, axis=0) + rng.normal(size=(n * reps, 3)) * np.repeat(se, reps, axis=0)
    ids = [f"c{i}" for i in range(n * reps)]
    stages = [
        StageScores(name, ids, observed[:, k], np.repeat(se[:, k], reps))
        for k, name in enumerate(["knowledge", "interview", "case"])
    ]
    result = composite(stages, {"knowledge": 0.5, "interview": 0.3, "case": 0.2})
    simulated_sd = result.composite.reshape(n, reps).std(axis=1, ddof=1)
    formula_se = result.se.reshape(n, reps)[:, 0]
    assert_allclose(simulated_sd, formula_se, rtol=0.035)


def simulate_stages(rng, n, *, fixed_scale=False):
    """Correlated true scores on three stages plus normal errors; returns (truth, se, StageScores factory)."""
    corr = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    truth = rng.multivariate_normal(np.zeros(3), corr, n) * [1.0, 0.6, 10.0] + [0.0, 3.5, 50.0]
    se = np.column_stack([rng.uniform(0.2, 0.5, n), rng.uniform(0.15, 0.3, n), rng.uniform(3.0, 6.0, n)])
    ids = [f"c{i}" for i in range(n)]
    names = ["knowledge", "interview", "case"]
    scale = {"knowledge": (0.0, 1.0), "interview": (3.5, 0.6), "case": (50.0, 10.0)}

    def measure():
        observed = truth + rng.normal(size=(n, 3)) * se
        return [
            StageScores(
                name,
                ids,
                observed[:, k],
                se[:, k],
                scale_mean=scale[name][0] if fixed_scale else None,
                scale_sd=scale[name][1] if fixed_scale else None,
            )
            for k, name in enumerate(names)
        ]

    return truth, se, measure


WEIGHTS = {"knowledge": 0.5, "interview": 0.3, "case": 0.2}


def test_mosier_reliability_matches_a_simulation_of_true_scores_and_errors():
    # 20 000 candidates, stage reliabilities estimated from the SEs. The simulated reliability is
    # var(T_C) / (var(T_C) + var(E_C)), with T_C the same weighted sum of (T - mean) / sd (the mean and SD the
    # composite used) and E_C = C - T_C the error part; leaving out the chance covariance of T_C and E_C keeps
    # its sampling error near 0.001 (over 40 seeds: mean difference -0.0001, SD 0.0008, largest 0.0016).
    # Tolerance 0.005.
    rng = np.random.default_rng(11)
    truth, _, measure = simulate_stages(rng, 20_000)
    result = composite(measure(), WEIGHTS)
    means = np.array([s.mean for s in result.stages])
    sds = np.array([s.sd for s in result.stages])
    true_part = ((truth - means) / sds) @ result.weights
    error_part = result.composite - true_part
    simulated = np.var(true_part) / (np.var(true_part) + np.var(error_part))
    assert result.reliability == pytest.approx(simulated, abs=0.005)
    assert all(s.reliability_estimated for s in result.stages)


def test_classification_consistency_matches_a_simulation_of_parallel_tests():
    # Two parallel measurements of the same 20 000 candidates (independent errors), both on fixed stage
    # scales so the cut means the same on each; cut at 0.8 on the composite (about a fifth selected),
    # composite reliability about 0.93. Monte Carlo error of the observed agreement about 0.002 and of kappa
    # about 0.006.
    # The parallel-form formula conditions on the observed composite without regression to the mean (a flat
    # prior), which overstates consistency by about 0.005 and kappa by about 0.01-0.02 at this reliability.
    # Over 30 seeds the largest differences were 0.0054 and 0.029. Tolerances: 0.015 for the proportion,
    # 0.04 for kappa.
    rng = np.random.default_rng(3)
    _, _, measure = simulate_stages(rng, 20_000, fixed_scale=True)
    first = composite(measure(), WEIGHTS)
    second = composite(measure(), WEIGHTS)
    cut = 0.8
    analysis = cut_analysis(first, cut)
    a, b = first.composite >= cut, second.composite >= cut
    agreement = np.mean(a == b)
    p1, p2 = a.mean(), b.mean()
    chance = p1 * p2 + (1 - p1) * (1 - p2)
    kappa = (agreement - chance) / (1 - chance)
    assert 0.9 < first.reliability < 0.96
    assert analysis.expected_consistency == pytest.approx(agreement, abs=0.015)
    assert analysis.kappa == pytest.approx(kappa, abs=0.04)


def test_parallel_form_consistency_is_exact_under_a_flat_true_score_distribution():
    # With true scores spread uniformly far beyond the cut (a flat prior), P(X' on the same side | X) is
    # exactly Phi(|X - cut| / (sqrt(2) SE)). 200 000 candidates, those observed within 3 of the cut (about
    # 75 000) are compared; Monte Carlo error about 0.001; tolerance 0.005.
    rng = np.random.default_rng(5)
    true = rng.uniform(-8.0, 8.0, 200_000)
    se = 0.5
    x1, x2 = true + rng.normal(0, se, true.shape), true + rng.normal(0, se, true.shape)
    window = np.abs(x1) < 3.0
    predicted = decision_consistency(x1[window], np.full(window.sum(), se), 0.0).mean()
    observed = np.mean((x1[window] >= 0) == (x2[window] >= 0))
    assert predicted == pytest.approx(observed, abs=0.005)


def test_cut_analysis_at_a_cut_worked_by_hand():
    result = composite(hand_stages(), {"knowledge": 3, "interview": 1})
    analysis = cut_analysis(result, 0.0)
    assert analysis.clearly_above == ("c1", "c2") and analysis.clearly_below == ("c3",)
    assert analysis.not_distinguishable == () and analysis.selected == ("c1", "c2")
    # c2: |0.25 C - 0| / (sqrt(2) C sqrt(0.00625)) = 0.25 / 0.1118034 = sqrt(5); Phi(sqrt(5)) = 0.987326
    assert analysis.consistency[1] == pytest.approx(stats.norm.cdf(math.sqrt(5)))
    assert analysis.status("c3") == "below"


def test_places_put_the_cut_on_the_last_selected_candidate():
    result = composite(hand_stages(), {"knowledge": 3, "interview": 1})
    analysis = cut_analysis(result, places=1)
    assert analysis.cut == pytest.approx(0.5 * C)
    assert analysis.selected == ("c1",)
    assert analysis.not_distinguishable == ("c1",)  # on the cut itself
    assert analysis.clearly_below == ("c2", "c3")  # c2's upper bound 0.4960 < 0.6124
    assert analysis.consistency[0] == pytest.approx(0.5)


def test_kappa_of_the_expected_agreement_table_worked_by_hand():
    # One stage on a fixed scale (mean 0, SD 1) so the composite is the score itself: C = 1, 0, -1 with
    # SE = 1/sqrt(2), 0.5, 0; cut 0. P = Phi(1) = 0.841345, Phi(0) = 0.5, 1 (no error, off the cut).
    # Selected (C >= 0): c1, c2. Table x 3: [[0.841345 + 0.5, 0.158655 + 0.5], [0, 1]].
    # Agreement (1.341345 + 1) / 3 = 0.780448; rows 2/3, 1/3; columns 0.447115, 0.552885;
    # chance 2/3 * 0.447115 + 1/3 * 0.552885 = 0.482372; kappa = 0.298076 / 0.517628 = 0.575850.
    stage = StageScores(
        "knowledge", IDS, [1.0, 0.0, -1.0], [1 / math.sqrt(2), 0.5, 0.0], scale_mean=0, scale_sd=1
    )
    analysis = cut_analysis(composite([stage], {"knowledge": 1}), 0.0)
    phi1 = stats.norm.cdf(1.0)
    assert_allclose(analysis.consistency, [phi1, 0.5, 1.0])
    assert_allclose(analysis.agreement_table * 3, [[phi1 + 0.5, 1.5 - phi1], [0.0, 1.0]], atol=1e-12)
    assert analysis.expected_consistency == pytest.approx(0.780448, abs=1e-6)
    assert analysis.chance_agreement == pytest.approx(0.482372, abs=1e-6)
    assert analysis.kappa == pytest.approx(0.575850, abs=1e-6)
    assert analysis.not_distinguishable == ("c1", "c2") and analysis.clearly_below == ("c3",)


def test_cut_analysis_needs_exactly_one_of_cut_and_places():
    result = composite(hand_stages(), {"knowledge": 3, "interview": 1})
    with pytest.raises(ValueError, match="exactly one"):
        cut_analysis(result)
    with pytest.raises(ValueError, match="got 4"):
        cut_analysis(result, places=4)


def test_rank_ranges_handle_ties():
    # equal composites share rank 1; with SE 0 the bands are points: c3 is clearly behind both
    rank, best, worst = rank_ranges([1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 0.0])
    assert (rank.tolist(), best.tolist(), worst.tolist()) == ([1, 1, 3], [1, 1, 3], [2, 2, 3])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-6, 6), st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        min_size=1,
        max_size=25,
    )
)
def test_rank_ranges_contain_the_rank_and_follow_their_definition(rows):
    c = np.array([r[0] for r in rows], dtype=float)
    se = np.array([r[1] for r in rows])
    lo, hi = c - Z95 * se, c + Z95 * se
    rank, best, worst = rank_ranges(c, lo, hi)
    assert np.all(best <= rank) and np.all(rank <= worst)
    m = c.shape[0]
    for i in range(m):
        assert rank[i] == 1 + np.sum(c > c[i])
        assert best[i] == 1 + np.sum(lo > hi[i])
        assert worst[i] == m - np.sum(hi < lo[i])
        twins = (c == c[i]) & (se == se[i])
        assert np.all(best[twins] == best[i]) and np.all(worst[twins] == worst[i])


def test_level_sets_the_band_width():
    narrow = composite(hand_stages(), {"knowledge": 3, "interview": 1}, level=0.68)
    assert narrow.critical == pytest.approx(critical_value(0.68)) == pytest.approx(0.994458, abs=1e-6)
    assert_allclose(narrow.upper - narrow.composite, narrow.critical * narrow.se)


def test_minimum_screen_counts_whom_a_minimum_would_remove():
    ids = ["a", "b", "c", "d", "e"]
    stages = [
        StageScores("knowledge", ids, [0.5, -1.2, 0.1, -0.8, np.nan], [0.3] * 5),
        StageScores("interview", ids, [4.0, 2.4, 2.0, 3.8, 4.2], [0.2] * 5),
    ]
    screen = minimum_screen(stages, {"knowledge": -1.0, "interview": 2.5})
    # knowledge: b (-1.2 < -1.0); interview: b (2.4) and c (2.0) below 2.5; e has no knowledge score yet
    assert screen.removed_by_stage == {"knowledge": ("b",), "interview": ("b", "c")}
    assert screen.removed == ("b", "c") and screen.n_removed == 2 and screen.n_candidates == 5
    # within error: b -1.2 + 1.96 * 0.3 = -0.61 >= -1.0 and 2.4 + 0.39 = 2.79 >= 2.5;
    # c 2.0 + 0.39 = 2.39 < 2.5
    assert screen.within_error == ("b",)
    assert screen.not_assessed == {"knowledge": ("e",), "interview": ()}
    assert minimum_screen(stages, {}).n_removed == 0  # the product's default: no minimum


def test_minimum_screen_refuses_an_unknown_stage():
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['essay'\]"):
        minimum_screen(hand_stages(), {"essay": 3.0})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"candidate_ids": ["c1", "c1", "c3"]}, "candidate 'c1' appears more than once"),
        ({"se": [0.1, -0.1, 0.2]}, "candidate 'c2' has a score but SE -0.1"),
        ({"reliability": 1.2}, r"reliability must be in \[0, 1\], got 1.2"),
        ({"scale_mean": 0.0}, "give both scale_mean and scale_sd"),
        ({"scores": [1.0, np.inf, 0.0]}, "candidate 'c2' has score inf"),
        ({"se": [0.1, 0.2]}, "field 'se' has 2 entries for 3 candidates"),
    ],
)
def test_stage_scores_reject_bad_input_with_its_values(kwargs, message):
    fields = {"name": "knowledge", "candidate_ids": IDS, "scores": [1.0, 0.0, -1.0], "se": [0.1, 0.1, 0.2]}
    with pytest.raises(ValueError, match=message):
        StageScores(**(fields | kwargs))


def test_weights_must_name_every_stage_and_be_positive():
    with pytest.raises(ValueError, match=r"missing \['interview'\], unknown \['sjt'\]"):
        composite(hand_stages(), {"knowledge": 1, "sjt": 1})
    with pytest.raises(ValueError, match=r"got \{'knowledge': 1.0, 'interview': 0.0\}"):
        composite(hand_stages(), {"knowledge": 1, "interview": 0})


def test_a_stage_that_does_not_vary_cannot_be_standardised():
    with pytest.raises(ValueError, match=r"all 3 scores equal 2\.0"):
        standardise(StageScores("essay", IDS, [2.0, 2.0, 2.0], [0.1, 0.1, 0.1]))


def test_stage_arrays_are_read_only():
    stage = hand_stages()[0]
    with pytest.raises(ValueError, match="read-only"):
        stage.scores[0] = 5.0
