"""The psychometrician's view of the bank."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from assessment.auth.access import roles_required
from assessment.auth.models import Role
from assessment.bank.models import Item, ItemFamily, ItemStatus
from assessment.extensions import db

bp = Blueprint("bank", __name__, url_prefix="/bank")

STATUS_LABELS = {
    ItemStatus.DRAFT: _l("draft"),
    ItemStatus.REVIEW: _l("in review"),
    ItemStatus.PRETEST: _l("pretest"),
    ItemStatus.OPERATIONAL: _l("operational"),
    ItemStatus.RETIRED: _l("retired"),
}


@bp.route("/")
@roles_required(Role.PSYCHOMETRICIAN)
def index():
    """Items in the bank, filterable by family."""
    family = request.args.get("family")
    query = db.select(Item).options(selectinload(Item.versions)).order_by(Item.code)
    if family in {f.value for f in ItemFamily}:
        query = query.where(Item.family == ItemFamily(family))
    items = db.session.execute(query).scalars().all()
    return render_template("bank/index.html", items=items, family=family, status_labels=STATUS_LABELS)
