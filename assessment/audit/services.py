"""Writing and verifying the audit chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import text

from assessment.audit.models import AuditEvent
from assessment.auth.models import utcnow
from assessment.extensions import db

GENESIS = "0" * 64


def _digest(event: AuditEvent) -> str:
    payload = {
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "details": event.details,
        "ip_address": event.ip_address,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _lock_chain() -> None:
    # Two writers must not both append after the same row; PostgreSQL serialises on an advisory lock held
    # until commit, SQLite serialises writers anyway.
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(727001)"))


def record(
    action: str,
    *,
    target: Any = None,
    target_type: str | None = None,
    target_id: Any = None,
    actor: Any = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction (the caller's service commits it)."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    if target is not None:
        target_type = target_type or type(target).__name__
        target_id = target_id if target_id is not None else getattr(target, "id", None)
    _lock_chain()
    last = db.session.execute(db.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    event = AuditEvent(
        at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_username=getattr(actor, "username", None),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details,
        ip_address=request.remote_addr if has_request_context() else None,
        request_id=g.get("request_id") if has_request_context() else None,
        prev_hash=last or GENESIS,
    )
    event.hash = _digest(event)
    db.session.add(event)
    db.session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain() -> ChainReport:
    """Recompute every hash in order; report the first row that was altered, inserted or removed."""
    prev = GENESIS
    count = 0
    for event in db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars():
        count += 1
        if event.prev_hash != prev:
            return ChainReport(False, count, event.id, "previous hash does not match: a row was removed")
        if _digest(event) != event.hash:
            return ChainReport(False, count, event.id, "content does not match its hash: the row was altered")
        prev = event.hash
    return ChainReport(True, count)
