"""Selection campaigns: stages with published weights, the composite with its error, ratings and releases.

Nobody is removed between stages (DESIGN.md §1): every stage's scores are gathered for every candidate, the
composite is computed by :mod:`item_bank.composite`, and only then are candidates ranked, with bands. An
optional per-stage minimum is off by default; setting one needs a reason and is shown with its cost first.

This is the one module that turns campaign rows into the arrays of :mod:`item_bank.composite` and
:mod:`item_bank.agreement` and back. Each public function that changes something owns its commit.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError

from assessment.audit import services as audit
from assessment.auth.models import Role, User
from assessment.delivery.models import (
    Attempt,
    AttemptState,
    ExamDefinition,
    ExamSession,
    Irregularity,
    Registration,
)
from assessment.extensions import db
from assessment.i18n import translate as _
from assessment.results import services as results
from assessment.results.models import (
    Campaign,
    CampaignCandidate,
    CampaignStage,
    ResultRelease,
    SectionResult,
    StageKind,
    StageRating,
)
from item_bank import agreement
from item_bank.composite import (
    CandidateTrace,
    CompositeResult,
    CutAnalysis,
    MinimumScreen,
    StageScores,
    composite,
    critical_value,
    cut_analysis,
    minimum_screen,
)

# Read aloud or typed from a printed list: no 0/O, 1/I look-alikes.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
PROBE_COUNT = 2  # how many competences the profile suggests probing
UNCERTAIN_SE = 0.6  # a sub-score with a larger SE (theta metric) is "least certain"
NAME_MAX, TEXT_MAX = 100, 2000


class CampaignError(ValueError):
    """A request the campaign rules refuse; the message is shown as it is."""


# --------------------------------------------------------------------------------------------------------
# Setting up
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagePlan:
    """What an administrator declares for a stage (validated by :func:`create_campaign`)."""

    name: str
    kind: str
    weight: float
    definition_id: int | None = None
    section_position: int | None = None
    criteria: tuple[str, ...] = ()
    rating_min: int = 1
    rating_max: int = 5
    report_intercept: float = 0.0
    report_slope: float = 1.0
    report_decimals: int = 2


def _check_stage(plan: StagePlan, n: int) -> list[str]:
    where = _("Stage %(n)d", n=n)
    problems = []
    if not plan.name.strip() or len(plan.name) > NAME_MAX:
        problems.append(
            _("%(where)s: a name of 1 to %(max)d characters is needed", where=where, max=NAME_MAX)
        )
    if not (math.isfinite(plan.weight) and plan.weight > 0):
        problems.append(
            _(
                "%(where)s: the weight must be a number above 0, got %(value)s",
                where=where,
                value=plan.weight,
            )
        )
    if not (
        math.isfinite(plan.report_slope) and plan.report_slope > 0 and math.isfinite(plan.report_intercept)
    ):
        problems.append(_("%(where)s: the reported scale needs a slope above 0", where=where))
    if not 0 <= plan.report_decimals <= 3:
        problems.append(_("%(where)s: decimals must be 0 to 3", where=where))
    if plan.kind == StageKind.TEST.value:
        definition = db.session.get(ExamDefinition, plan.definition_id) if plan.definition_id else None
        if definition is None:
            problems.append(_("%(where)s: choose the test whose section is scored", where=where))
        elif plan.section_position is None or not 0 <= plan.section_position < len(definition.sections):
            problems.append(
                _(
                    "%(where)s: the test %(test)s has sections 1 to %(count)d, got %(value)s",
                    where=where,
                    test=definition.name,
                    count=len(definition.sections),
                    value=(plan.section_position or 0) + 1,
                )
            )
    elif plan.kind == StageKind.RATED.value:
        criteria = [c.strip() for c in plan.criteria]
        if not criteria or any(not c or len(c) > 40 for c in criteria) or len(set(criteria)) != len(criteria):
            problems.append(
                _("%(where)s: list the rated criteria, each once (1 to 40 characters)", where=where)
            )
        if not plan.rating_min < plan.rating_max:
            problems.append(_("%(where)s: the rating scale's maximum must be above its minimum", where=where))
    else:
        problems.append(_("%(where)s: unknown kind %(kind)r", where=where, kind=plan.kind))
    return problems


def create_campaign(
    *,
    name: str,
    stages: Sequence[StagePlan],
    actor: User,
    now: datetime,
    description: str | None = None,
    level: float = 0.95,
    places: int | None = None,
    members: Iterable[User] = (),
) -> Campaign:
    """A campaign with its ordered stages and published weights (all or nothing)."""
    problems = []
    if not name.strip() or len(name) > 200:
        problems.append(_("A campaign name of 1 to 200 characters is needed"))
    if not 0.5 <= level < 1:
        problems.append(
            _("The confidence level must be at least 0.5 and below 1, got %(value)s", value=level)
        )
    if places is not None and places < 1:
        problems.append(_("Places to fill must be at least 1, got %(value)s", value=places))
    if not stages:
        problems.append(_("A campaign needs at least one stage"))
    names = [s.name.strip() for s in stages]
    if len(set(names)) != len(names):
        problems.append(_("Stage names must differ from each other"))
    for n, plan in enumerate(stages, start=1):
        problems.extend(_check_stage(plan, n))
    members = list(members)
    for member in members:
        if member.role is not Role.COMMISSION:
            problems.append(_("%(user)s is not a commission member", user=member.username))
    if problems:
        raise CampaignError("; ".join(problems))
    campaign = Campaign(
        name=name.strip(),
        description=(description or "").strip()[:TEXT_MAX] or None,
        level=level,
        places=places,
        created_at=now,
        created_by_id=actor.id,
        members=members,
    )
    for position, plan in enumerate(stages):
        campaign.stages.append(
            CampaignStage(
                position=position,
                name=plan.name.strip(),
                kind=StageKind(plan.kind),
                weight=float(plan.weight),
                definition_id=plan.definition_id if plan.kind == StageKind.TEST.value else None,
                section_position=plan.section_position if plan.kind == StageKind.TEST.value else None,
                criteria=[c.strip() for c in plan.criteria] if plan.kind == StageKind.RATED.value else [],
                rating_min=plan.rating_min,
                rating_max=plan.rating_max,
                report_intercept=plan.report_intercept,
                report_slope=plan.report_slope,
                report_decimals=plan.report_decimals,
            )
        )
    db.session.add(campaign)
    db.session.flush()
    audit.record(
        "campaign.created",
        actor=actor,
        target=campaign,
        stages=[{"name": s.name, "kind": s.kind, "weight": s.weight} for s in stages],
        level=level,
        places=places,
    )
    db.session.commit()
    return campaign


def update_stage(
    stage: CampaignStage,
    *,
    weight: float,
    report_intercept: float,
    report_slope: float,
    report_decimals: int,
    actor: User,
) -> CampaignStage:
    """Change a stage's published weight or reported scale (audited with the old values)."""
    plan = StagePlan(
        name=stage.name,
        kind=stage.kind.value,
        weight=weight,
        definition_id=stage.definition_id,
        section_position=stage.section_position,
        criteria=tuple(stage.criteria),
        rating_min=stage.rating_min,
        rating_max=stage.rating_max,
        report_intercept=report_intercept,
        report_slope=report_slope,
        report_decimals=report_decimals,
    )
    problems = _check_stage(plan, stage.position + 1)
    if problems:
        raise CampaignError("; ".join(problems))
    before = {
        "weight": stage.weight,
        "report": [stage.report_intercept, stage.report_slope, stage.report_decimals],
    }
    stage.weight, stage.report_intercept = float(weight), float(report_intercept)
    stage.report_slope, stage.report_decimals = float(report_slope), int(report_decimals)
    audit.record(
        "campaign.stage_changed",
        actor=actor,
        target=stage,
        before=before,
        after={"weight": stage.weight, "report": [report_intercept, report_slope, report_decimals]},
    )
    db.session.commit()
    return stage


def preview_minimum(stage: CampaignStage, minimum: float) -> MinimumScreen:
    """Whom a minimum on this stage would remove, before anyone switches it on."""
    if not math.isfinite(minimum):
        raise CampaignError(_("The minimum must be a number"))
    campaign = stage.campaign
    scores = [gather_stage(s, campaign.candidates).scores for s in campaign.stages]
    minimums = {
        s.name: s.minimum for s in stage.campaign.stages if s.minimum is not None and s.id != stage.id
    }
    minimums[stage.name] = minimum
    return minimum_screen(scores, minimums, level=campaign.level)


def set_minimum(
    stage: CampaignStage,
    minimum: float | None,
    *,
    reason: str,
    actor: User,
    expected_removed: int | None = None,
) -> CampaignStage:
    """Switch a stage's minimum on (with a reason, after seeing its cost) or off.

    ``expected_removed`` is the count the administrator was shown; if the data changed meanwhile, the
    minimum is refused so that nobody confirms a cost they did not see.
    """
    if minimum is not None:
        if not reason.strip():
            raise CampaignError(_("Setting a minimum removes candidates: give the reason"))
        screen = preview_minimum(stage, minimum)
        removed = len(screen.removed_by_stage.get(stage.name, ()))
        if expected_removed is not None and expected_removed != removed:
            raise CampaignError(
                _(
                    "The scores changed since the preview: the minimum would now remove %(n)d candidates; "
                    "preview again",
                    n=removed,
                )
            )
    else:
        removed = 0
    audit.record(
        "campaign.minimum_set" if minimum is not None else "campaign.minimum_cleared",
        actor=actor,
        target=stage,
        before=stage.minimum,
        minimum=minimum,
        reason=reason.strip() or None,
        removed=removed,
    )
    stage.minimum = minimum
    stage.minimum_reason = reason.strip()[:TEXT_MAX] if minimum is not None else None
    db.session.commit()
    return stage


def rescore_stage(
    stage: CampaignStage,
    *,
    reason: str,
    actor: User,
    now: datetime,
    use_approved: bool = False,
    current_keys: bool = False,
) -> int:
    """Rescore every candidate's section of a test stage (all or nothing); old results are kept as history."""
    if stage.kind is not StageKind.TEST:
        raise CampaignError(_("Only test stages are rescored; rated stages change through their ratings"))
    if not reason.strip():
        raise CampaignError(_("A rescore needs a reason"))
    if not (use_approved or current_keys):
        raise CampaignError(_("Choose what changed: the approved parameters, the keys, or both"))
    evidence = _test_results(stage, stage.campaign.candidates)
    try:
        for item in evidence.values():
            results.rescore(
                item.attempt,
                stage.section_position,
                actor=actor,
                reason=reason.strip(),
                now=now,
                use_approved=use_approved,
                current_keys=current_keys,
                commit=False,
            )
    except ValueError as exc:
        db.session.rollback()
        raise CampaignError(str(exc)) from None
    audit.record(
        "campaign.stage_rescored",
        actor=actor,
        target=stage,
        reason=reason.strip(),
        attempts=len(evidence),
        new_parameters=use_approved,
        current_keys=current_keys,
    )
    db.session.commit()
    return len(evidence)


def _new_code(taken: set[str]) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in taken:
            return code


def enrol(
    campaign: Campaign, candidates: Iterable[User], *, actor: User, now: datetime
) -> list[CampaignCandidate]:
    """Add candidates under fresh coded identifiers (those already in the campaign are left as they are)."""
    present = {c.user_id for c in campaign.candidates}
    taken = {c.code for c in campaign.candidates}
    added = []
    for user in candidates:
        if user.id in present:
            continue
        if user.role is not Role.CANDIDATE:
            raise CampaignError(_("%(user)s is not a candidate", user=user.username))
        code = _new_code(taken)
        taken.add(code)
        present.add(user.id)
        row = CampaignCandidate(campaign=campaign, user_id=user.id, code=code, added_at=now)
        db.session.add(row)
        added.append(row)
    if added:
        audit.record("campaign.enrolled", actor=actor, target=campaign, codes=[c.code for c in added])
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent enrolment took a code or a candidate: nothing is half-written
        db.session.rollback()
        raise CampaignError(_("Someone enrolled candidates at the same time; try again")) from None
    return added


def enrol_from_sessions(campaign: Campaign, *, actor: User, now: datetime) -> list[CampaignCandidate]:
    """Enrol everyone registered in a session of any of the campaign's tests."""
    definitions = {s.definition_id for s in campaign.stages if s.kind is StageKind.TEST}
    users = db.session.execute(
        db.select(User)
        .join(Registration, Registration.candidate_id == User.id)
        .join(ExamSession, ExamSession.id == Registration.session_id)
        .where(ExamSession.definition_id.in_(definitions))
        .order_by(Registration.id)
    ).scalars()
    return enrol(campaign, dict.fromkeys(users), actor=actor, now=now)


def add_member(campaign: Campaign, member: User, *, actor: User) -> None:
    """Put a commission member on the campaign's panel."""
    if member.role is not Role.COMMISSION:
        raise CampaignError(_("%(user)s is not a commission member", user=member.username))
    if member not in campaign.members:
        campaign.members.append(member)
        audit.record("campaign.member_added", actor=actor, target=campaign, member=member.username)
        db.session.commit()


def can_read(campaign: Campaign, user: User) -> bool:
    """Administrators read every campaign; commission members the campaigns they sit on."""
    return user.role is Role.ADMINISTRATOR or (user.role is Role.COMMISSION and user in campaign.members)


# --------------------------------------------------------------------------------------------------------
# Gathering the stages' scores
# --------------------------------------------------------------------------------------------------------


@dataclass
class TestEvidence:
    """The section result behind one candidate's test-stage score."""

    result: SectionResult
    attempt: Attempt


def _test_results(stage: CampaignStage, candidates: Sequence[CampaignCandidate]) -> dict[str, TestEvidence]:
    """Each candidate's current result of the stage's section, from their latest finished attempt."""
    by_user = {c.user_id: c.code for c in candidates}
    rows = db.session.execute(
        db.select(SectionResult, Attempt, Registration.candidate_id)
        .join(Attempt, Attempt.id == SectionResult.attempt_id)
        .join(Registration, Registration.id == Attempt.registration_id)
        .join(ExamSession, ExamSession.id == Registration.session_id)
        .where(
            ExamSession.definition_id == stage.definition_id,
            SectionResult.position == stage.section_position,
            SectionResult.is_current,
            Attempt.state.in_([AttemptState.SUBMITTED, AttemptState.TERMINATED]),
            Registration.candidate_id.in_(list(by_user)),
        )
        .order_by(Attempt.finished_at, Attempt.id)
    ).all()
    evidence: dict[str, TestEvidence] = {}
    for result, attempt, user_id in rows:  # later attempts replace earlier ones
        evidence[by_user[user_id]] = TestEvidence(result=result, attempt=attempt)
    return evidence


def _ratings_array(
    stage: CampaignStage, candidates: Sequence[CampaignCandidate]
) -> tuple[np.ndarray, list[int]]:
    """Candidates x members x criteria ratings (NaN: not given) and the member ids of the middle axis."""
    rows = db.session.execute(db.select(StageRating).where(StageRating.stage_id == stage.id)).scalars().all()
    members = sorted({m.id for m in stage.campaign.members} | {r.member_id for r in rows})
    index = {c.id: i for i, c in enumerate(candidates)}
    member_index = {m: j for j, m in enumerate(members)}
    criterion_index = {c: q for q, c in enumerate(stage.criteria)}
    x = np.full((len(candidates), len(members), len(stage.criteria)), np.nan)
    for r in rows:
        if r.candidate_id in index and r.criterion in criterion_index:
            x[index[r.candidate_id], member_index[r.member_id], criterion_index[r.criterion]] = r.rating
    return x, members


@dataclass
class GatheredStage:
    """One stage's scores of the campaign's candidates, or why there are none yet."""

    stage: CampaignStage
    scores: StageScores
    problem: str | None = None
    evidence: dict[str, TestEvidence] = field(default_factory=dict)
    ratings: np.ndarray | None = None
    members: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.stage.name


def gather_stage(stage: CampaignStage, candidates: Sequence[CampaignCandidate]) -> GatheredStage:
    codes = [c.code for c in candidates]
    empty = np.full(len(codes), np.nan)
    if stage.kind is StageKind.TEST:
        evidence = _test_results(stage, candidates)
        theta = np.array(
            [
                evidence[c].result.theta if c in evidence and evidence[c].result.theta is not None else np.nan
                for c in codes
            ],
            dtype=float,
        )
        se = np.array(
            [
                evidence[c].result.se if c in evidence and evidence[c].result.se is not None else np.nan
                for c in codes
            ],
            dtype=float,
        )
        return GatheredStage(stage, StageScores(stage.name, codes, theta, se), evidence=evidence)
    x, members = _ratings_array(stage, candidates)
    try:
        scores = agreement.interview_stage(x, codes, name=stage.name)
    except ValueError as exc:
        return GatheredStage(
            stage, StageScores(stage.name, codes, empty, empty), problem=str(exc), ratings=x, members=members
        )
    return GatheredStage(stage, scores, ratings=x, members=members)


# --------------------------------------------------------------------------------------------------------
# The composite, the ranking and the cut
# --------------------------------------------------------------------------------------------------------


@dataclass
class Standing:
    """The campaign's composite with everything a results page shows and a reader may want to trace."""

    campaign: Campaign
    stages: list[GatheredStage]
    result: CompositeResult | None
    problem: str | None
    minimums: MinimumScreen | None
    removed: dict[str, list[str]]  # candidate code -> stages whose minimum removed them
    ranked: CompositeResult | None  # the composite among those not removed by a minimum
    cut: CutAnalysis | None

    def trace(self, code: str) -> CandidateTrace | None:
        """The candidate's composite as shown: among those kept, or in the whole field when removed."""
        if self.result is None or self.ranked is None:
            return None
        return (self.result if code in self.removed else self.ranked).trace(code)

    def status(self, code: str) -> str | None:
        """ "removed" by a minimum, the cut analysis's status, or None (no cut, or no composite)."""
        if code in self.removed:
            return "removed"
        trace = self.trace(code)
        if self.cut is None or trace is None or trace.composite is None:
            return None
        return self.cut.status(code)

    def code_order(self) -> list[str]:
        """Candidate codes, ranked first (by rank), then the rest in code order."""
        if self.ranked is None:
            return sorted(c.code for c in self.campaign.candidates)
        ranked = self.ranked
        order = sorted(
            (i for i in range(len(ranked.candidate_ids)) if ranked.computed[i]),
            key=lambda i: (ranked.rank[i], ranked.candidate_ids[i]),
        )
        codes = [ranked.candidate_ids[i] for i in order]
        rest = sorted(c.code for c in self.campaign.candidates if c.code not in set(codes))
        return codes + rest


def standing(campaign: Campaign, *, places: int | None = None, cut: float | None = None) -> Standing:
    """Gather every stage, combine, apply any minimums (off by default) and analyse the cut."""
    candidates = list(campaign.candidates)
    gathered = [gather_stage(s, candidates) for s in campaign.stages]
    weights = {g.name: g.stage.weight for g in gathered}
    if len(candidates) < 2:
        return Standing(
            campaign,
            gathered,
            None,
            _("A composite needs at least two candidates"),
            None,
            {},
            None,
            None,
        )
    for g in gathered:
        n_scored = int(g.scores.scored.sum())
        if n_scored < 2:
            problem = _(
                "Stage %(stage)s has scores for %(n)d candidate(s); the composite needs at least two "
                "in every stage",
                stage=g.name,
                n=n_scored,
            )
            return Standing(campaign, gathered, None, problem, None, {}, None, None)
    try:
        result = composite([g.scores for g in gathered], weights, level=campaign.level)
    except ValueError as exc:
        return Standing(campaign, gathered, None, str(exc), None, {}, None, None)
    minimums = {g.name: g.stage.minimum for g in gathered if g.stage.minimum is not None}
    screen = (
        minimum_screen([g.scores for g in gathered], minimums, level=campaign.level) if minimums else None
    )
    removed: dict[str, list[str]] = {}
    if screen is not None:
        for stage_name, codes in screen.removed_by_stage.items():
            for code in codes:
                removed.setdefault(code, []).append(stage_name)
    ranked = result
    if removed:
        # The same standardisation as for everybody (the reference stays the whole field), ranked without
        # the removed: their scores still count in the means and SDs, as they did when they were measured.
        kept = [i for i, c in enumerate(result.candidate_ids) if c not in removed]
        ids = [result.candidate_ids[i] for i in kept]
        stages = [
            StageScores(
                name,
                ids,
                result.scores[kept, j],
                result.stage_se[kept, j],
                reliability=std.reliability if not math.isnan(std.reliability) else None,
                scale_mean=std.mean,
                scale_sd=std.sd,
            )
            for j, (name, std) in enumerate(zip(result.stage_names, result.stages, strict=True))
        ]
        ranked = composite(stages, weights, level=campaign.level)
    analysis = None
    places = places if places is not None else campaign.places
    if ranked.n_ranked >= 1 and (cut is not None or places is not None):
        try:
            analysis = cut_analysis(
                ranked, cut, places=None if cut is not None else min(places or 1, ranked.n_ranked)
            )
        except ValueError:
            analysis = None
    return Standing(campaign, gathered, result, None, screen, removed, ranked, analysis)


def report_scale(stage: CampaignStage, value: float | None) -> float | None:
    """A score (or band end) on the stage's reported scale, with its rounding rule."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(stage.report_intercept + stage.report_slope * value, stage.report_decimals)


# --------------------------------------------------------------------------------------------------------
# Ratings (interview, case analysis)
# --------------------------------------------------------------------------------------------------------


def record_ratings(
    stage: CampaignStage,
    candidate: CampaignCandidate,
    member: User,
    ratings: Mapping[str, float | None],
    *,
    now: datetime,
) -> dict[str, float]:
    """A member's ratings of one candidate per criterion (all or nothing; the audit keeps old values)."""
    if stage.kind is not StageKind.RATED:
        raise CampaignError(_("Stage %(stage)s is not rated by members", stage=stage.name))
    if member not in stage.campaign.members:
        raise CampaignError(_("Only the campaign's commission members rate its candidates"))
    if candidate.campaign_id != stage.campaign_id:
        raise CampaignError(_("The candidate is not in this campaign"))
    unknown = sorted(set(ratings) - set(stage.criteria))
    if unknown:
        raise CampaignError(_("Unknown criteria: %(names)s", names=", ".join(unknown)))
    problems = []
    for criterion, value in ratings.items():
        if value is not None and not (math.isfinite(value) and stage.rating_min <= value <= stage.rating_max):
            problems.append(
                _(
                    "%(criterion)s: a rating from %(low)d to %(high)d is needed, got %(value)s",
                    criterion=criterion,
                    low=stage.rating_min,
                    high=stage.rating_max,
                    value=value,
                )
            )
    if problems:
        raise CampaignError("; ".join(problems))
    existing = {
        r.criterion: r
        for r in db.session.execute(
            db.select(StageRating).where(
                StageRating.stage_id == stage.id,
                StageRating.candidate_id == candidate.id,
                StageRating.member_id == member.id,
            )
        ).scalars()
    }
    changes = {}
    for criterion, value in ratings.items():
        row = existing.get(criterion)
        old = row.rating if row is not None else None
        if old == value:
            continue
        if value is None:
            db.session.delete(row)
        elif row is None:
            db.session.add(
                StageRating(
                    stage_id=stage.id,
                    candidate_id=candidate.id,
                    member_id=member.id,
                    criterion=criterion,
                    rating=float(value),
                    rated_at=now,
                )
            )
        else:
            row.rating, row.rated_at = float(value), now
        changes[criterion] = [old, None if value is None else float(value)]
    if changes:
        audit.record("campaign.rated", actor=member, target=stage, candidate=candidate.code, changes=changes)
    try:
        db.session.commit()
    except IntegrityError:  # the same member saving twice at once: the other save won, nothing half-written
        db.session.rollback()
        raise CampaignError(_("These ratings were saved at the same moment elsewhere; reload")) from None
    return member_ratings(stage, candidate, member)


def member_ratings(stage: CampaignStage, candidate: CampaignCandidate, member: User) -> dict[str, float]:
    rows = db.session.execute(
        db.select(StageRating).where(
            StageRating.stage_id == stage.id,
            StageRating.candidate_id == candidate.id,
            StageRating.member_id == member.id,
        )
    ).scalars()
    return {r.criterion: r.rating for r in rows}


def panel_agreement(gathered: GatheredStage) -> agreement.PanelAgreement | None:
    """ICCs between the members of a rated stage, per criterion and overall."""
    if gathered.ratings is None or gathered.ratings.shape[1] < 2:
        return None
    return agreement.panel_agreement(
        gathered.ratings, gathered.stage.criteria, level=gathered.stage.campaign.level
    )


# --------------------------------------------------------------------------------------------------------
# The candidate's profile for the commission, and the candidate's own report
# --------------------------------------------------------------------------------------------------------


def _band(value: float | None, se: float | None, crit: float) -> tuple[float | None, float | None]:
    if value is None or se is None:
        return None, None
    return value - crit * se, value + crit * se


def profile(standing_: Standing, code: str) -> dict[str, Any]:
    """What the commission reads about one candidate: numbers, bands and irregularities; no item content."""
    campaign = standing_.campaign
    crit = critical_value(campaign.level)
    candidate = next(c for c in campaign.candidates if c.code == code)
    stages = []
    knowledge_domains: list[dict[str, Any]] = []
    competences: list[dict[str, Any]] = []
    attempts = []
    for g in standing_.stages:
        i = g.scores.candidate_ids.index(code)
        score = None if math.isnan(g.scores.scores[i]) else float(g.scores.scores[i])
        se = None if math.isnan(g.scores.se[i]) else float(g.scores.se[i])
        low, high = _band(score, se, crit)
        entry: dict[str, Any] = {
            "stage": g.name,
            "kind": g.stage.kind.value,
            "score": score,
            "se": se,
            "lower": low,
            "upper": high,
            "reported": report_scale(g.stage, score),
            "reported_lower": report_scale(g.stage, low),
            "reported_upper": report_scale(g.stage, high),
            "problem": g.problem,
        }
        evidence = g.evidence.get(code)
        if evidence is not None:
            result = evidence.result
            attempts.append(evidence.attempt)
            entry["number_correct"] = result.number_correct
            entry["max_score"] = result.max_score
            entry["unscored_reason"] = result.unscored_reason
            family = evidence.attempt.registration.session.definition.sections[
                g.stage.section_position
            ].family
            subs = [
                {
                    "name": name,
                    "theta": sub["theta"],
                    "se": sub["se"],
                    "lower": sub["theta"] - crit * sub["se"],
                    "upper": sub["theta"] + crit * sub["se"],
                    "n": sub["n"],
                    "too_few": bool(sub["too_few"]),
                    "stage": g.name,
                }
                for name, sub in sorted(result.subscores.items())
            ]
            entry["subscores"] = subs
            (knowledge_domains if family == "knowledge" else competences).extend(subs)
        if g.stage.kind is StageKind.RATED and g.ratings is not None:
            row = g.ratings[g.scores.candidate_ids.index(code)]  # members x criteria
            entry["criteria"] = [
                {
                    "name": criterion,
                    "mean": None if np.isnan(row[:, q]).all() else float(np.nanmean(row[:, q])),
                    "n_members": int((~np.isnan(row[:, q])).sum()),
                }
                for q, criterion in enumerate(g.stage.criteria)
            ]
        stages.append(entry)
    interpretable = [d for d in knowledge_domains if not d["too_few"]]
    ordered = sorted(interpretable, key=lambda d: d["theta"])
    for c in competences:  # why a competence would be worth probing
        c["why"] = "too_few" if c["too_few"] else "uncertain" if c["se"] > UNCERTAIN_SE else "lowest"
    probe = sorted(competences, key=lambda c: (c["why"] == "lowest", c["theta"]))[:PROBE_COUNT]
    irregularities = []
    if attempts:
        rows = db.session.execute(
            db.select(Irregularity)
            .where(Irregularity.attempt_id.in_([a.id for a in attempts]))
            .order_by(Irregularity.at)
        ).scalars()
        irregularities = [
            {"category": r.category, "source": r.source, "note": r.note, "at": r.at} for r in rows
        ]
    return {
        "code": code,
        "candidate": candidate,
        "stages": stages,
        "trace": standing_.trace(code),
        "removed_by": standing_.removed.get(code, []),
        "cut_status": standing_.status(code),
        "strongest": ordered[-1] if ordered else None,
        "weakest": ordered[0] if ordered else None,
        "domains": knowledge_domains,
        "competences": competences,
        "probe": probe,
        "irregularities": irregularities,
        "level": campaign.level,
    }


def candidate_report(standing_: Standing, code: str) -> dict[str, Any]:
    """A candidate's own results: stages with bands on the reported scales; nothing about anyone else."""
    data = profile(standing_, code)
    trace = data["trace"]
    return {
        "level": data["level"],
        "stages": [
            {
                key: stage.get(key)
                for key in (
                    "stage",
                    "kind",
                    "reported",
                    "reported_lower",
                    "reported_upper",
                    "number_correct",
                    "max_score",
                )
            }
            | {
                "subscores": [
                    {k: s[k] for k in ("name", "theta", "lower", "upper", "too_few")}
                    for s in stage.get("subscores", [])
                ]
            }
            for stage in data["stages"]
        ],
        "composite": None
        if trace is None or trace.composite is None
        else {"value": trace.composite, "lower": trace.lower, "upper": trace.upper},
    }


def release_results(
    campaign: Campaign, *, actor: User, now: datetime, note: str | None = None
) -> ResultRelease:
    """Freeze each candidate's report and show it to them (a later release replaces what they see)."""
    current = standing(campaign)
    if current.result is None:
        raise CampaignError(_("Nothing to release yet: %(problem)s", problem=current.problem))
    reports = {c.code: candidate_report(current, c.code) for c in campaign.candidates}
    release = ResultRelease(
        campaign_id=campaign.id,
        released_at=now,
        released_by_id=actor.id,
        note=(note or "").strip() or None,
        reports=reports,
    )
    db.session.add(release)
    db.session.flush()
    audit.record(
        "campaign.results_released", actor=actor, target=campaign, release=release.id, candidates=len(reports)
    )
    db.session.commit()
    return release


def released_reports(user: User) -> list[tuple[Campaign, ResultRelease, dict[str, Any]]]:
    """The latest released report of each campaign the candidate is in."""
    out = []
    memberships = db.session.execute(
        db.select(CampaignCandidate).where(CampaignCandidate.user_id == user.id)
    ).scalars()
    for membership in memberships:
        release = db.session.execute(
            db.select(ResultRelease)
            .where(ResultRelease.campaign_id == membership.campaign_id)
            .order_by(ResultRelease.released_at.desc(), ResultRelease.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if release is not None and membership.code in release.reports:
            out.append((membership.campaign, release, release.reports[membership.code]))
    return out
