"""A finished demo selection round: simulated candidates who sat both written stages, and a rated interview.

So that the campaign pages (ranking with bands, profiles, agreement, PDF, released reports) have something to
show right after `flask demo load`. Everything is simulated with a fixed seed and labelled as demo: true
abilities are drawn, answers are simulated from the bank's demo parameters and turned into real responses,
the sections are scored by the product's own scoring, and three commission members' ratings are simulated
with member leniency and noise.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np

from assessment.auth.models import Role, User
from assessment.bank import repository
from assessment.bank.models import Item, ParameterSet
from assessment.delivery import services as delivery
from assessment.delivery.clock import db_now
from assessment.delivery.models import AttemptState, CurrentAnswer, SectionState
from assessment.demo.services import written_stage
from assessment.extensions import db
from assessment.results import campaigns
from assessment.results import services as results
from assessment.results.models import Campaign
from item_bank.irt.models import simulate_responses
from item_bank.items import ItemSpec, ItemValidationError, score_response

CAMPAIGN = "Demo: judge candidates, autumn round"
TEST = "Demo: autumn round written stage"
N_CANDIDATES = 40
SEED = 20261125
COMPETENCES = ("integrity", "impartiality", "communication", "stress resistance", "decision making")
MEMBERS = (
    ("commission", None),
    ("commission-2", "Marat Demo (commission)"),
    ("commission-3", "Aliya Demo (commission)"),
)


def _responses(spec: ItemSpec) -> Iterator[dict[str, Any]]:
    n = spec.n_options
    if spec.format == "single_best":
        yield from ({"choice": i} for i in range(n))
    elif spec.format == "sjt_rate":
        yield from ({"ratings": list(r)} for r in itertools.product(range(1, 5), repeat=n))
    elif spec.format == "sjt_most_least":
        yield from ({"most": a, "least": b} for a, b in itertools.permutations(range(n), 2))
    else:
        yield from ({"rank": list(p)} for p in itertools.permutations(range(1, n + 1)))


def response_for_score(spec: ItemSpec) -> dict[int, dict[str, Any]]:
    """One response reaching each category score of the item (the simulated score becomes a real answer)."""
    found: dict[int, dict[str, Any]] = {}
    for response in _responses(spec):
        try:
            score = score_response(spec, response)
        except ItemValidationError:
            continue
        if score is not None:
            found.setdefault(score, response)
    return found


def _user(username: str, full_name: str, role: Role) -> User:
    user = db.session.execute(db.select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        # demo people who never sign in: an unusable password hash (no argon2 work, no known password)
        unusable = "!"  # not a hash of anything: no password signs in
        user = User(username=username, full_name=full_name, role=role, password_hash=unusable, language="ru")
        db.session.add(user)
        db.session.flush()
    return user


def load_demo_campaign(specs: list[ItemSpec]) -> bool:
    """Create the finished demo round once; False when it exists already."""
    if db.session.execute(db.select(Campaign.id).where(Campaign.name == CAMPAIGN)).first():
        return False
    rng = np.random.default_rng(SEED)
    knowledge = [s.code for s in specs if s.family == "knowledge" and not s.stimulus][10:40]
    sjt = [s.code for s in specs if s.family == "sjt"][5:25]
    definition = written_stage(TEST, knowledge, sjt, minutes=(45, 40))
    now = db_now()
    opened = now - timedelta(days=14)
    session = delivery.create_session(
        definition,
        name="Demo: autumn round, hall A",
        opens_at=opened,
        closes_at=opened + timedelta(hours=4),
        proctors=[],
        actor=None,
    )
    by_code = {s.code: s for s in specs}
    rows = {
        i.code: i for i in db.session.execute(db.select(Item).where(Item.code.in_(knowledge + sjt))).scalars()
    }
    answers_for = {code: response_for_score(by_code[code]) for code in knowledge + sjt}
    truth = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], size=N_CANDIDATES)
    people = []
    for n in range(N_CANDIDATES):
        person = _user(f"demo-candidate-{n + 1:02d}", f"Demo Candidate {n + 1:02d}", Role.CANDIDATE)
        people.append(person)
        attempt = delivery.register(session, person, actor=None, language="ru").attempt
        delivery.assemble(attempt)
        for position, codes in enumerate((knowledge, sjt)):
            sets = [db.session.get(ParameterSet, attempt.pinned_parameters[c]) for c in codes]
            params = repository.item_parameters_of(sets)
            scores = simulate_responses(params, np.array([truth[n, position]]), rng)[0]
            for code, score in zip(params.item_ids, scores, strict=True):
                if rng.random() < 0.03:
                    continue  # an occasional item left unanswered
                reachable = answers_for[code]
                category = min(reachable, key=lambda k: abs(k - int(score)))
                db.session.add(
                    CurrentAnswer(
                        attempt_id=attempt.id,
                        item_code=code,
                        seq=1,
                        response=reachable[category],
                        updated_at=opened + timedelta(minutes=30),
                    )
                )
        attempt.state = AttemptState.SUBMITTED
        attempt.started_at = opened + timedelta(minutes=5)
        attempt.finished_at = opened + timedelta(hours=2)
        for section in attempt.sections:
            section.state = SectionState.SUBMITTED
            section.started_at = attempt.started_at
            section.submitted_at = attempt.finished_at
            section.submitted_by = "candidate"
        db.session.flush()
        for position in (0, 1):
            results.score_attempt_section(attempt.id, position, now=attempt.finished_at)
    for code in rows:
        rows[code].times_administered = (rows[code].times_administered or 0) + N_CANDIDATES
    db.session.commit()
    members = [
        _user(username, full_name or "", Role.COMMISSION)
        if full_name
        else db.session.execute(db.select(User).where(User.username == username)).scalar_one()
        for username, full_name in MEMBERS
    ]
    admin = db.session.execute(db.select(User).where(User.username == "admin")).scalar_one()
    campaign = campaigns.create_campaign(
        name=CAMPAIGN,
        description="Simulated demo data: 40 candidates, both written stages and the competency interview.",
        places=10,
        stages=[
            campaigns.StagePlan(
                "Legal knowledge",
                "test",
                0.4,
                definition_id=definition.id,
                section_position=0,
                report_intercept=500,
                report_slope=100,
                report_decimals=0,
            ),
            campaigns.StagePlan(
                "Situational judgement",
                "test",
                0.3,
                definition_id=definition.id,
                section_position=1,
                report_intercept=500,
                report_slope=100,
                report_decimals=0,
            ),
            campaigns.StagePlan("Competency interview", "rated", 0.3, criteria=COMPETENCES),
        ],
        members=members,
        actor=admin,
        now=now,
    )
    campaigns.enrol(campaign, people, actor=admin, now=now)
    interview = campaign.stages[2]
    leniency = rng.normal(0, 0.3, size=len(members))
    for n, candidate in enumerate(sorted(campaign.candidates, key=lambda c: c.user.username)):
        merit = 0.5 * truth[n, 0] + 0.5 * truth[n, 1]
        for m, member in enumerate(members):
            ratings = {
                competence: float(min(5, max(1, round(3 + 0.9 * merit + leniency[m] + rng.normal(0, 0.6)))))
                for competence in COMPETENCES
            }
            campaigns.record_ratings(interview, candidate, member, ratings, now=now)
    return True
