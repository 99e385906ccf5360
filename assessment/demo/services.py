"""Loading the demo: accounts for every role and a demo item bank with calibrated parameters.

Idempotent, and refused in production (the demo passwords are public). The bank's parameters come from
Tandau's own calibration of a *simulated* pilot: true parameters are drawn with a fixed seed, 2,000 simulated
candidates answer every item, and the engine calibrates their responses (2PL for knowledge items, graded
response model for SJT items). Every such parameter set is labelled as demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
from flask import current_app

from assessment.audit import services as audit
from assessment.auth import services as account_services
from assessment.auth.models import Role
from assessment.bank import services as bank_services
from assessment.bank.models import Item, ParameterSet
from assessment.delivery import services as delivery
from assessment.delivery.clock import db_now
from assessment.delivery.models import ExamDefinition
from assessment.extensions import db
from item_bank.formats.items_json import loads_items
from item_bank.irt.models import ItemParameters, simulate_responses
from item_bank.items import ItemSpec
from item_bank.review import calibrate_for_review

DEMO_BANK = Path(__file__).with_name("bank.json")
PILOT_SIZE = 2000
PILOT_SEED = 20261124


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
    parameters_approved: int = 0
    session_created: bool = False
    campaign_created: bool = False
    accounts: tuple[DemoAccount, ...] = field(default=DEMO_ACCOUNTS)


def pilot_truth(specs: list[ItemSpec], rng: np.random.Generator) -> ItemParameters:
    """True parameters of the simulated pilot: 2PL knowledge items, GRM SJT items with their own K."""
    n = len(specs)
    k_max = max(s.n_categories for s in specs)
    a = np.exp(rng.normal(0.1, 0.25, n)).clip(0.5, 2.5)
    b = np.full((n, k_max - 1), np.nan)
    for j, spec in enumerate(specs):
        steps = spec.n_categories - 1
        if steps == 1:
            b[j, 0] = rng.normal(-0.3, 0.9)  # knowledge tests for judges: slightly easy on average
        else:
            centre = rng.normal(-0.5, 0.6)
            b[j, :steps] = centre + np.linspace(-1.6, 1.6, steps) + rng.normal(0, 0.1, steps)
            b[j, :steps] = np.sort(b[j, :steps])
    models = ["2pl" if s.n_categories == 2 else "grm" for s in specs]
    return ItemParameters.from_arrays([s.code for s in specs], models, a, b)


def _calibrate_pilot(specs: list[ItemSpec]) -> int:
    rng = np.random.default_rng(PILOT_SEED)
    truth = pilot_truth(specs, rng)
    responses = simulate_responses(truth, rng.normal(0.0, 1.0, PILOT_SIZE), rng)
    review = calibrate_for_review(responses, truth.item_ids, list(truth.model), linking="none")
    items = {i.code: i for i in db.session.execute(db.select(Item).where(Item.is_demo.is_(True))).scalars()}
    provenance = {
        "source": "demo: Tandau calibration of a simulated pilot",
        "pilot_size": PILOT_SIZE,
        "seed": PILOT_SEED,
        "converged": review.summary["converged"],
    }
    for row in review.to_dict()["items"]:
        proposal = bank_services.propose_parameters(
            items[row["item_id"]],
            model=row["model"],
            a=row["a"],
            b=row["b"],
            c=row["c"],
            se=row["se"],
            provenance=provenance,
            actor=None,
            demo=True,
            commit=False,
        )
        bank_services.approve_parameters(proposal, actor=None, reason="demo parameters", commit=False)
    audit.record("demo.parameters_loaded", count=len(specs), source=provenance["source"])
    db.session.commit()
    return len(specs)


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
                # the demo candidate sits in Russian, so their pages are in Russian too (switchable)
                language="ru" if account.role == "candidate" else "en",
            )
            report.users_created += 1
    specs, stimuli = loads_items(DEMO_BANK.read_bytes(), DEMO_BANK.name)
    existing = set(db.session.execute(db.select(Item.code)).scalars())
    new = [s for s in specs if s.code not in existing]
    if new:
        bank_services.import_items(specs, stimuli, actor=None, source="demo bank", demo=True)
        report.items_created = len(new)
    has_parameters = db.session.execute(
        db.select(ParameterSet.id).where(ParameterSet.is_demo.is_(True)).limit(1)
    ).first()
    if not has_parameters:
        report.parameters_approved = _calibrate_pilot(specs)
    report.session_created = _demo_session(specs)
    from assessment.demo.campaign import load_demo_campaign

    report.campaign_created = load_demo_campaign(specs)
    return report


DEMO_TEST = "Demo: written stage for judge candidates"


def written_stage(
    name: str,
    knowledge: list[str],
    sjt: list[str],
    *,
    minutes: tuple[int, int],
    instructions: dict[str, str] | None = None,
) -> ExamDefinition:
    """A demo test of two fixed sections: legal knowledge, then situational judgement."""
    titles = (
        {"en": "Legal knowledge", "ru": "Знание законодательства", "kk": "Заңнаманы білу"},
        {"en": "Situational judgement", "ru": "Ситуационные задания", "kk": "Ситуациялық тапсырмалар"},
    )
    return delivery.create_definition(
        name,
        [
            {
                "title": title,
                "family": family,
                "time_limit_seconds": limit * 60,
                "mode": "fixed",
                "config": {"items": items},
            }
            for title, family, items, limit in zip(
                titles, ("knowledge", "sjt"), (knowledge, sjt), minutes, strict=True
            )
        ],
        actor=None,
        instructions=instructions,
    )


def _demo_session(specs: list[ItemSpec]) -> bool:
    """A demo test (10 knowledge and 5 SJT items) and an open session with the demo proctor and candidate."""
    if db.session.execute(db.select(ExamDefinition.id).where(ExamDefinition.name == DEMO_TEST)).first():
        return False
    knowledge = [s.code for s in specs if s.family == "knowledge" and not s.stimulus][:10]
    sjt = [s.code for s in specs if s.family == "sjt"][:5]
    definition = written_stage(
        DEMO_TEST,
        knowledge,
        sjt,
        minutes=(20, 15),
        instructions={
            "en": "Two timed sections. Answers are saved as you go; the clock is the server's.",
            "ru": "Два раздела с ограничением времени. Ответы сохраняются сразу; время отсчитывает сервер.",
        },
    )
    now = db_now()
    proctor = account_services.find_user("proctor")
    session = delivery.create_session(
        definition,
        name="Demo room",
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=30),
        proctors=[proctor],
        actor=None,
    )
    delivery.register(session, account_services.find_user("candidate"), actor=None, language="ru")
    return True
