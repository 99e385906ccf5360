"""Item response theory: response models, calibration (MML-EM), scoring, information, fit, DIF and linking.

Pure numpy/scipy. Responses are integer arrays of shape (N persons, J items) with -1 for "not presented" and
0..K_j-1 for the category of item j.
"""

from item_bank.irt.calibration import Calibrator, ItemStandardErrors
from item_bank.irt.classical import (
    ClassicalItemStatistics,
    alpha_if_deleted,
    cronbach_alpha,
    item_statistics,
    p_values,
    point_biserial,
)
from item_bank.irt.dif import (
    LikelihoodRatioDIF,
    MantelHaenszelDIF,
    PolytomousDIF,
    ets_classification,
    likelihood_ratio_dif,
    mantel_haenszel,
    mantel_polytomous,
)
from item_bank.irt.fit import RaschFit, SX2Result, local_dependence, q3, rasch_fit, s_x2
from item_bank.irt.information import InformationCurves, conditional_sem, information_curves
from item_bank.irt.linking import (
    LINKERS,
    LinkingResult,
    haebara,
    link,
    mean_mean,
    mean_sigma,
    stocking_lord,
    transform_parameters,
)
from item_bank.irt.models import (
    DICHOTOMOUS,
    MISSING,
    MODELS,
    POLYTOMOUS,
    ItemParameters,
    category_probabilities,
    check_responses,
    expected_score,
    item_information,
    log_likelihood,
    log_likelihood_gradient,
    random_item_parameters,
    simulate_responses,
    test_information,
)
from item_bank.irt.scoring import (
    SCORERS,
    ScoreResult,
    SumScoreTable,
    eap_scores,
    eap_sum_scores,
    empirical_reliability,
    map_scores,
    marginal_reliability,
    ml_scores,
    score_responses,
    sum_score_table,
    wle_scores,
)

__all__ = [
    # models.py and calibration.py
    "DICHOTOMOUS",
    "MISSING",
    "MODELS",
    "POLYTOMOUS",
    "Calibrator",
    "ItemParameters",
    "ItemStandardErrors",
    "category_probabilities",
    "check_responses",
    "expected_score",
    "item_information",
    "log_likelihood",
    "log_likelihood_gradient",
    "random_item_parameters",
    "simulate_responses",
    "test_information",
    # end of models.py and calibration.py
]
__all__ += [  # scoring, information, classical, fit, dif and linking
    "LINKERS",
    "SCORERS",
    "ClassicalItemStatistics",
    "InformationCurves",
    "LikelihoodRatioDIF",
    "LinkingResult",
    "MantelHaenszelDIF",
    "PolytomousDIF",
    "RaschFit",
    "SX2Result",
    "ScoreResult",
    "SumScoreTable",
    "alpha_if_deleted",
    "conditional_sem",
    "cronbach_alpha",
    "eap_scores",
    "eap_sum_scores",
    "empirical_reliability",
    "ets_classification",
    "haebara",
    "information_curves",
    "item_statistics",
    "likelihood_ratio_dif",
    "link",
    "local_dependence",
    "mantel_haenszel",
    "mantel_polytomous",
    "map_scores",
    "marginal_reliability",
    "mean_mean",
    "mean_sigma",
    "ml_scores",
    "p_values",
    "point_biserial",
    "q3",
    "rasch_fit",
    "s_x2",
    "score_responses",
    "stocking_lord",
    "sum_score_table",
    "transform_parameters",
    "wle_scores",
]
