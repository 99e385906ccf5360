"""Loading the demo: idempotent, refuses to run in production."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from assessment.audit import services as audit
from assessment.auth import services as account_services
from assessment.auth.models import Role
from assessment.bank.models import Item, ItemFamily, ItemFormat, ItemStatus, ItemVersion
from assessment.extensions import db

DEMO_ITEMS = Path(__file__).with_name("items.json")


@dataclass(frozen=True)
class DemoAccount:
    role: str
    username: str
    password: str
    full_name: str


# Public, well-known demo passwords: the loader refuses to run in production.
DEMO_ACCOUNTS = (
    DemoAccount("administrator", "admin", "demo-admin-pass", "Aigerim Demo (administrator)"),
    DemoAccount("psychometrician", "psychometrician", "demo-psycho-pass", "Daniyar Demo (psychometrician)"),
    DemoAccount("proctor", "proctor", "demo-proctor-pass", "Saule Demo (proctor)"),
    DemoAccount("candidate", "candidate", "demo-candidate-pass", "Arman Demo (candidate)"),
    DemoAccount("commission", "commission", "demo-commission-pass", "Gulnara Demo (commission)"),
)


@dataclass
class DemoReport:
    users_created: int = 0
    items_created: int = 0
    accounts: tuple[DemoAccount, ...] = field(default=DEMO_ACCOUNTS)


def load() -> DemoReport:
    if current_app.config["ENV"] == "production":
        raise RuntimeError("the demo has well-known passwords and is never loaded in production")
    report = DemoReport()
    for account in DEMO_ACCOUNTS:
        if account_services.find_user(account.username) is None:
            account_services.create_user(
                username=account.username,
                full_name=account.full_name,
                role=Role(account.role),
                password=account.password,
            )
            report.users_created += 1
    existing = set(db.session.execute(db.select(Item.code)).scalars())
    for spec in json.loads(DEMO_ITEMS.read_text(encoding="utf-8")):
        if spec["code"] in existing:
            continue
        item = Item(
            code=spec["code"],
            family=ItemFamily(spec["family"]),
            format=ItemFormat(spec["format"]),
            status=ItemStatus(spec.get("status", "operational")),
            domain=spec.get("domain"),
            competence=spec.get("competence"),
            is_demo=True,
        )
        item.versions.append(ItemVersion(number=1, content=spec["content"], key=spec["key"]))
        db.session.add(item)
        report.items_created += 1
    if report.items_created:
        db.session.flush()
        audit.record("demo.items_loaded", count=report.items_created)
        db.session.commit()
    return report
