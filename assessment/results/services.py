"""Scoring closed sections on the bank scale with the attempt's pinned parameters; rescoring keeps history."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import update

from assessment.audit import services as audit
from assessment.auth.models import User
from assessment.bank import repository
from assessment.bank.models import Item, ItemVersion, ParameterSet
from assessment.delivery.models import Attempt, CurrentAnswer
from assessment.extensions import db
from assessment.results.models import SectionResult
from item_bank.items import ItemSpec
from item_bank.section_scoring import score_section


def score_attempt_section(
    attempt_id: int,
    position: int,
    *,
    now: datetime,
    actor: User | None = None,
    reason: str | None = None,
    parameter_sets: dict[str, int] | None = None,
    current_keys: bool = False,
) -> SectionResult:
    """Score one closed section and make it the current result (the caller commits).

    ``parameter_sets`` replaces the attempt's pinned sets (item code -> set id) for a rescore with new
    parameters; by default the pinned ones are used, so a score can always be reproduced. ``current_keys``
    scores the presented versions with the item's latest key and scoring rule (a corrected key): the options
    the candidate saw are kept, so a key may change but not the options.
    """
    attempt = db.session.get(Attempt, attempt_id)
    planned = attempt.form["sections"][position]
    pretest = set(planned.get("pretest", []))
    codes = [code for code in planned["items"] if code not in pretest]
    versions = attempt.form.get("versions", {})
    rows = {i.code: i for i in db.session.execute(db.select(Item).where(Item.code.in_(codes))).scalars()}
    specs = [
        repository.spec_of(
            rows[code], db.session.get(ItemVersion, versions[code]) if code in versions else None
        )
        for code in codes
    ]
    if current_keys:
        specs = [_with_current_key(spec, rows[spec.code]) for spec in specs]
    answers = {
        a.item_code: a.response
        for a in db.session.execute(
            db.select(CurrentAnswer).where(
                CurrentAnswer.attempt_id == attempt_id, CurrentAnswer.item_code.in_(codes)
            )
        ).scalars()
    }
    chosen = parameter_sets if parameter_sets is not None else attempt.pinned_parameters
    sets = [db.session.get(ParameterSet, chosen[code]) for code in codes if code in chosen]
    params = repository.item_parameters_of(sets) if sets else None
    method = attempt.registration.session.definition.scoring_method or "eap"
    score = score_section(specs, answers, params, method=method)
    db.session.execute(
        update(SectionResult)
        .where(
            SectionResult.attempt_id == attempt_id,
            SectionResult.position == position,
            SectionResult.is_current,
        )
        .values(is_current=False)
    )
    result = SectionResult(
        attempt_id=attempt_id,
        position=position,
        method=score.method,
        theta=score.theta,
        se=score.se,
        number_correct=score.number_correct,
        max_score=score.max_score,
        n_scored=score.n_scored,
        n_answered=score.n_answered,
        subscores=score.subscores,
        parameter_sets={p.item.code: p.id for p in sets},
        item_scores=score.item_scores,
        unscored_reason=score.unscored_reason,
        scored_at=now,
        reason=reason,
        scored_by_id=getattr(actor, "id", None),
    )
    db.session.add(result)
    db.session.flush()
    return result


def _with_current_key(presented: ItemSpec, item: Item) -> ItemSpec:
    latest = repository.spec_of(item)
    if latest.n_options != presented.n_options:
        msg = f"item {item.code}: its options changed since it was presented; a new key cannot be applied"
        raise ValueError(msg)
    return replace(presented, key=latest.key, scoring=latest.scoring)


def rescore(
    attempt: Attempt,
    position: int,
    *,
    actor: User,
    reason: str,
    now: datetime,
    use_approved: bool = False,
    current_keys: bool = False,
    commit: bool = True,
) -> SectionResult:
    """An explicit, audited rescore (a corrected key, new parameters); the old result is kept."""
    if not reason.strip():
        raise ValueError("a rescore needs a reason")
    sets = None
    if use_approved:
        planned = attempt.form["sections"][position]
        codes = [c for c in planned["items"] if c not in set(planned.get("pretest", []))]
        items = db.session.execute(db.select(Item).where(Item.code.in_(codes))).scalars()
        sets = {i.code: i.approved_parameters.id for i in items if i.approved_parameters is not None}
    result = score_attempt_section(
        attempt.id,
        position,
        now=now,
        actor=actor,
        reason=reason,
        parameter_sets=sets,
        current_keys=current_keys,
    )
    audit.record(
        "results.rescored",
        actor=actor,
        target=attempt,
        section=position,
        result=result.id,
        reason=reason,
        new_parameters=use_approved,
        current_keys=current_keys,
    )
    if commit:
        db.session.commit()
    return result
