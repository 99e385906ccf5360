"""Intraclass correlations (Shrout & Fleiss 1979) and the interview stage built from the panel's ratings."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from item_bank.agreement import icc, interview_stage, member_scores, panel_agreement
from item_bank.composite import StageScores, composite

# Shrout, P. E. & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater reliability.
# Psychological Bulletin, 86(2), 420-428, Table 2: six targets rated by four judges. The same matrix is the
# reference example of R psych's ICC() (its tests/testthat/test_ICC.R checks the six values below, rounded to
# two decimals, https://rdrr.io/cran/psych/src/tests/testthat/test_ICC.R).
SHROUT_FLEISS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ],
    dtype=float,
)
# Published in the paper (to two decimals).
PUBLISHED = {
    "ICC(1,1)": 0.17,
    "ICC(2,1)": 0.29,
    "ICC(3,1)": 0.71,
    "ICC(1,k)": 0.44,
    "ICC(2,k)": 0.62,
    "ICC(3,k)": 0.91,
}
# R psych's ICC(sf) 95 % confidence limits for the same data, as printed by psych (lower to three decimals,
# upper to two); not in the paper.
PSYCH_BOUNDS = {
    "ICC(1,1)": (-0.133, 0.72),
    "ICC(2,1)": (0.019, 0.76),
    "ICC(3,1)": (0.342, 0.95),
    "ICC(1,k)": (-0.884, 0.91),
    "ICC(2,k)": (0.071, 0.93),
    "ICC(3,k)": (0.676, 0.99),
}


def test_icc_reproduces_shrout_and_fleiss_published_values():
    result = icc(SHROUT_FLEISS)
    assert {e.name: round(e.value, 2) for e in result.estimates()} == PUBLISHED


def test_icc_anova_mean_squares_match_shrout_and_fleiss_table():
    # S&F's ANOVA for Table 2: BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02. By hand: grand mean 127/24, the
    # row means are 6, 3, 6.5, 4, 7.5, 4.75 and the column means 7.67, 2.5, 4.33, 6.67.
    result = icc(SHROUT_FLEISS)
    assert_allclose(
        [result.ms_rows, result.ms_within, result.ms_cols, result.ms_error],
        [11.24, 6.26, 32.49, 1.02],
        atol=0.005,
    )
    assert (result.n_targets, result.n_raters, result.dropped) == (6, 4, ())


def test_icc_f_tests_and_intervals_match_r_psych():
    result = icc(SHROUT_FLEISS, level=0.95)
    for e in result.estimates():
        lower, upper = PSYCH_BOUNDS[e.name]
        assert round(e.lower, 3) == pytest.approx(lower, abs=1e-9), e.name
        assert round(e.upper, 2) == pytest.approx(upper, abs=1e-9), e.name
    # F = MSR/MSW = 1.795 on (5, 18) for case 1, MSR/MSE = 11.03 on (5, 15) for cases 2 and 3 (psych's p)
    assert (result.icc1.f, result.icc1.df1, result.icc1.df2) == pytest.approx((1.7947, 5, 18), abs=1e-4)
    assert (result.icc3.f, result.icc3.df2) == pytest.approx((11.027, 15), abs=1e-3)
    assert result.icc1.p == pytest.approx(0.164769, abs=1e-6)
    assert result.icc2.p == pytest.approx(0.000135, abs=1e-6)


def test_icc_names_follow_mcgraw_and_wong():
    names = [e.mcgraw_wong for e in icc(SHROUT_FLEISS).estimates()]
    assert names == ["ICC(1)", "ICC(A,1)", "ICC(C,1)", "ICC(k)", "ICC(A,k)", "ICC(C,k)"]


def test_targets_with_a_missing_rating_are_left_out_and_reported():
    with_gap = np.vstack([SHROUT_FLEISS[:3], [[7.0, np.nan, 3.0, 5.0]], SHROUT_FLEISS[3:]])
    result = icc(with_gap)
    assert result.dropped == (3,)
    assert result.icc2.value == pytest.approx(icc(SHROUT_FLEISS).icc2.value, rel=1e-12)


def test_a_lenient_rater_lowers_absolute_agreement_but_not_consistency():
    shifted = SHROUT_FLEISS + np.array([0.0, 0.0, 0.0, 3.0])  # judge 4 gives everyone three points more
    before, after = icc(SHROUT_FLEISS), icc(shifted)
    assert after.icc3.value == pytest.approx(before.icc3.value, rel=1e-12)
    assert after.icc2.value < before.icc2.value


def test_icc_refuses_too_few_complete_targets_with_the_counts():
    x = np.array([[1.0, 2.0], [np.nan, 3.0], [2.0, np.nan]])
    with pytest.raises(ValueError, match=r"got 1 \(2 incomplete left out\)"):
        icc(x)


def test_icc_refuses_ratings_that_do_not_vary():
    with pytest.raises(ValueError, match="do not vary"):
        icc(np.full((3, 2), 4.0))


# A panel of two members rating three candidates on two competences (weights 3 : 1, normalised 0.75 : 0.25).
#   member overall ratings s_ir = 0.75 x_ir1 + 0.25 x_ir2:
#     c1: m1 0.75*4 + 0.25*2 = 3.5, m2 0.75*5 + 0.25*3 = 4.5   -> mean 4.0,  between-member var (ddof 1) 0.5
#     c2: m1 3.0,                   m2 0.75*3 + 0.25*1 = 2.5   -> mean 2.75, var 0.125
#     c3: m1 2.0,                   m2 1.0                     -> mean 1.5,  var 0.5
#   ANOVA (n = 3, k = 2): grand mean 2.75; SSR = 2 (1.25^2 + 0 + 1.25^2) = 6.25, MSR = 3.125;
#   column means 8.5/3 and 8/3, SSC = 3 (2 (1/12)^2) = 1/24, MSC = 1/24; SST = 7.375;
#   SSW = 1.125, MSW = 0.375 (= mean of the between-member variances); SSE = 1.125 - 1/24, MSE = 0.541667
#   ICC(2,k) = (MSR - MSE) / (MSR + (MSC - MSE)/n) = 2.583333 / 2.958333 = 0.873239
#   pooled SE = sqrt(MSW / 2) = sqrt(0.1875) = 0.433013; per-candidate SE = sqrt(var / 2) = 0.5, 0.25, 0.5
PANEL = np.array(
    [
        [[4, 2], [5, 3]],
        [[3, 3], [3, 1]],
        [[2, 2], [1, 1]],
    ],
    dtype=float,
)


def test_member_scores_are_competence_weighted_means():
    assert_allclose(member_scores(PANEL, competence_weights=[3, 1]), [[3.5, 4.5], [3.0, 2.5], [2.0, 1.0]])


def test_interview_stage_matches_the_hand_computed_panel():
    stage = interview_stage(PANEL, ["c1", "c2", "c3"], competence_weights=[3, 1])
    assert stage.name == "interview"
    assert_allclose(stage.scores, [4.0, 2.75, 1.5])
    assert_allclose(stage.se, np.sqrt(0.375 / 2) * np.ones(3))
    assert stage.reliability == pytest.approx(2.583333333 / 2.958333333, rel=1e-8)


def test_interview_stage_per_candidate_se_uses_each_candidates_own_spread():
    stage = interview_stage(PANEL, ["c1", "c2", "c3"], competence_weights=[3, 1], se_method="candidate")
    assert_allclose(stage.se, [0.5, 0.25, 0.5])


def test_interview_stage_consistency_se_uses_the_residual_and_icc3k():
    stage = interview_stage(SHROUT_FLEISS[:, :, None], list("abcdef"), se_method="consistency")
    result = icc(SHROUT_FLEISS)
    assert_allclose(stage.se, np.sqrt(result.ms_error / 4))
    assert stage.reliability == pytest.approx(result.icc3k.value)


def test_interview_stage_on_shrout_fleiss_has_the_panels_icc2k_as_reliability():
    stage = interview_stage(SHROUT_FLEISS[:, :, None], list("abcdef"))
    assert round(stage.reliability, 2) == 0.62
    assert_allclose(stage.scores, SHROUT_FLEISS.mean(axis=1))
    # MSW = MSE + (MSC - MSE)/n = 1.019444 + 31.466667/6 = 6.263889, the between-judge variance pooled
    assert_allclose(stage.se, np.sqrt(6.263888889 / 4), rtol=1e-9)


def test_a_member_with_a_gap_counts_as_not_rating_and_widens_the_se():
    ratings = np.concatenate([PANEL, PANEL[:1] + 0.5], axis=0)  # a fourth candidate, complete
    ratings = np.concatenate([ratings, ratings[:, :1]], axis=1)  # a third member copying member 1
    ratings[0, 2, 1] = np.nan  # member 3 skipped one competence of candidate c1
    stage = interview_stage(ratings, ["c1", "c2", "c3", "c4"])
    full = stage.se[1]
    assert stage.se[0] == pytest.approx(full * np.sqrt(3 / 2))  # two members instead of three
    assert stage.scores[0] == pytest.approx(member_scores(ratings)[0, :2].mean())


def test_a_candidate_not_interviewed_yet_gets_no_score_and_no_composite():
    ratings = np.concatenate([PANEL, np.full((1, 2, 2), np.nan)], axis=0)
    interview = interview_stage(ratings, ["c1", "c2", "c3", "c4"])
    assert np.isnan(interview.scores[3]) and np.isnan(interview.se[3])
    knowledge = StageScores(
        "knowledge", ["c1", "c2", "c3", "c4"], [0.4, -0.2, 1.1, 0.3], [0.3, 0.3, 0.3, 0.3]
    )
    result = composite([knowledge, interview], {"knowledge": 0.6, "interview": 0.4})
    assert result.trace("c4").rank is None
    assert "'interview'" in result.reasons["c4"]


def test_panel_agreement_reports_each_competence_and_the_overall_rating():
    agreement = panel_agreement(PANEL, ["integrity", "reasoning"], competence_weights=[3, 1])
    assert agreement.by_competence["integrity"] is not None
    assert agreement.by_competence["integrity"].icc2.value == pytest.approx(icc(PANEL[:, :, 0]).icc2.value)
    assert agreement.overall is not None
    assert agreement.overall.icc2k.value == pytest.approx(2.583333333 / 2.958333333, rel=1e-8)


def test_interview_stage_refuses_a_panel_without_two_complete_candidates():
    ratings = PANEL.copy()
    ratings[1:, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"got 2 member\(s\) and 1 candidate\(s\)"):
        interview_stage(ratings, ["c1", "c2", "c3"])
