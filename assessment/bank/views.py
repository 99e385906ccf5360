"""The psychometrician's pages of the item bank."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from assessment.audit.models import AuditEvent
from assessment.auth.access import roles_required
from assessment.auth.models import Role
from assessment.bank import repository, services
from assessment.bank.forms import (
    FORMAT_LABELS,
    LANGUAGE_ORDER,
    STATUS_LABELS,
    DecisionForm,
    ImportForm,
    ItemForm,
    StatusForm,
    StimulusForm,
    StimulusItemsForm,
    form_data_of,
    spec_from_form,
    split_codes,
    stimulus_fields,
)
from assessment.bank.models import Item, ItemFamily, ItemStatus, ItemVersion, ParameterSet, Stimulus
from assessment.extensions import db
from item_bank.items import format_key

bp = Blueprint("bank", __name__, url_prefix="/bank")

PSYCHOMETRICIAN = Role.PSYCHOMETRICIAN
PAGE_SIZE = 100


def _item_or_404(code: str) -> Item:
    item = db.session.execute(db.select(Item).where(Item.code == code)).scalar_one_or_none()
    if item is None:
        abort(404)
    return item


@bp.context_processor
def labels() -> dict[str, object]:
    return {"status_labels": STATUS_LABELS, "format_labels": FORMAT_LABELS, "format_key": format_key}


@bp.route("/")
@roles_required(PSYCHOMETRICIAN)
def index():
    """Items in the bank, filtered by family, status, domain, competence, tag or text; sorted by exposure."""
    args = request.args
    query = db.select(Item).options(selectinload(Item.versions), selectinload(Item.parameter_sets))
    if args.get("family") in {f.value for f in ItemFamily}:
        query = query.where(Item.family == ItemFamily(args["family"]))
    if args.get("status") in {s.value for s in ItemStatus}:
        query = query.where(Item.status == ItemStatus(args["status"]))
    if args.get("domain"):
        query = query.where(Item.domain == args["domain"])
    if args.get("competence"):
        query = query.where(Item.competence == args["competence"])
    if args.get("q"):
        query = query.where(Item.code.ilike(f"%{args['q'].strip()}%"))
    order = Item.times_administered.desc() if args.get("sort") == "exposure" else Item.code
    items = db.session.execute(query.order_by(order, Item.code).limit(PAGE_SIZE + 1)).scalars().all()
    if tag := args.get("tag", "").strip():
        items = [i for i in items if tag in (i.tags or [])]
    # Exposure rate = administrations / candidates who started a sitting.
    from assessment.delivery.models import Attempt

    examinees = db.session.execute(
        db.select(db.func.count()).select_from(Attempt).where(Attempt.started_at.is_not(None))
    ).scalar_one()
    domains = db.session.execute(db.select(Item.domain).distinct().where(Item.domain.is_not(None))).scalars()
    competences = db.session.execute(
        db.select(Item.competence).distinct().where(Item.competence.is_not(None))
    ).scalars()
    return render_template(
        "bank/index.html",
        items=items[:PAGE_SIZE],
        more=len(items) > PAGE_SIZE,
        args=args,
        domains=sorted(domains),
        competences=sorted(competences),
        examinees=examinees,
    )


@bp.route("/items/<code>")
@roles_required(PSYCHOMETRICIAN)
def item_detail(code: str):
    """Everything about one item: language versions, key, versions, parameters and history."""
    item = _item_or_404(code)
    history = (
        db.session.execute(
            db.select(AuditEvent)
            .where(AuditEvent.target_type == "Item", AuditEvent.target_id == str(item.id))
            .order_by(AuditEvent.id.desc())
        )
        .scalars()
        .all()
    )
    return render_template(
        "bank/item.html",
        item=item,
        spec=repository.spec_of(item),
        language_order=LANGUAGE_ORDER,
        history=history,
        decision_form=DecisionForm(),
        status_form=StatusForm(status=item.status.value),
        transitions=services.TRANSITIONS[item.status],
    )


def _render_form(form: ItemForm, item: Item | None, status: int = 200):
    return render_template("bank/item_form.html", form=form, item=item, language_order=LANGUAGE_ORDER), status


@bp.route("/items/new", methods=["GET", "POST"])
@roles_required(PSYCHOMETRICIAN)
def item_new():
    """Write a new item."""
    form = ItemForm()
    if form.validate_on_submit():
        return _save(form, None)
    return _render_form(form, None, 422 if form.errors else 200)


@bp.route("/items/<code>/edit", methods=["GET", "POST"])
@roles_required(PSYCHOMETRICIAN)
def item_edit(code: str):
    """Edit an item: a draft in place, an item in use as a new version."""
    item = _item_or_404(code)
    form = ItemForm(data=form_data_of(repository.spec_of(item)) if request.method == "GET" else None)
    if form.validate_on_submit():
        if form.code.data.strip() != item.code:
            form.code.errors.append(
                _("The code of an existing item cannot change; write a new item instead.")
            )
            return _render_form(form, item, 422)
        return _save(form, item)
    return _render_form(form, item, 422 if form.errors else 200)


def _save(form: ItemForm, item: Item | None):
    try:
        spec = spec_from_form(form)
    except ValueError as exc:
        form.key.errors.append(str(exc))
        return _render_form(form, item, 422)
    if item is None and services.find_item(spec.code) is not None:
        form.code.errors.append(_("An item with this code exists already."))
        return _render_form(form, item, 422)
    try:
        saved = services.save_item(
            spec, actor=current_user._get_current_object(), note=form.note.data or None
        )
    except services.BankError as exc:
        for problem in exc.problems:
            form.form_errors.append(problem)
        return _render_form(form, item, 422)
    flash(
        _("Item %(code)s saved (version %(version)d).", code=saved.code, version=saved.current.number), "info"
    )
    return redirect(url_for("bank.item_detail", code=saved.code))


@bp.route("/items/<code>/status", methods=["POST"])
@roles_required(PSYCHOMETRICIAN)
def item_status(code: str):
    """Move an item through its lifecycle."""
    item = _item_or_404(code)
    form = StatusForm()
    if form.validate_on_submit():
        try:
            services.change_status(
                item,
                ItemStatus(form.status.data),
                actor=current_user._get_current_object(),
                reason=form.reason.data,
            )
        except services.BankError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Status changed."), "info")
    return redirect(url_for("bank.item_detail", code=item.code))


def _parameter_set_or_404(set_id: int) -> ParameterSet:
    row = db.session.get(ParameterSet, set_id)
    if row is None:
        abort(404)
    return row


@bp.route("/parameters/<int:set_id>/approve", methods=["POST"])
@roles_required(PSYCHOMETRICIAN)
def parameters_approve(set_id: int):
    """A second psychometrician makes proposed parameters operational."""
    proposal = _parameter_set_or_404(set_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            services.approve_parameters(
                proposal, actor=current_user._get_current_object(), reason=form.reason.data or None
            )
        except services.BankError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Parameters approved: they are now operational."), "info")
    return redirect(url_for("bank.item_detail", code=proposal.item.code))


@bp.route("/parameters/<int:set_id>/reject", methods=["POST"])
@roles_required(PSYCHOMETRICIAN)
def parameters_reject(set_id: int):
    """Turn down proposed parameters, with a reason."""
    proposal = _parameter_set_or_404(set_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            services.reject_parameters(
                proposal, actor=current_user._get_current_object(), reason=form.reason.data or ""
            )
        except services.BankError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Parameters rejected."), "info")
    return redirect(url_for("bank.item_detail", code=proposal.item.code))


@bp.route("/import", methods=["GET", "POST"])
@roles_required(PSYCHOMETRICIAN)
def import_items():
    """Import items from JSON, CSV (plus a stimuli CSV) or a QTI 2.1 / 3.0 package; all or nothing."""
    form = ImportForm()
    report, problems = None, []
    if form.validate_on_submit():
        upload = form.file.data
        stimuli = form.stimuli.data
        try:
            report = services.import_file(
                upload.read(),
                upload.filename or "upload",
                actor=current_user._get_current_object(),
                stimuli_data=stimuli.read() if stimuli else None,
                stimuli_filename=stimuli.filename if stimuli else None,
                defaults={
                    name: value
                    for name, value in (
                        ("language", form.default_language.data),
                        ("domain", (form.default_domain.data or "").strip()),
                        ("competence", (form.default_competence.data or "").strip()),
                    )
                    if value
                },
            )
        except services.BankError as exc:
            problems = exc.problems
    status = 422 if problems or form.errors else 200
    return render_template("bank/import.html", form=form, report=report, problems=problems), status


@bp.route("/export")
@roles_required(PSYCHOMETRICIAN)
def export_items():
    """Download the (filtered) bank as JSON, CSV, or a QTI 2.1 / 3.0 package."""
    kind = request.args.get("format", "json")
    if kind not in services.EXPORT_FORMATS:
        abort(404)
    query = db.select(Item).options(selectinload(Item.versions)).order_by(Item.code)
    if request.args.get("family") in {f.value for f in ItemFamily}:
        query = query.where(Item.family == ItemFamily(request.args["family"]))
    if request.args.get("status") in {s.value for s in ItemStatus}:
        query = query.where(Item.status == ItemStatus(request.args["status"]))
    items = db.session.execute(query).scalars().all()
    try:
        content, mimetype, extension = services.export_file(
            items, kind, actor=current_user._get_current_object()
        )
    except (services.BankError, ValueError) as exc:
        flash(str(exc), "error")
        return redirect(url_for("bank.index"))
    name = f"tandau-{'stimuli' if kind == 'stimuli-csv' else 'items'}-{kind}.{extension}"
    return Response(
        content, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


# Shared cases (stimuli)


def _stimulus_or_404(code: str) -> Stimulus:
    row = services.find_stimulus(code)
    if row is None:
        abort(404)
    return row


@bp.route("/stimuli/")
@roles_required(PSYCHOMETRICIAN)
def stimuli():
    """Shared case texts with their latest version and the items on them."""
    rows = db.session.execute(db.select(Stimulus).order_by(Stimulus.code, Stimulus.number)).scalars().all()
    latest = {row.code: row for row in rows}  # the highest number wins
    counts = dict(
        db.session.execute(
            db.select(Stimulus.code, db.func.count(db.distinct(ItemVersion.item_id)))
            .join(ItemVersion, ItemVersion.stimulus_id == Stimulus.id)
            .group_by(Stimulus.code)
        ).all()
    )
    return render_template(
        "bank/stimuli.html", stimuli=list(latest.values()), counts=counts, language_order=LANGUAGE_ORDER
    )


def _render_stimulus_form(form: StimulusForm, stimulus: Stimulus | None, status: int = 200):
    in_use = stimulus is not None and services.stimulus_in_use(stimulus)
    return (
        render_template(
            "bank/stimulus_form.html",
            form=form,
            stimulus=stimulus,
            in_use=in_use,
            language_order=LANGUAGE_ORDER,
        ),
        status,
    )


def _save_stimulus(form: StimulusForm, stimulus: Stimulus | None):
    titles, texts = stimulus_fields(form)
    try:
        row = services.save_stimulus(
            form.code.data.strip(),
            title=titles,
            texts=texts,
            actor=current_user._get_current_object(),
            note=form.note.data or None,
            create=stimulus is None,
        )
    except services.BankError as exc:
        form.form_errors.extend(exc.problems)
        return _render_stimulus_form(form, stimulus, 422)
    flash(_("Shared case %(code)s saved (version %(n)d).", code=row.code, n=row.number), "info")
    return redirect(url_for("bank.stimulus_detail", code=row.code))


@bp.route("/stimuli/new", methods=["GET", "POST"])
@roles_required(PSYCHOMETRICIAN)
def stimulus_new():
    """Write a new shared case text."""
    form = StimulusForm()
    if form.validate_on_submit():
        return _save_stimulus(form, None)
    return _render_stimulus_form(form, None, 422 if form.errors else 200)


@bp.route("/stimuli/<code>/edit", methods=["GET", "POST"])
@roles_required(PSYCHOMETRICIAN)
def stimulus_edit(code: str):
    """Edit a shared case: in place while unused, as a new version once candidates may have read it."""
    stimulus = _stimulus_or_404(code)
    data = None
    if request.method == "GET":
        data = {"code": stimulus.code}
        for lang in LANGUAGE_ORDER:
            data[lang] = {"title": stimulus.title.get(lang, ""), "text": stimulus.texts.get(lang, "")}
    form = StimulusForm(data=data)
    if form.validate_on_submit():
        if form.code.data.strip() != stimulus.code:
            form.code.errors.append(_("The code of a shared case cannot change; write a new one instead."))
            return _render_stimulus_form(form, stimulus, 422)
        return _save_stimulus(form, stimulus)
    return _render_stimulus_form(form, stimulus, 422 if form.errors else 200)


@bp.route("/stimuli/<code>")
@roles_required(PSYCHOMETRICIAN)
def stimulus_detail(code: str):
    """A shared case: its text per language, the items on it, its versions and history."""
    stimulus = _stimulus_or_404(code)
    versions = services.stimulus_versions(code)
    history = (
        db.session.execute(
            db.select(AuditEvent)
            .where(
                AuditEvent.target_type == "Stimulus",
                AuditEvent.target_id.in_([str(v.id) for v in versions]),
            )
            .order_by(AuditEvent.id.desc())
        )
        .scalars()
        .all()
    )
    return render_template(
        "bank/stimulus.html",
        stimulus=stimulus,
        items=services.items_on(stimulus),
        versions=versions,
        in_use=services.stimulus_in_use(stimulus),
        history=history,
        items_form=StimulusItemsForm(),
        language_order=LANGUAGE_ORDER,
    )


@bp.route("/stimuli/<code>/items", methods=["POST"])
@roles_required(PSYCHOMETRICIAN)
def stimulus_items(code: str):
    """Attach items to the shared case, or detach one; an item in use gets a new version."""
    stimulus = _stimulus_or_404(code)
    form = StimulusItemsForm()
    if form.validate_on_submit():
        try:
            changed = services.set_stimulus_items(
                stimulus,
                attach=split_codes(form.attach.data),
                detach=split_codes(form.detach.data),
                actor=current_user._get_current_object(),
                note=form.note.data or None,
            )
        except services.BankError as exc:
            flash(_("Nothing was changed:") + " " + "; ".join(exc.problems), "error")
        else:
            flash(_("Items changed: %(codes)s.", codes=", ".join(changed) or "—"), "info")
    return redirect(url_for("bank.stimulus_detail", code=stimulus.code))
