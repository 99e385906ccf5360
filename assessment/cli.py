"""Command-line groups; they call the same services as the web pages."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from assessment.auth import services as account_services
from assessment.auth.models import Role

users_cli = AppGroup("users", help="Manage accounts.")
demo_cli = AppGroup("demo", help="Demo data.")
delivery_cli = AppGroup("delivery", help="Exam delivery jobs.")


@delivery_cli.command("finalize")
@click.option("--every", type=float, default=0.0, help="Repeat every N seconds (0: once and exit).")
def finalize(every: float) -> None:
    """Close sections whose time ran out and count item exposure (run as a service with --every 10)."""
    import time

    from flask import current_app

    from assessment.delivery.finalizer import run_once

    app = current_app._get_current_object()
    while True:
        closed = run_once(app)
        if closed or not every:
            click.echo(f"closed {closed} overdue section(s)")
        if not every:
            return
        time.sleep(every)


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--full-name", default="", help="Defaults to the user name.")
@click.option("--email", default=None)
@click.option("--language", default="en", type=click.Choice(["en", "ru", "kk"]))
@click.password_option(help="Asked for (hidden, twice) when not given.")
def create_user(
    username: str, role: str, full_name: str, email: str | None, language: str, password: str
) -> None:
    """Create an account with the given role."""
    try:
        user = account_services.create_user(
            username=username,
            full_name=full_name,
            role=role,
            password=password,
            email=email,
            language=language,
        )
    except account_services.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.role.value} {user.username!r} (id {user.id})")


@demo_cli.command("load")
@click.option("--url", default="http://127.0.0.1:5000", help="Where the app is served, for the printed link.")
def load_demo(url: str) -> None:
    """Load demo accounts for every role and a small demo item bank (safe to run again)."""
    from assessment.demo.services import load

    report = load()
    click.echo(
        f"Demo loaded: {report.users_created} new account(s), {report.items_created} new item(s), "
        f"{report.parameters_approved} demo parameter set(s) from a simulated pilot."
    )
    if report.session_created:
        click.echo("A demo exam session is open: the demo candidate is registered, the demo proctor admits.")
    if report.campaign_created:
        click.echo(
            "A finished demo selection round (40 simulated candidates, both written stages and a rated "
            "interview) is under Campaigns for the administrator and the commission."
        )
    click.echo(f"Sign in at {url.rstrip('/')}/sign-in with one of:")
    for account in report.accounts:
        click.echo(f"  {account.role:<16} {account.username:<16} password: {account.password}")
