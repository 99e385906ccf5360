"""Scoring one candidate's section: category scores, number-correct, theta with its SE, and sub-scores.

The rules, in one place:

* Pretest items are never scored (the caller leaves them out).
* An item that was presented but not answered scores 0: in a timed linear section an omitted answer is a
  wrong one. Items without parameters (not yet calibrated) count towards number-correct only.
* Theta and its SE come from the item parameters the attempt pinned, by the section's method (EAP by
  default). Sub-scores (legal domain, judicial competence) are estimated the same way on each category's
  items; fewer than :data:`MIN_SUBSCORE_ITEMS` items make a sub-score "too few items to interpret".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from item_bank.irt.models import ItemParameters
from item_bank.irt.scoring import score_responses
from item_bank.items import ItemSpec, max_category, score_response

__all__ = ["MIN_SUBSCORE_ITEMS", "SectionScore", "score_section"]

MIN_SUBSCORE_ITEMS = 5


@dataclass(frozen=True)
class SectionScore:
    """The score of one section (see the module docstring for the rules)."""

    method: str
    theta: float | None
    se: float | None
    number_correct: int
    max_score: int
    n_scored: int
    n_answered: int
    item_scores: dict[str, int | None]
    subscores: dict[str, dict[str, Any]] = field(default_factory=dict)
    unscored_reason: str | None = None


def _estimate(params: ItemParameters, scores: Sequence[int], method: str) -> tuple[float, float]:
    result = score_responses(params, np.asarray([scores], dtype=np.int64), method)
    return float(result.theta[0]), float(result.se[0])


def score_section(
    items: Sequence[ItemSpec],
    responses: Mapping[str, Mapping[str, Any] | None],
    params: ItemParameters | None,
    *,
    method: str = "eap",
) -> SectionScore:
    """Score a section.

    Parameters
    ----------
    items : sequence of ItemSpec
        The scored items of the section, as presented (their pinned versions).
    responses : mapping of item code to response (or None when not answered)
    params : ItemParameters, optional
        The pinned parameters of (some of) the items; None when none are calibrated.
    method : {"eap", "map", "ml", "wle"}
    """
    item_scores: dict[str, int | None] = {s.code: score_response(s, responses.get(s.code)) for s in items}
    given = {code: (0 if score is None else score) for code, score in item_scores.items()}
    calibrated = [s for s in items if params is not None and s.code in params.item_ids]
    theta = se = None
    reason = None
    subscores: dict[str, dict[str, Any]] = {}
    if calibrated and params is not None:
        subset = params.subset([s.code for s in calibrated])
        theta, se = _estimate(subset, [given[s.code] for s in calibrated], method)
        categories: dict[str, list[ItemSpec]] = {}
        for spec in calibrated:
            category = spec.domain if spec.family == "knowledge" else spec.competence
            if category:
                categories.setdefault(category, []).append(spec)
        for category, specs in sorted(categories.items()):
            sub_theta, sub_se = _estimate(
                params.subset([s.code for s in specs]), [given[s.code] for s in specs], method
            )
            subscores[category] = {
                "theta": sub_theta,
                "se": sub_se,
                "n": len(specs),
                "too_few": len(specs) < MIN_SUBSCORE_ITEMS,
            }
    else:
        reason = "no scored item of this section has approved parameters"
    return SectionScore(
        method=method,
        theta=theta,
        se=se,
        number_correct=sum(given.values()),
        max_score=sum(max_category(s) for s in items),
        n_scored=len(items),
        n_answered=sum(score is not None for score in item_scores.values()),
        item_scores=item_scores,
        subscores=subscores,
        unscored_reason=reason,
    )
