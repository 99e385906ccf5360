"""Campaigns as a JSON API: the same services and the same numbers as the pages."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import RAISE, Schema, fields, validate

from assessment.auth.access import roles_required
from assessment.auth.models import Role, User
from assessment.delivery.clock import db_now
from assessment.extensions import db
from assessment.results import campaigns
from assessment.results.models import Campaign, CampaignCandidate, CampaignStage, StageKind

bp = Blueprint(
    "api_results",
    __name__,
    url_prefix="/api/v1",
    description="Selection campaigns: the composite ranking, profiles for the commission, ratings, releases",
)
readers = roles_required(Role.ADMINISTRATOR, Role.COMMISSION)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class StageIn(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in StageKind]))
    weight = fields.Float(required=True)
    definition = fields.Integer(load_default=None, metadata={"description": "test stages: the test's id"})
    section = fields.Integer(load_default=None, metadata={"description": "test stages: section, from 1"})
    criteria = fields.List(fields.String(), load_default=list, metadata={"description": "rated stages"})
    rating_min = fields.Integer(load_default=1)
    rating_max = fields.Integer(load_default=5)
    report_intercept = fields.Float(load_default=0.0)
    report_slope = fields.Float(load_default=1.0)
    report_decimals = fields.Integer(load_default=2)


class CampaignIn(_Strict):
    name = fields.String(required=True)
    description = fields.String(load_default=None)
    level = fields.Float(load_default=0.95)
    places = fields.Integer(load_default=None)
    members = fields.List(fields.String(), load_default=list, metadata={"description": "user names"})
    stages = fields.List(fields.Nested(StageIn), required=True, validate=validate.Length(min=1))


class StageOut(Schema):
    id = fields.Integer()
    position = fields.Integer()
    name = fields.String()
    kind = fields.Function(lambda s: s.kind.value)
    weight = fields.Float()
    definition_id = fields.Integer(allow_none=True)
    section_position = fields.Integer(allow_none=True)
    criteria = fields.List(fields.String())
    minimum = fields.Float(allow_none=True)
    minimum_reason = fields.String(allow_none=True)


class CampaignOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    level = fields.Float()
    places = fields.Integer(allow_none=True)
    stages = fields.List(fields.Nested(StageOut))
    candidates = fields.Function(lambda c: len(c.candidates))


class PlacesIn(Schema):
    places = fields.Integer(load_default=None, validate=validate.Range(min=1))


class RatingsIn(_Strict):
    ratings = fields.Dict(
        keys=fields.String(),
        values=fields.Float(allow_none=True),
        required=True,
        metadata={"description": "criterion -> rating (null removes a rating)"},
    )


class ReleaseIn(_Strict):
    note = fields.String(load_default=None)


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaigns.can_read(campaign, current_user):
        abort(404, message="no such campaign")
    return campaign


def _candidate(campaign: Campaign, code: str) -> CampaignCandidate:
    candidate = next((c for c in campaign.candidates if c.code == code), None)
    if candidate is None:
        abort(404, message=f"no candidate {code!r} in this campaign")
    return candidate


def _num(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _trace(trace: Any) -> dict[str, Any] | None:
    if trace is None:
        return None
    return {
        "composite": trace.composite,
        "se": trace.se,
        "lower": trace.lower,
        "upper": trace.upper,
        "rank": trace.rank,
        "best_rank": trace.best_rank,
        "worst_rank": trace.worst_rank,
        "reason": trace.reason,
        "stages": [
            {
                "stage": c.stage,
                "score": c.score,
                "se": c.se,
                "mean": c.mean,
                "sd": c.sd,
                "z": c.z,
                "se_z": c.se_z,
                "declared_weight": c.declared_weight,
                "weight": c.weight,
                "contribution": c.contribution,
            }
            for c in trace.contributions
        ],
    }


def ranking_document(standing: campaigns.Standing, *, names: bool) -> dict[str, Any]:
    result = standing.result
    rows = []
    for code in standing.code_order():
        row = {
            "code": code,
            "removed_by_minimum": standing.removed.get(code, []),
            "composite": _trace(standing.trace(code)),
        }
        if standing.status(code) not in (None, "removed"):
            row["at_cut"] = standing.status(code)
        if names:
            row["name"] = next(c.user.full_name for c in standing.campaign.candidates if c.code == code)
        rows.append(row)
    cut = standing.cut
    return {
        "campaign": standing.campaign.id,
        "level": standing.campaign.level,
        "problem": standing.problem,
        "stages": [
            {
                "name": g.name,
                "kind": g.stage.kind.value,
                "declared_weight": g.stage.weight,
                "scored": int(g.scores.scored.sum()),
                "problem": g.problem,
                "minimum": g.stage.minimum,
                **(
                    {
                        "weight": float(result.weights[j]),
                        "mean": result.stages[j].mean,
                        "sd": result.stages[j].sd,
                        "reliability": _num(result.stages[j].reliability),
                    }
                    if result is not None
                    else {}
                ),
            }
            for j, g in enumerate(standing.stages)
        ],
        "composite_reliability": _num(result.reliability) if result is not None else None,
        "cut": None
        if cut is None
        else {
            "cut": cut.cut,
            "places": cut.places,
            "clearly_above": list(cut.clearly_above),
            "clearly_below": list(cut.clearly_below),
            "not_distinguishable": list(cut.not_distinguishable),
            "expected_consistency": cut.expected_consistency,
            "kappa": _num(cut.kappa),
        },
        "candidates": rows,
    }


@bp.route("/campaigns")
class CampaignsView(MethodView):
    @readers
    @bp.response(200, CampaignOut(many=True))
    def get(self):
        """The campaigns the signed-in user may read."""
        rows = db.session.execute(db.select(Campaign).order_by(Campaign.id)).scalars()
        return [c for c in rows if campaigns.can_read(c, current_user)]

    @roles_required(Role.ADMINISTRATOR)
    @bp.arguments(CampaignIn)
    @bp.response(201, CampaignOut)
    def post(self, data):
        """Create a campaign with its stages and published weights (administrators)."""
        members = []
        for username in data["members"]:
            user = db.session.execute(db.select(User).where(User.username == username)).scalar_one_or_none()
            if user is None:
                abort(422, message=f"members: no user {username!r}")
            members.append(user)
        plans = [
            campaigns.StagePlan(
                name=s["name"],
                kind=s["kind"],
                weight=s["weight"],
                definition_id=s["definition"],
                section_position=s["section"] - 1 if s["section"] is not None else None,
                criteria=tuple(s["criteria"]),
                rating_min=s["rating_min"],
                rating_max=s["rating_max"],
                report_intercept=s["report_intercept"],
                report_slope=s["report_slope"],
                report_decimals=s["report_decimals"],
            )
            for s in data["stages"]
        ]
        try:
            return campaigns.create_campaign(
                name=data["name"],
                description=data["description"],
                level=data["level"],
                places=data["places"],
                stages=plans,
                members=members,
                actor=current_user._get_current_object(),
                now=db_now(),
            )
        except campaigns.CampaignError as exc:
            abort(422, message=str(exc))


@bp.route("/campaigns/<int:campaign_id>/ranking")
class RankingView(MethodView):
    @readers
    @bp.arguments(PlacesIn, location="query")
    @bp.response(200)
    def get(self, args, campaign_id):
        """Every candidate's composite with SE, band, rank range and trace; the analysis at the cut."""
        standing = campaigns.standing(_campaign(campaign_id), places=args["places"])
        return ranking_document(standing, names=current_user.role is Role.ADMINISTRATOR)


@bp.route("/campaigns/<int:campaign_id>/candidates/<code>")
class ProfileView(MethodView):
    @readers
    @bp.response(200)
    def get(self, campaign_id, code):
        """One candidate's profile for the interview (coded; names only for administrators)."""
        campaign = _campaign(campaign_id)
        candidate = _candidate(campaign, code)
        data = campaigns.profile(campaigns.standing(campaign), code)
        out = {key: value for key, value in data.items() if key not in ("candidate", "trace")}
        out["composite"] = _trace(data["trace"])
        out["irregularities"] = [{**i, "at": i["at"].isoformat()} for i in data["irregularities"]]
        if current_user.role is Role.ADMINISTRATOR:
            out["name"] = candidate.user.full_name
        else:  # a member sees the panel's ratings once they have given their own: independent ratings
            for stage, entry in zip(campaign.stages, out["stages"], strict=True):
                mine = campaigns.member_ratings(stage, candidate, current_user) if "criteria" in entry else {}
                if "criteria" in entry and len(mine) < len(stage.criteria):
                    entry["criteria"] = None
        return out


@bp.route("/campaigns/<int:campaign_id>/candidates/<code>/ratings/<int:stage_id>")
class RatingsView(MethodView):
    @roles_required(Role.COMMISSION)
    @bp.arguments(RatingsIn)
    @bp.response(200)
    def put(self, data, campaign_id, code, stage_id):
        """The signed-in member's ratings of one candidate on a rated stage, per criterion."""
        campaign = _campaign(campaign_id)
        candidate = _candidate(campaign, code)
        stage = db.session.get(CampaignStage, stage_id)
        if stage is None or stage.campaign_id != campaign.id:
            abort(404, message="no such stage in this campaign")
        member = current_user._get_current_object()
        try:
            return {
                "ratings": campaigns.record_ratings(stage, candidate, member, data["ratings"], now=db_now())
            }
        except campaigns.CampaignError as exc:
            abort(422, message=str(exc))


@bp.route("/campaigns/<int:campaign_id>/release")
class ReleaseView(MethodView):
    @roles_required(Role.ADMINISTRATOR)
    @bp.arguments(ReleaseIn)
    @bp.response(201)
    def post(self, data, campaign_id):
        """Release each candidate's own report to them (administrators)."""
        campaign = _campaign(campaign_id)
        try:
            release = campaigns.release_results(
                campaign, actor=current_user._get_current_object(), now=db_now(), note=data["note"]
            )
        except campaigns.CampaignError as exc:
            abort(422, message=str(exc))
        return {
            "release": release.id,
            "candidates": len(release.reports),
            "released_at": release.released_at.isoformat(),
        }


@bp.route("/my/results")
class MyResultsView(MethodView):
    @roles_required(Role.CANDIDATE)
    @bp.response(200)
    def get(self):
        """The signed-in candidate's released results: their own stages with bands, nothing about others."""
        return [
            {"campaign": campaign.name, "released_at": release.released_at.isoformat(), "report": report}
            for campaign, release, report in campaigns.released_reports(current_user._get_current_object())
        ]
