"""Set-up (not measured): a fresh migrated database, the demo bank, rooms of registered, admitted candidates.

Everything goes through the app's own services, as an administrator's tools would. Passwords are hashed with
cheap argon2 parameters so that creating 1,000 accounts takes seconds; the run's output says so.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from assessment.config import normalise_database_url

# The same cheap profile as the test suites (tests/assessment/conftest.py FAST_ARGON2).
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
PASSWORD = "bench-candidate-pass"  # noqa: S105 - a throw-away bench account on a throw-away database
FORBIDDEN_DATABASES = {"test"}  # used by the test suites (TEST_DATABASE_URL in .ci/run)
KNOWLEDGE_ITEMS = 30
SJT_ITEMS = 10


@dataclass
class Prepared:
    database_url: str
    backend: str
    candidates: list[dict[str, Any]] = field(default_factory=list)
    proctors: list[dict[str, Any]] = field(default_factory=list)
    attempt_ids: list[int] = field(default_factory=list)
    section_items: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def fresh_database(url: str, workdir: Path) -> str:
    """Empty the bench database (SQLite: a new file; PostgreSQL: created if absent, schema dropped)."""
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return url
    name = parsed.database or ""
    if name in FORBIDDEN_DATABASES:
        msg = f"database {name!r} is used by the test suites; give the bench its own (e.g. bench_http)"
        raise SystemExit(msg)
    admin = parsed.set(database="postgres")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            if shutil.which("createdb"):
                args = ["createdb", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
                args += ["-U", parsed.username or "postgres", name]
                subprocess.run(args, check=True)
            else:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def app_config(database_url: str, instance: Path) -> dict[str, Any]:
    """The configuration the set-up and the verification use (the server gets its own, see wsgi.py)."""
    return {
        "ENV": "development",
        "SECRET_KEY": "bench-setup",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "ARGON2_PARAMETERS": FAST_ARGON2,
        "RATELIMIT_ENABLED": False,
        "INSTANCE_PATH": str(instance),
    }


def prepare(
    database_url: str,
    workdir: Path,
    *,
    candidates: int,
    room_size: int,
    sqlite_wal: bool = False,
    calibrated: bool = True,
) -> Prepared:
    """Migrate, load the demo bank, and register and admit ``candidates`` in rooms of ``room_size``.

    ``calibrated=False`` imports the demo bank's items without the demo's simulated-pilot calibration (a few
    seconds saved; the fixed forms used here need no parameters), for the harness's smoke test.
    """
    from flask_migrate import upgrade

    from assessment import create_app
    from assessment.auth import services as accounts
    from assessment.auth.models import Role
    from assessment.bank import services as bank_services
    from assessment.delivery import services as delivery
    from assessment.delivery.clock import db_now
    from assessment.demo.services import DEMO_BANK
    from assessment.demo.services import load as load_demo
    from assessment.extensions import db
    from item_bank.formats.items_json import loads_items

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    url = fresh_database(database_url, workdir)
    app = create_app(app_config(url, workdir / "instance"))
    prepared = Prepared(database_url=url, backend=make_url(url).get_backend_name())
    with app.app_context():
        upgrade()
        if sqlite_wal and prepared.backend == "sqlite":
            # persistent in the file: every server process then reads beside one writer
            db.session.execute(text("PRAGMA journal_mode=WAL"))
            db.session.commit()
        timings["migrate_s"] = time.perf_counter() - t0
        t = time.perf_counter()
        specs, stimuli = loads_items(DEMO_BANK.read_bytes(), DEMO_BANK.name)
        if calibrated:
            load_demo()
        else:
            bank_services.import_items(specs, stimuli, actor=None, source="bench", demo=True)
        timings["demo_bank_s"] = time.perf_counter() - t

        knowledge = [s.code for s in specs if s.family == "knowledge" and not s.stimulus][:KNOWLEDGE_ITEMS]
        sjt = [s.code for s in specs if s.family == "sjt"][:SJT_ITEMS]
        definition = delivery.create_definition(
            "Bench: written stage",
            [
                {
                    "title": {"en": "Legal knowledge"},
                    "family": "knowledge",
                    "time_limit_seconds": 3 * 3600,  # never runs out during a bench run
                    "mode": "fixed",
                    "config": {"items": knowledge},
                    "shuffle_options": True,
                },
                {
                    "title": {"en": "Situational judgement"},
                    "family": "sjt",
                    "time_limit_seconds": 3600,
                    "mode": "fixed",
                    "config": {"items": sjt},
                },
            ],
            actor=None,
        )
        prepared.section_items = len(knowledge)
        now = db_now()
        t = time.perf_counter()
        n_rooms = -(-candidates // room_size)
        number = 0
        for room in range(n_rooms):
            proctor = accounts.create_user(
                username=f"bench-proctor-{room + 1:02d}",
                full_name=f"Bench Proctor {room + 1}",
                role=Role.PROCTOR,
                password=PASSWORD,
            )
            session = delivery.create_session(
                definition,
                name=f"Bench room {room + 1}",
                opens_at=now - timedelta(hours=1),
                closes_at=now + timedelta(days=1),
                proctors=[proctor],
                actor=None,
            )
            prepared.proctors.append({"username": proctor.username, "session_id": session.id})
            for _ in range(min(room_size, candidates - number)):
                number += 1
                user = accounts.create_user(
                    username=f"bench-c{number:05d}",
                    full_name=f"Bench Candidate {number}",
                    role=Role.CANDIDATE,
                    password=PASSWORD,
                )
                registration = delivery.register(session, user, actor=None, language="en")
                attempt = registration.attempt
                delivery.admit(attempt, actor=proctor, now=db_now())
                prepared.candidates.append(
                    {"username": user.username, "attempt_id": attempt.id, "session_id": session.id}
                )
                prepared.attempt_ids.append(attempt.id)
        timings["candidates_s"] = time.perf_counter() - t
        db.session.remove()
        db.engine.dispose()
    timings["total_s"] = time.perf_counter() - t0
    prepared.timings = timings
    return prepared


def verify(database_url: str, workdir: Path, ledger: list[dict[str, Any]], attempt_ids: list[int]) -> dict:
    """Compare the client's record of acknowledged saves with the database: nothing acknowledged is lost."""
    from assessment import create_app
    from assessment.delivery.models import AnswerEvent, CurrentAnswer
    from assessment.extensions import db

    app = create_app(app_config(database_url, workdir / "instance"))
    with app.app_context():
        events = {
            (a, k): (item, seq)
            for a, k, item, seq in db.session.execute(
                db.select(
                    AnswerEvent.attempt_id,
                    AnswerEvent.idempotency_key,
                    AnswerEvent.item_code,
                    AnswerEvent.seq,
                ).where(AnswerEvent.attempt_id.in_(attempt_ids))
            )
        }
        current = {
            (a, item): seq
            for a, item, seq in db.session.execute(
                db.select(CurrentAnswer.attempt_id, CurrentAnswer.item_code, CurrentAnswer.seq).where(
                    CurrentAnswer.attempt_id.in_(attempt_ids)
                )
            )
        }
        db.session.remove()
        db.engine.dispose()
    acked = {(e["attempt"], e["key"]): e for e in ledger}
    lost = [k for k in acked if k not in events]
    wrong = [k for k, e in acked.items() if k in events and events[k] != (e["item"], e["seq"])]
    newest: dict[tuple[int, str], int] = {}
    for e in ledger:
        slot = (e["attempt"], e["item"])
        newest[slot] = max(newest.get(slot, -1), e["seq"])
    stale_current = [slot for slot, seq in newest.items() if current.get(slot, -1) < seq]
    return {
        "acknowledged_saves": len(acked),
        "answer_event_rows": len(events),
        "current_answer_rows": len(current),
        "answered_slots_acknowledged": len(newest),
        "lost_acknowledged": len(lost),
        "mismatched_events": len(wrong),
        "current_older_than_acknowledged": len(stale_current),
        "committed_not_acknowledged": len(set(events) - set(acked)),
        "ok": not lost and not wrong and not stale_current,
    }
