"""Issuing access codes and signing in with one; each public function owns its commit.

How long a code lives is a decision about exam day, not about cryptography. A code printed on a slip works
from shortly before the session opens until the candidate's sitting ends (or the session closes, if the
sitting never started): not for one sign-in only. When a machine dies mid-sitting, the candidate moves to a
spare one and types the same code; waiting for an administrator to re-issue a code, in a room of a hundred,
costs the candidate minutes of their exam for no gain. What keeps this safe:

- one sign-in at a time: each sign-in with a code ends every other sign-in of the candidate, so a second
  browser cannot quietly ride along, and the sitting itself still refuses a second tab until the first one has
  gone silent or the proctor releases it (delivery ``HOLD_SECONDS``);
- every sign-in after the first shows up on the proctor's grid as a signal, and every one is audited;
- a lost or seen slip is replaced by issuing a new code, which makes the old one useless at once;
- failed attempts are rate-limited per address, and a code carries 60 random bits.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from assessment.access_codes.models import AccessCode
from assessment.audit import services as audit
from assessment.auth import services as accounts
from assessment.auth.models import AuthSession, Role, User
from assessment.delivery.models import AttemptState, ExamSession, Irregularity, Registration
from assessment.extensions import db
from assessment.i18n import translate as _
from assessment.spreadsheets import safe_cell

# 32 symbols without the look-alikes 0/O and 1/I: 12 of them carry 60 bits; typed from a printed slip.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
# A sitting that has started may run past the session's closing time (extra time, extensions, pauses).
RUNNING = (AttemptState.IN_PROGRESS, AttemptState.PAUSED)
CSV_COLUMNS = ("candidate_code", "full_name", "username", "access_code", "session", "opens_utc", "sign_in")
SIGNED_IN_AGAIN = "signed_in_again"  # the signal a proctor sees when a code is used once more


class AccessCodeError(ValueError):
    """A refused use case; the message is safe to show to the person who asked."""


@dataclass(frozen=True)
class IssuedCode:
    """A code as issued: the plain code exists only here, for the printed list or the CSV, never stored."""

    registration: Registration
    code: str


@dataclass(frozen=True)
class CodeSignIn:
    """The outcome of a sign-in with a code: the user on success, else the reason to show."""

    user: User | None
    message: str | None = None


def new_code() -> str:
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(chars[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise(code: str) -> str:
    """Upper case without spaces or dashes: ``abcd efgh-jkmn`` and ``ABCD-EFGH-JKMN`` are the same code."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def early_sign_in() -> timedelta:
    """How long before the session opens a code already works (checking in takes a few minutes)."""
    return current_app.config["ACCESS_CODE_EARLY"]


def issue_codes(
    session: ExamSession, registrations: Sequence[Registration], *, actor: User | None, now: datetime
) -> list[IssuedCode]:
    """A new code for each registration of ``session`` whose sitting has not ended; older codes stop working.

    Registrations of other sessions are refused (nothing is written then); finished sittings are skipped.
    """
    foreign = [r.candidate_code for r in registrations if r.session_id != session.id]
    if foreign:
        raise AccessCodeError(
            _("These candidates are not registered for this session: %(codes)s", codes=", ".join(foreign))
        )
    if now > session.closes_at:
        raise AccessCodeError(_("This session has closed; its candidates need no access codes any more."))
    existing = {
        row.registration_id: row
        for row in db.session.execute(
            db.select(AccessCode).where(AccessCode.registration_id.in_([r.id for r in registrations]))
        ).scalars()
    }
    issued: list[IssuedCode] = []
    for registration in registrations:
        if registration.attempt is not None and registration.attempt.state.finished:
            continue
        code = new_code()
        row = existing.get(registration.id) or AccessCode(registration=registration)
        replaced = row.id is not None
        row.code_hash = code_hash(code)
        row.issued_at = now
        row.issued_by_id = getattr(actor, "id", None)
        row.uses = 0
        row.last_used_at = None
        db.session.add(row)
        db.session.flush()
        audit.record(
            "access_code.issued",
            actor=actor,
            target=registration,
            candidate_code=registration.candidate_code,
            session_id=session.id,
            replaced=replaced,
        )
        issued.append(IssuedCode(registration, code))
    db.session.commit()
    return issued


def codes_csv(issued: Sequence[IssuedCode], session: ExamSession, *, sign_in_url: str) -> str:
    """The codes just issued as CSV (with a BOM, so that Excel reads Cyrillic names); never stored."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["candidate_code", "full_name", "username", "access_code", "session", "opens_utc", "sign_in"]
    )
    for entry in issued:
        registration = entry.registration
        writer.writerow(
            [
                registration.candidate_code,
                safe_cell(registration.candidate.full_name),
                safe_cell(registration.candidate.username),
                entry.code,
                safe_cell(session.name),
                session.opens_at.strftime("%Y-%m-%d %H:%M"),
                sign_in_url,
            ]
        )
    return "\ufeff" + out.getvalue()


def _refusal(row: AccessCode, now: datetime) -> str | None:
    """Why a known code cannot be used now, or None; said plainly, since only its holder can get here."""
    registration = row.registration
    session = registration.session
    attempt = registration.attempt
    if not registration.candidate.active or registration.candidate.role is not Role.CANDIDATE:
        # a staff account (its role changed after registering) signs in with a password and a second factor
        return _("This account is disabled. Please ask the exam staff.")
    if attempt is not None and attempt.state.finished:
        return _("Your sitting has ended; this access code no longer works.")
    opens = session.opens_at - early_sign_in()
    if now < opens:
        return _(
            "This access code works from %(time)s (UTC) on %(date)s.",
            time=opens.strftime("%H:%M"),
            date=opens.strftime("%Y-%m-%d"),
        )
    if now > session.closes_at and (attempt is None or attempt.state not in RUNNING):
        return _("This exam session has closed; this access code no longer works.")
    return None


def sign_in_with_code(code: str, *, ip: str | None, user_agent: str | None, now: datetime) -> CodeSignIn:
    """Open a sign-in for the candidate the code was issued to, ending their other sign-ins."""
    row = None
    if len(normalise(code)) == CODE_LENGTH:
        row = db.session.execute(
            db.select(AccessCode).where(AccessCode.code_hash == code_hash(code))
        ).scalar_one_or_none()
    if row is None:
        audit.record("auth.sign_in_failed", method="access_code", reason="unknown access code")
        db.session.commit()
        return CodeSignIn(
            None, _("This access code is not valid. Check it on your slip, or ask the exam staff.")
        )
    registration = row.registration
    user = registration.candidate
    refusal = _refusal(row, now)
    if refusal is not None:
        audit.record(
            "auth.sign_in_failed",
            target=user,
            method="access_code",
            registration_id=registration.id,
            reason=refusal,
        )
        db.session.commit()
        return CodeSignIn(None, refusal)
    live = db.session.execute(
        db.select(AuthSession).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    ).scalars()
    ended = 0
    for other in live:
        other.revoked_at, other.revoked_reason = now, "access_code_sign_in"
        ended += 1
    session_row = accounts.open_session(user, ip=ip, user_agent=user_agent)
    row.uses += 1
    row.last_used_at = now
    if row.uses > 1 and registration.attempt is not None:
        db.session.add(
            Irregularity(
                session_id=registration.session_id,
                attempt_id=registration.attempt.id,
                category=SIGNED_IN_AGAIN,
                source="browser",
                note=f"access code used {row.uses} times; this time from {ip or 'unknown address'}",
                at=now,
            )
        )
    audit.record(
        "auth.sign_in",
        actor=user,
        target=user,
        method="access_code",
        registration_id=registration.id,
        uses=row.uses,
        other_sign_ins_ended=ended,
    )
    db.session.commit()
    user.current_auth_session = session_row
    return CodeSignIn(user)
