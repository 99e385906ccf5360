"""User management pages for administrators."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from assessment.auth import services
from assessment.auth.access import roles_required
from assessment.auth.models import Role, User
from assessment.extensions import db
from assessment.users.forms import ROLE_LABELS, ConfirmForm, CreateUserForm, EditUserForm, SetPasswordForm

bp = Blueprint("users", __name__, url_prefix="/admin/users")


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/")
@roles_required(Role.ADMINISTRATOR)
def index():
    """List accounts, optionally filtered by role."""
    role = request.args.get("role")
    query = db.select(User).order_by(User.role, User.username)
    if role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    users = db.session.execute(query).scalars().all()
    return render_template("users/index.html", users=users, role=role, role_labels=ROLE_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRATOR)
def create():
    """Create an account."""
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(
                username=form.username.data,
                full_name=form.full_name.data,
                role=form.role.data,
                password=form.password.data,
                email=form.email.data,
                language=form.language.data,
                actor=current_user._get_current_object(),
            )
        except services.AccountError as exc:
            form.username.errors.append(str(exc))
        else:
            flash(_("Account %(username)s created.", username=user.username), "info")
            return redirect(url_for("users.index"))
    return render_template("users/form.html", form=form, user=None), 422 if form.errors else 200


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRATOR)
def edit(user_id: int):
    """Change an account's details, role or enabled state."""
    user = _get_user(user_id)
    form = EditUserForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.role.data = user.role.value
    if form.validate_on_submit():
        try:
            services.update_user(
                user,
                actor=current_user._get_current_object(),
                full_name=form.full_name.data,
                email=form.email.data,
                role=form.role.data,
                language=form.language.data,
                active=form.active.data,
            )
        except services.AccountError as exc:
            form.role.errors.append(str(exc))
        else:
            flash(_("Account %(username)s saved.", username=user.username), "info")
            return redirect(url_for("users.index"))
    live = sum(1 for s in user.sessions if s.revoked_at is None)
    return render_template(
        "users/form.html",
        form=form,
        user=user,
        live_sessions=live,
        confirm=ConfirmForm(),
        password_form=SetPasswordForm(),
    ), 422 if form.errors else 200


@bp.route("/<int:user_id>/sign-out-everywhere", methods=["POST"])
@roles_required(Role.ADMINISTRATOR)
def sign_out_everywhere(user_id: int):
    """End every session of the account, on every device."""
    user = _get_user(user_id)
    if ConfirmForm().validate_on_submit():
        count = services.revoke_all_sessions(
            user, reason="signed_out_everywhere", actor=current_user._get_current_object()
        )
        flash(_("%(count)d session(s) of %(username)s ended.", count=count, username=user.username), "info")
    return redirect(url_for("users.edit", user_id=user.id))


@bp.route("/<int:user_id>/password", methods=["POST"])
@roles_required(Role.ADMINISTRATOR)
def set_password(user_id: int):
    """Give the account a new password; its sessions end."""
    user = _get_user(user_id)
    form = SetPasswordForm()
    if form.validate_on_submit():
        services.set_password(user, form.password.data, actor=current_user._get_current_object())
        flash(
            _("New password set for %(username)s; their sessions have ended.", username=user.username), "info"
        )
    else:
        flash(_("The password was not changed: it must be at least 10 characters long."), "error")
    return redirect(url_for("users.edit", user_id=user.id))
