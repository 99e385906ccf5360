"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from assessment.access_codes import services as access_codes
from assessment.auth import services
from assessment.auth.forms import AccessCodeForm, LanguageForm, SignInForm
from assessment.delivery.clock import db_now
from assessment.extensions import limiter, login_username_ip_key, login_username_key

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("main.home")


def _failed_sign_in(response) -> bool:  # type: ignore[no-untyped-def]
    return request.method == "POST" and response.status_code != 302


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"],
    methods=["POST"],
    key_func=login_username_ip_key,
    deduct_when=_failed_sign_in,
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    methods=["POST"],
    key_func=login_username_key,
    deduct_when=_failed_sign_in,
)
def sign_in():
    """Sign in with user name and password."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SignInForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = services.authenticate(
            form.username.data,
            form.password.data,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
        )
        if user is not None:
            session.clear()  # a fresh session cookie on sign-in (no fixation)
            login_user(user, remember=False)
            return redirect(_safe_next(form.next.data))
        flash(_("Unknown user name or wrong password."), "error")
        return render_template("auth/sign_in.html", form=form, code_form=AccessCodeForm()), 401
    return render_template("auth/sign_in.html", form=form, code_form=AccessCodeForm())


@bp.route("/sign-in/code", methods=["POST"])
@limiter.limit(lambda: current_app.config["ACCESS_CODE_FAILURES_PER_IP"], deduct_when=_failed_sign_in)
def sign_in_with_code():
    """Sign in with a one-time access code issued for an exam session (candidates)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    code_form = AccessCodeForm()
    if code_form.validate_on_submit():
        outcome = access_codes.sign_in_with_code(
            code_form.code.data,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            now=db_now(),
        )
        if outcome.user is not None:
            session.clear()  # a fresh session cookie on sign-in (no fixation)
            login_user(outcome.user, remember=False)
            return redirect(url_for("main.home"))
        code_form.code.errors.append(outcome.message)
        return _code_form_again(code_form), 401
    return _code_form_again(code_form), 422


def _code_form_again(code_form: AccessCodeForm) -> str:
    """The sign-in page with the access-code form's errors, its field focused instead of the user name."""
    form = SignInForm()
    form.username.render_kw = {k: v for k, v in (form.username.render_kw or {}).items() if k != "autofocus"}
    code_form.code.render_kw = {**(code_form.code.render_kw or {}), "autofocus": True}
    return render_template("auth/sign_in.html", form=form, code_form=code_form)


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out():
    """End this browser's session."""
    services.sign_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.sign_in"))


@bp.route("/language", methods=["POST"])
def set_language():
    """Switch the interface language; remembered on the account when signed in."""
    form = LanguageForm()
    if form.validate_on_submit() and form.language.data in current_app.config["LANGUAGES"]:
        session["language"] = form.language.data
        if current_user.is_authenticated:
            services.set_language(current_user._get_current_object(), form.language.data)
    return redirect(_safe_next(form.next.data))
