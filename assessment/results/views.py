"""Campaign pages: setting up (administrators), the ranking with bands, profiles and ratings (commission),
the PDF report, and candidates' released results."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from assessment.auth.access import roles_required
from assessment.auth.models import Role, User
from assessment.delivery.clock import db_now
from assessment.delivery.models import ExamDefinition
from assessment.extensions import db
from assessment.results import campaigns
from assessment.results.forms import (
    KIND_LABELS,
    CampaignForm,
    EmptyForm,
    MemberForm,
    MinimumForm,
    ReleaseForm,
    RescoreForm,
    StageEditForm,
)
from assessment.results.models import Campaign, CampaignCandidate, CampaignStage, StageKind
from assessment.results.presenter import cut_label, fmt, profile_charts, ranking_chart, ranking_rows
from assessment.results.report import campaign_report
from assessment.spreadsheets import safe_cell

bp = Blueprint("results", __name__)

ADMINISTRATOR, COMMISSION = Role.ADMINISTRATOR, Role.COMMISSION


def _actor() -> User:
    return current_user._get_current_object()


def _campaign(campaign_id: int) -> Campaign:
    """The campaign if the signed-in user may read it (404 otherwise: its existence is not disclosed)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaigns.can_read(campaign, _actor()):
        abort(404)
    return campaign


def _candidate(campaign: Campaign, code: str) -> CampaignCandidate:
    candidate = next((c for c in campaign.candidates if c.code == code), None)
    if candidate is None:
        abort(404)
    return candidate


def _stage(campaign: Campaign, stage_id: int) -> CampaignStage:
    stage = next((s for s in campaign.stages if s.id == stage_id), None)
    if stage is None:
        abort(404)
    return stage


def show_names() -> bool:
    """Names are revealed only to administrators; everybody else sees coded identifiers."""
    return current_user.role is ADMINISTRATOR


@bp.context_processor
def helpers() -> dict[str, Any]:
    return {"kind_labels": KIND_LABELS, "cut_label": cut_label, "fmt": fmt}


# Campaigns ---------------------------------------------------------------------------------------------


@bp.route("/campaigns/")
@roles_required(ADMINISTRATOR, COMMISSION)
def index():
    """Campaigns the user may read."""
    rows = db.session.execute(db.select(Campaign).order_by(Campaign.id.desc())).scalars()
    return render_template(
        "results/campaigns.html", campaigns=[c for c in rows if campaigns.can_read(c, _actor())]
    )


def _section_choices() -> list[SelectChoice]:
    choices = [SelectChoice("", _("— not a test stage —"))]
    for definition in db.session.execute(db.select(ExamDefinition).order_by(ExamDefinition.name)).scalars():
        for section in definition.sections:
            title = section.title.get("en") or next(iter(section.title.values()), "")
            label = f"{definition.name} — {section.position + 1}. {title}"
            choices.append(SelectChoice(f"{definition.id}:{section.position}", label))
    return choices


def _commission_choices() -> list[SelectChoice]:
    members = db.session.execute(
        db.select(User).where(User.role == Role.COMMISSION, User.active).order_by(User.full_name)
    ).scalars()
    return [SelectChoice(u.id, f"{u.full_name} ({u.username})") for u in members]


@bp.route("/campaigns/new", methods=["GET", "POST"])
@roles_required(ADMINISTRATOR)
def new():
    """Create a campaign with its stages and weights."""
    form = CampaignForm()
    form.members.choices = _commission_choices()
    for entry in form.stages:
        entry.form.section.choices = _section_choices()
    if form.validate_on_submit():
        plans = []
        for entry in form.stages:
            f = entry.form
            if not (f.name.data or "").strip():
                continue
            definition_id = position = None
            if f.kind.data == "test" and f.section.data:
                definition_id, position = (int(x) for x in f.section.data.split(":"))
            plans.append(
                campaigns.StagePlan(
                    name=f.name.data,
                    kind=f.kind.data,
                    weight=f.weight.data if f.weight.data is not None else float("nan"),
                    definition_id=definition_id,
                    section_position=position,
                    criteria=tuple(c.strip() for c in (f.criteria.data or "").split(",") if c.strip()),
                    rating_min=f.rating_min.data if f.rating_min.data is not None else 1,
                    rating_max=f.rating_max.data if f.rating_max.data is not None else 5,
                    report_intercept=f.report_intercept.data or 0.0,
                    report_slope=f.report_slope.data if f.report_slope.data is not None else 1.0,
                    report_decimals=f.report_decimals.data if f.report_decimals.data is not None else 2,
                )
            )
        members = [db.session.get(User, i) for i in form.members.data]
        try:
            campaign = campaigns.create_campaign(
                name=form.name.data,
                description=form.description.data,
                level=form.level.data,
                places=form.places.data,
                stages=plans,
                members=[m for m in members if m is not None],
                actor=_actor(),
                now=db_now(),
            )
        except campaigns.CampaignError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Campaign created. Enrol its candidates next."), "success")
            return redirect(url_for("results.detail", campaign_id=campaign.id))
    return render_template("results/campaign_form.html", form=form)


@bp.route("/campaigns/<int:campaign_id>")
@roles_required(ADMINISTRATOR)
def detail(campaign_id: int):
    """Set-up of a campaign: stages and weights, panel, candidates, releases."""
    campaign = _campaign(campaign_id)
    member_form = MemberForm()
    member_form.member.choices = [
        c for c in _commission_choices() if c.value not in {m.id for m in campaign.members}
    ]
    releases = sorted(
        db.session.execute(
            db.select(campaigns.ResultRelease).where(campaigns.ResultRelease.campaign_id == campaign.id)
        ).scalars(),
        key=lambda r: r.released_at,
        reverse=True,
    )
    total = sum(s.weight for s in campaign.stages)
    return render_template(
        "results/campaign.html",
        campaign=campaign,
        total_weight=total,
        member_form=member_form,
        release_form=ReleaseForm(),
        enrol_form=EmptyForm(),
        releases=releases,
    )


@bp.route("/campaigns/<int:campaign_id>/enrol", methods=["POST"])
@roles_required(ADMINISTRATOR)
def enrol(campaign_id: int):
    """Enrol everyone registered for the campaign's tests."""
    campaign = _campaign(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    added = campaigns.enrol_from_sessions(campaign, actor=_actor(), now=db_now())
    flash(ngettext("%(num)d candidate enrolled.", "%(num)d candidates enrolled.", len(added)), "success")
    return redirect(url_for("results.detail", campaign_id=campaign.id))


@bp.route("/campaigns/<int:campaign_id>/members", methods=["POST"])
@roles_required(ADMINISTRATOR)
def add_member(campaign_id: int):
    """Put a commission member on the panel."""
    campaign = _campaign(campaign_id)
    form = MemberForm()
    form.member.choices = _commission_choices()
    if form.validate_on_submit():
        member = db.session.get(User, form.member.data)
        try:
            campaigns.add_member(campaign, member, actor=_actor())
        except campaigns.CampaignError as exc:
            flash(str(exc), "error")
    return redirect(url_for("results.detail", campaign_id=campaign.id))


@bp.route("/campaigns/<int:campaign_id>/stages/<int:stage_id>", methods=["GET", "POST"])
@roles_required(ADMINISTRATOR)
def stage(campaign_id: int, stage_id: int):
    """A stage's weight and reported scale, and its optional minimum (its cost shown before it is set)."""
    campaign = _campaign(campaign_id)
    row = _stage(campaign, stage_id)
    form = StageEditForm(obj=row, prefix="stage")
    minimum_form = MinimumForm(prefix="minimum")
    screen = None
    if request.method == "POST" and "stage-weight" in request.form and form.validate_on_submit():
        try:
            campaigns.update_stage(
                row,
                weight=form.weight.data,
                report_intercept=form.report_intercept.data,
                report_slope=form.report_slope.data,
                report_decimals=form.report_decimals.data,
                actor=_actor(),
            )
        except campaigns.CampaignError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Stage saved."), "success")
            return redirect(url_for("results.stage", campaign_id=campaign.id, stage_id=row.id))
    elif request.method == "POST" and "minimum-action" in request.form and minimum_form.validate_on_submit():
        action = minimum_form.action.data
        try:
            if action == "clear":
                campaigns.set_minimum(row, None, reason="", actor=_actor())
                flash(_("The minimum is off: nobody is removed by this stage."), "success")
                return redirect(url_for("results.stage", campaign_id=campaign.id, stage_id=row.id))
            if minimum_form.minimum.data is None:
                minimum_form.minimum.errors.append(_("Give the minimum to preview."))
            elif action == "confirm":
                expected = minimum_form.expected_removed.data
                campaigns.set_minimum(
                    row,
                    minimum_form.minimum.data,
                    reason=minimum_form.reason.data or "",
                    actor=_actor(),
                    expected_removed=int(expected) if expected and expected.isdigit() else None,
                )
                flash(_("The minimum is set."), "success")
                return redirect(url_for("results.stage", campaign_id=campaign.id, stage_id=row.id))
            else:
                screen = campaigns.preview_minimum(row, minimum_form.minimum.data)
                minimum_form.expected_removed.data = str(len(screen.removed_by_stage.get(row.name, ())))
        except campaigns.CampaignError as exc:
            minimum_form.form_errors.append(str(exc))
    return render_template(
        "results/stage.html",
        campaign=campaign,
        stage=row,
        form=form,
        minimum_form=minimum_form,
        screen=screen,
        rescore_form=RescoreForm(prefix="rescore"),
    )


@bp.route("/campaigns/<int:campaign_id>/stages/<int:stage_id>/rescore", methods=["POST"])
@roles_required(ADMINISTRATOR)
def rescore(campaign_id: int, stage_id: int):
    """Rescore every candidate's section of a test stage; the old results stay as history."""
    campaign = _campaign(campaign_id)
    row = _stage(campaign, stage_id)
    form = RescoreForm(prefix="rescore")
    if not form.validate_on_submit():
        flash(_("A rescore needs a reason."), "error")
    else:
        try:
            n = campaigns.rescore_stage(
                row,
                reason=form.reason.data,
                actor=_actor(),
                now=db_now(),
                use_approved=form.use_approved.data,
                current_keys=form.current_keys.data,
            )
        except campaigns.CampaignError as exc:
            flash(str(exc), "error")
        else:
            flash(
                ngettext(
                    "%(num)d sitting rescored; the earlier results are kept.",
                    "%(num)d sittings rescored; the earlier results are kept.",
                    n,
                ),
                "success",
            )
    return redirect(url_for("results.stage", campaign_id=campaign.id, stage_id=row.id))


@bp.route("/campaigns/<int:campaign_id>/release", methods=["POST"])
@roles_required(ADMINISTRATOR)
def release(campaign_id: int):
    """Release each candidate's own report to them."""
    campaign = _campaign(campaign_id)
    form = ReleaseForm()
    if form.validate_on_submit():
        try:
            done = campaigns.release_results(campaign, actor=_actor(), now=db_now(), note=form.note.data)
        except campaigns.CampaignError as exc:
            flash(str(exc), "error")
        else:
            flash(
                ngettext(
                    "Results released to %(num)d candidate.",
                    "Results released to %(num)d candidates.",
                    len(done.reports),
                ),
                "success",
            )
    return redirect(url_for("results.detail", campaign_id=campaign.id))


# The ranking ----------------------------------------------------------------------------------------------


def _places() -> int | None:
    value = request.args.get("places", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


@bp.route("/campaigns/<int:campaign_id>/ranking")
@roles_required(ADMINISTRATOR, COMMISSION)
def ranking(campaign_id: int):
    """The composite ranking with bands, rank ranges and the analysis at the cut."""
    campaign = _campaign(campaign_id)
    standing = campaigns.standing(campaign, places=_places())
    rows = ranking_rows(standing)
    return render_template(
        "results/ranking.html",
        campaign=campaign,
        standing=standing,
        rows=rows,
        chart=ranking_chart(standing, rows) if standing.result is not None else None,
        show_names=show_names(),
        places=_places() or campaign.places,
    )


@bp.route("/campaigns/<int:campaign_id>/ranking.csv")
@roles_required(ADMINISTRATOR, COMMISSION)
def ranking_csv(campaign_id: int):
    """The ranking with every stage's score, SE and z as CSV (traceable in a spreadsheet)."""
    campaign = _campaign(campaign_id)
    standing = campaigns.standing(campaign, places=_places())
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["code"] + (["name"] if show_names() else [])
    for s in campaign.stages:
        header += [f"{s.name}: score", f"{s.name}: se", f"{s.name}: z", f"{s.name}: weight"]
    header += ["composite", "se", "lower", "upper", "rank", "best_rank", "worst_rank", "status", "note"]
    writer.writerow([safe_cell(h) for h in header])
    for row in ranking_rows(standing):
        trace = row["trace"]
        line: list[Any] = [row["code"]] + (
            [safe_cell(row["candidate"].user.full_name)] if show_names() else []
        )
        if trace is None:
            line += [""] * (4 * len(campaign.stages))
        else:
            for c in trace.contributions:
                line += [c.score, c.se, c.z, c.weight]
        if trace is None:
            line += [""] * 7
        else:
            line += [
                trace.composite,
                trace.se,
                trace.lower,
                trace.upper,
                trace.rank,
                trace.best_rank,
                trace.worst_rank,
            ]
        note = (trace.reason if trace else None) or (
            "removed by the minimum of " + ", ".join(row["removed"]) if row["removed"] else ""
        )
        line += [row["status"] or "", safe_cell(note or standing.problem or "")]
        writer.writerow(["" if v is None else v for v in line])
    return Response(
        out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign.id}-ranking.csv"'},
    )


# Profiles and ratings ------------------------------------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>/candidates/<code>")
@roles_required(ADMINISTRATOR, COMMISSION)
def profile(campaign_id: int, code: str):
    """One candidate's profile for the interview, and the member's rating form."""
    campaign = _campaign(campaign_id)
    candidate = _candidate(campaign, code)
    standing = campaigns.standing(campaign)
    data = campaigns.profile(standing, code)
    rated = [s for s in campaign.stages if s.kind is StageKind.RATED]
    mine = {}
    if current_user.role is COMMISSION:
        mine = {s.id: campaigns.member_ratings(s, candidate, _actor()) for s in rated}
    return render_template(
        "results/profile.html",
        campaign=campaign,
        candidate=candidate,
        data=data,
        charts=profile_charts(data),
        rated=rated,
        mine=mine,
        rating_form=EmptyForm(),
        show_names=show_names(),
    )


@bp.route("/campaigns/<int:campaign_id>/candidates/<code>/ratings/<int:stage_id>", methods=["POST"])
@roles_required(COMMISSION)
def rate(campaign_id: int, code: str, stage_id: int):
    """A commission member's ratings of one candidate on a rated stage."""
    campaign = _campaign(campaign_id)
    candidate = _candidate(campaign, code)
    row = _stage(campaign, stage_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    ratings: dict[str, float | None] = {}
    for criterion in row.criteria:
        raw = request.form.get(f"rating-{criterion}", "").strip()
        try:
            ratings[criterion] = float(raw) if raw else None
        except ValueError:
            flash(
                _("%(criterion)s: a number is needed, got %(value)s", criterion=criterion, value=raw), "error"
            )
            return redirect(url_for("results.profile", campaign_id=campaign.id, code=code))
    try:
        campaigns.record_ratings(row, candidate, _actor(), ratings, now=db_now())
    except campaigns.CampaignError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Your ratings are saved."), "success")
    return redirect(url_for("results.profile", campaign_id=campaign.id, code=code))


@bp.route("/campaigns/<int:campaign_id>/agreement")
@roles_required(ADMINISTRATOR, COMMISSION)
def agreement(campaign_id: int):
    """Agreement between the commission's members (intraclass correlations) per rated stage."""
    campaign = _campaign(campaign_id)
    stages = []
    for stage_row in campaign.stages:
        if stage_row.kind is StageKind.RATED:
            gathered = campaigns.gather_stage(stage_row, campaign.candidates)
            stages.append((stage_row, gathered, campaigns.panel_agreement(gathered)))
    return render_template("results/agreement.html", campaign=campaign, stages=stages)


# Reports ------------------------------------------------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>/report.pdf")
@roles_required(ADMINISTRATOR, COMMISSION)
def report_pdf(campaign_id: int):
    """The printable report: the ranking and every candidate's profile (or one, with ?code=)."""
    campaign = _campaign(campaign_id)
    standing = campaigns.standing(campaign, places=_places())
    code = request.args.get("code")
    codes = [_candidate(campaign, code).code] if code else standing.code_order()
    pdf = campaign_report(standing, codes, show_names=show_names(), with_ranking=not code)
    name = f"campaign-{campaign.id}-{code}.pdf" if code else f"campaign-{campaign.id}-report.pdf"
    return Response(
        pdf, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


@bp.route("/my/results")
@roles_required(Role.CANDIDATE)
def my_results():
    """The candidate's own released results, in their language."""
    return render_template("results/my_results.html", released=campaigns.released_reports(_actor()))
