"""Use cases of exam delivery: time, answers and the attempt's one-way states.

Every function takes ``now`` (the database clock, :func:`assessment.delivery.clock.db_now`) so that tests can
move time, and owns its transaction. State changes are conditional updates (``UPDATE ... WHERE state = ...``)
so that two concurrent requests cannot both win; on PostgreSQL the section row is locked while an answer is
checked against the clock, so that a save and a proctor's pause are strictly ordered.
"""

from __future__ import annotations

import copy
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import and_, delete, update
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from assessment.audit import services as audit
from assessment.auth.models import User
from assessment.bank import repository
from assessment.bank.models import Item, ItemFamily, ItemStatus, ItemVersion
from assessment.delivery import adaptive
from assessment.delivery.clock import as_naive_utc, db_now, now_column
from assessment.delivery.exposure import exposure_of
from assessment.delivery.models import (
    AnswerEvent,
    Attempt,
    AttemptSection,
    AttemptState,
    CurrentAnswer,
    ExamDefinition,
    ExamSection,
    ExamSession,
    Irregularity,
    ItemExposure,
    Registration,
    SectionState,
    SelectionMode,
    TimeAdjustment,
)
from assessment.delivery.presenter import sitting_pulse
from assessment.extensions import db
from item_bank.assembly import AssemblyError, Blueprint, Form, ItemPool, assemble_loft
from item_bank.assembly.linear import shuffle_options, unshuffle_response
from item_bank.items import ItemValidationError, validate_response

SCORING_METHODS = ("eap", "map", "ml", "wle")
IRREGULARITY_CATEGORIES = ("environment", "candidate", "technical", "staff", "other")
# A tab that has not been heard from for this long loses its hold: after a power cut the candidate can go on
# from another machine, while two live tabs can never both write.
HOLD_SECONDS = 45
BROWSER_SIGNALS = ("focus_lost", "copy_attempted", "paste_attempted", "fullscreen_left", "offline", "online")


class DeliveryError(Exception):
    """A refused delivery action; ``status`` is the HTTP status an API answers with."""

    status = 422

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Conflict(DeliveryError):  # noqa: N818 - an HTTP 409, named as the API reports it
    status = 409


class TimeIsUp(DeliveryError):  # noqa: N818
    status = 409


class NotRegistered(DeliveryError):  # noqa: N818
    status = 404


def grace() -> timedelta:
    """Saves in flight at the deadline are accepted for this long (documented in the API)."""
    return timedelta(seconds=current_app.config.get("DELIVERY_GRACE_SECONDS", 5))


# Setting up -----------------------------------------------------------------------------------------------


def create_definition(
    name: str,
    sections: Sequence[dict[str, Any]],
    *,
    actor: User | None,
    instructions: dict[str, str] | None = None,
    scoring_method: str = "eap",
) -> ExamDefinition:
    """A test of ordered sections; each section dict has title, family, time_limit_seconds, mode, config."""
    problems = []
    if scoring_method not in SCORING_METHODS:
        problems.append(f"scoring method must be one of {list(SCORING_METHODS)}, got {scoring_method!r}")
    for position, spec in enumerate(sections):
        if spec.get("time_limit_seconds", 0) <= 0:
            problems.append(f"section {position + 1}: time_limit_seconds must be positive")
        if SelectionMode(spec["mode"]) is SelectionMode.FIXED:
            codes = spec.get("config", {}).get("items", [])
            found = set(db.session.execute(db.select(Item.code).where(Item.code.in_(codes))).scalars())
            if missing := [c for c in codes if c not in found]:
                problems.append(f"section {position + 1}: no items {missing} in the bank")
            if not codes:
                problems.append(f"section {position + 1}: a fixed form needs items")
        if SelectionMode(spec["mode"]) is SelectionMode.LOFT:
            try:
                Blueprint.from_dict(spec.get("config", {}).get("blueprint", {}))
            except AssemblyError as exc:
                problems.append(f"section {position + 1}: {exc}")
        if SelectionMode(spec["mode"]) is SelectionMode.CAT:
            if spec.get("allow_review", False):
                problems.append(f"section {position + 1}: adaptive sections cannot allow review")
            try:
                adaptive.design_of(spec.get("config", {}))
            except AssemblyError as exc:
                problems.append(f"section {position + 1}: {exc}")
    if problems:
        raise DeliveryError("; ".join(problems))
    definition = ExamDefinition(
        name=name,
        instructions=instructions or {},
        scoring_method=scoring_method,
        created_by_id=getattr(actor, "id", None),
    )
    for position, spec in enumerate(sections):
        definition.sections.append(
            ExamSection(
                position=position,
                title=spec["title"],
                family=spec["family"],
                time_limit_seconds=int(spec["time_limit_seconds"]),
                mode=SelectionMode(spec["mode"]),
                config=spec.get("config", {}),
                shuffle_options=bool(spec.get("shuffle_options", False)),
                allow_review=bool(spec.get("allow_review", spec["mode"] != "cat")),
            )
        )
    db.session.add(definition)
    db.session.flush()
    audit.record("delivery.definition_created", actor=actor, target=definition, sections=len(sections))
    db.session.commit()
    return definition


def create_session(
    definition: ExamDefinition,
    *,
    name: str,
    opens_at: datetime,
    closes_at: datetime,
    proctors: Sequence[User],
    actor: User | None,
) -> ExamSession:
    if closes_at <= opens_at:
        raise DeliveryError("the session must close after it opens")
    session = ExamSession(name=name, definition=definition, opens_at=opens_at, closes_at=closes_at)
    session.proctors.extend(proctors)
    db.session.add(session)
    db.session.flush()
    audit.record("delivery.session_created", actor=actor, target=session, proctors=[p.id for p in proctors])
    db.session.commit()
    return session


def register(
    session: ExamSession,
    candidate: User,
    *,
    actor: User | None,
    language: str = "ru",
    extra_time_factor: float = 1.0,
    large_text: bool = False,
    breaks_allowed: bool = False,
    note: str | None = None,
) -> Registration:
    """Register a candidate; the attempt and its section timers are created at once."""
    if not 1.0 <= extra_time_factor <= 3.0:
        raise DeliveryError(f"extra time factor must be between 1.0 and 3.0, got {extra_time_factor}")
    registration = Registration(
        session=session,
        candidate=candidate,
        candidate_code=f"C-{secrets.token_hex(4).upper()}",
        language=language,
        extra_time_factor=extra_time_factor,
        large_text=large_text,
        breaks_allowed=breaks_allowed,
        accommodation_note=note,
    )
    db.session.add(registration)
    attempt = Attempt(registration=registration)
    db.session.add(attempt)
    for section in session.definition.sections:
        attempt.sections.append(
            AttemptSection(
                position=section.position,
                allowed_seconds=round(section.time_limit_seconds * extra_time_factor),
            )
        )
    db.session.add(registration)
    db.session.flush()
    audit.record(
        "delivery.candidate_registered",
        actor=actor,
        target=registration,
        session=session.id,
        extra_time_factor=extra_time_factor,
    )
    db.session.commit()
    return registration


def _pin_parameters(codes: Sequence[str]) -> dict[str, int]:
    items = db.session.execute(db.select(Item).where(Item.code.in_(list(codes)))).scalars()
    return {i.code: i.approved_parameters.id for i in items if i.approved_parameters is not None}


def assemble(attempt: Attempt) -> None:
    """Build the candidate's form (done while they wait, so that a room pressing Start costs little)."""
    if attempt.form:
        return
    form: dict[str, Any] = {"sections": []}
    codes: list[str] = []
    pinned: dict[str, int] = {}
    rng = np.random.default_rng(secrets.randbits(64))
    for section in attempt.registration.session.definition.sections:
        if section.mode is SelectionMode.CAT:
            try:
                planned, pool_pins, state = adaptive.plan(section.family, section.config, rng)
            except AssemblyError as exc:
                raise DeliveryError(f"section {section.position + 1}: {exc}") from None
            form["sections"].append(planned)
            pinned.update(pool_pins)
            attempt.sections[section.position].adaptive_state = state
            continue
        if section.mode is SelectionMode.FIXED:
            pretest = list(section.config.get("pretest", []))
            items = list(section.config["items"]) + pretest
        else:
            built = _assemble_loft(section, rng)
            items, pretest = list(built.item_ids), list(built.pretest)
        form["sections"].append({"items": items, "pretest": pretest, "permutations": {}})
        codes.extend(code for code in items if code not in pretest)
    all_codes = [code for section in form["sections"] for code in _presentable(section)]
    rows = {i.code: i for i in db.session.execute(db.select(Item).where(Item.code.in_(all_codes))).scalars()}
    # the versions the candidate is shown, whatever the bank does meanwhile
    form["versions"] = {code: item.current.id for code, item in rows.items()}
    for section, planned in zip(
        attempt.registration.session.definition.sections, form["sections"], strict=True
    ):
        if section.shuffle_options:
            planned["permutations"] = {
                code: list(
                    shuffle_options(len(next(iter(rows[code].current.content.values()))["options"]), rng)
                )
                for code in _presentable(planned)
            }
    attempt.form = form
    attempt.pinned_parameters = {**_pin_parameters(codes), **pinned}


def _presentable(planned: dict[str, Any]) -> list[str]:
    """Every item the section may show: its form, or for an adaptive section its whole pool."""
    if planned.get("mode") == "cat":
        return [*planned["pool"]["items"], *planned["pool"]["pretest"]]
    return list(planned["items"])


def _assemble_loft(section: ExamSection, rng: np.random.Generator) -> Form:
    """A linear form on the fly from the section's blueprint, over the bank's operational items."""
    family = ItemFamily(section.family)
    items = list(
        db.session.execute(
            db.select(Item).where(
                Item.family == family, Item.status.in_([ItemStatus.OPERATIONAL, ItemStatus.PRETEST])
            )
        ).scalars()
    )
    approved = [i.approved_parameters for i in items if i.approved_parameters is not None]
    if not approved:
        raise DeliveryError(f"section {section.position + 1}: no {family.value} item has approved parameters")
    pool = ItemPool.from_specs(
        [repository.spec_of(i) for i in items], repository.item_parameters_of(approved)
    )
    try:
        blueprint = Blueprint.from_dict(section.config.get("blueprint", {}))
        return assemble_loft(pool, blueprint, rng, exposure=exposure_of(items))
    except AssemblyError as exc:
        raise DeliveryError(f"section {section.position + 1}: {exc}") from None


# The candidate --------------------------------------------------------------------------------------------


def _locked_section(attempt_id: int, position: int) -> AttemptSection:
    query = (
        db.select(AttemptSection)
        .where(AttemptSection.attempt_id == attempt_id, AttemptSection.position == position)
        .execution_options(populate_existing=True)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return db.session.execute(query).scalar_one()


def check_in(attempt: Attempt, client_token: str, *, now: datetime) -> None:
    """Claim the sitting for this browser tab; a second tab (or machine) is refused while one holds it."""
    if attempt.state.finished:
        raise Conflict("this sitting has ended")
    stale = now - timedelta(seconds=HOLD_SECONDS)
    claimed = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id)
        .where(
            Attempt.client_token.is_(None)
            | (Attempt.client_token == client_token)
            | Attempt.last_seen_at.is_(None)
            | (Attempt.last_seen_at < stale)
        )
        .values(client_token=client_token, last_seen_at=now)
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise Conflict("this sitting is open in another browser; ask the proctor to release it")
    assemble(attempt)
    db.session.commit()


HEARTBEAT_WRITE_SECONDS = 10


def heartbeat(attempt: Attempt, client_token: str | None, *, now: datetime) -> None:
    """The holding tab is alive (sent every few seconds with the clock re-sync).

    ``last_seen_at`` is written at most every ten seconds: often enough for the 45-second hold and the
    proctor's grid, rare enough that a full room's heartbeats cost little.
    """
    _require_client(attempt, client_token)
    seen = attempt.last_seen_at
    if seen is None or seen < now - timedelta(seconds=HEARTBEAT_WRITE_SECONDS):
        # not even an UPDATE that matches nothing: on SQLite it takes the database's one write lock
        _touch(attempt.id, now)
    db.session.commit()


def _pulse_rows(candidate_id: int) -> tuple[Attempt, AttemptSection | None, datetime]:
    """The candidate's attempt (the newest not ended, else the newest), its current section and the database
    clock, in one statement."""
    rows = db.session.execute(
        db.select(Attempt, AttemptSection, now_column())
        .join(Registration, Registration.id == Attempt.registration_id)
        .outerjoin(
            AttemptSection,
            and_(AttemptSection.attempt_id == Attempt.id, AttemptSection.position == Attempt.current_section),
        )
        .where(Registration.candidate_id == candidate_id)
        .order_by(Attempt.id.desc())
        .execution_options(populate_existing=True)
    ).all()
    if not rows:
        raise NotRegistered("you are not registered for an exam session")
    live = [row for row in rows if not row[0].state.finished]
    attempt, section, now = (live or rows)[0]
    return attempt, section, as_naive_utc(now)


def pulse(candidate_id: int, client_token: str | None) -> dict[str, Any]:
    """The heartbeat: the holding tab is alive and re-syncs its clock (every 3-5 s).

    One read (attempt, current section, database clock), the throttled ``last_seen_at`` write, nothing else;
    the page asks for the whole view only when the view's version changed. A section whose time and grace
    ran out while the candidate was away is closed here, as the finaliser job would.
    """
    attempt, section, now = _pulse_rows(candidate_id)
    _require_client(attempt, client_token)
    if (
        attempt.state is AttemptState.IN_PROGRESS
        and section is not None
        and section.state is SectionState.OPEN
        and section.paused_since is None
        and section.deadline() is not None
        and now > section.deadline() + grace()
    ):
        db.session.rollback()
        _finish(attempt.id, section.position, by="server", now=now)
        attempt, section, now = _pulse_rows(candidate_id)
    answer = sitting_pulse(attempt, section, now=now)  # before a commit expires what was read
    seen = attempt.last_seen_at
    if seen is None or seen < now - timedelta(seconds=HEARTBEAT_WRITE_SECONDS):
        _touch(attempt.id, now)
        db.session.commit()
    # else nothing was written: the request's end closes the read (a commit would only make the signed-in
    # user's row be read again)
    return answer


def _touch(attempt_id: int, now: datetime) -> None:
    """Record that the holding tab was heard from (throttled: one write per HEARTBEAT_WRITE_SECONDS)."""
    db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt_id)
        .where(
            Attempt.last_seen_at.is_(None)
            | (Attempt.last_seen_at < now - timedelta(seconds=HEARTBEAT_WRITE_SECONDS))
        )
        .values(last_seen_at=now)
    )


def release(attempt: Attempt, *, actor: User, reason: str) -> None:
    """A proctor lets the candidate continue on another machine (the old tab loses its hold)."""
    attempt.client_token = None
    audit.record("delivery.sitting_released", actor=actor, target=attempt, reason=reason)
    db.session.commit()


def admit(attempt: Attempt, *, actor: User, now: datetime) -> None:
    won = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.state == AttemptState.SCHEDULED)
        .values(state=AttemptState.ADMITTED, admitted_at=now)
    ).rowcount
    if not won:
        db.session.rollback()
        raise Conflict(f"candidate cannot be admitted from state {attempt.state.value}")
    assemble(attempt)
    audit.record("delivery.admitted", actor=actor, target=attempt)
    db.session.commit()


def start(attempt: Attempt, client_token: str, *, now: datetime) -> None:
    """The candidate presses Start: the first section's clock starts."""
    _require_client(attempt, client_token)
    won = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.state == AttemptState.ADMITTED)
        .values(state=AttemptState.IN_PROGRESS, started_at=now)
    ).rowcount
    if not won:
        db.session.rollback()
        raise Conflict(f"the sitting cannot start from state {attempt.state.value}")
    _open_section(attempt.id, 0, now)
    db.session.commit()


def _open_section(
    attempt_id: int, position: int, now: datetime, rng: np.random.Generator | None = None
) -> None:
    db.session.execute(
        update(AttemptSection)
        .where(
            AttemptSection.attempt_id == attempt_id,
            AttemptSection.position == position,
            AttemptSection.state == SectionState.PENDING,
        )
        .values(state=SectionState.OPEN, started_at=now)
    )
    db.session.execute(update(Attempt).where(Attempt.id == attempt_id).values(current_section=position))
    form = db.session.get(Attempt, attempt_id).form
    if form["sections"][position].get("mode") == "cat":
        # an adaptive section counts its items one by one, as they are selected
        section = _locked_section(attempt_id, position)
        _select_next(
            attempt_id,
            position,
            (section.adaptive_state, section.adaptive_step),
            None,
            rng or np.random.default_rng(secrets.randbits(64)),
        )
    else:
        _count_exposure(attempt_id, form, form["sections"][position]["items"], now)


def _count_exposure(attempt_id: int, form: dict[str, Any], codes: Sequence[str], now: datetime) -> None:
    """These items are now administered: record one exposure row each (insert-only), and freeze the versions
    shown (never edited).

    The shared counters (``item.times_administered``) are not touched here: every candidate of a room pressing
    Start together would queue on the same rows (bench/http: 1,000 Starts on PostgreSQL took 26 s, 11 s
    without counting). The finaliser job moves the rows into the counters (:func:`aggregate_exposure`). A
    version's counter is written at once only when it is still 0, so that the bank makes a new version
    instead of editing one a candidate has seen; once it is above 0 no Start locks it again.
    """
    versions = form.get("versions", {})
    items = dict(db.session.execute(db.select(Item.code, Item.id).where(Item.code.in_(list(codes)))).all())
    shown = sorted({versions[code] for code in codes if code in versions})
    marked: set[int] = set()
    if shown:
        # Locked in id order, so that two Starts cannot deadlock; on PostgreSQL a row another Start has just
        # marked is re-checked after it commits and skipped (SQLite ignores FOR UPDATE: one writer at a time).
        fresh = list(
            db.session.execute(
                db.select(ItemVersion.id)
                .where(ItemVersion.id.in_(shown), ItemVersion.times_administered == 0)
                .order_by(ItemVersion.id)
                .with_for_update()
            ).scalars()
        )
        if fresh:
            db.session.execute(
                update(ItemVersion)
                .where(ItemVersion.id.in_(fresh), ItemVersion.times_administered == 0)
                .values(times_administered=1)
            )
            marked = set(fresh)
    rows = [
        {
            "item_id": items[code],
            "version_id": versions.get(code),
            "version_marked": versions.get(code) in marked,
            "attempt_id": attempt_id,
            "at": now,
        }
        for code in codes
        if code in items
    ]
    if rows:
        db.session.execute(sql_insert(ItemExposure), rows)


def aggregate_exposure() -> int:
    """Move the exposure rows into ``item.times_administered`` and ``item_version.times_administered``.

    Run by the finaliser job (``flask delivery finalize --every 10``), so the counters shown in the bank are
    at most one period behind; exposure control reads :func:`pending_exposure` on top of them. The rows are
    deleted with RETURNING and counted from what was deleted, so that two jobs at once cannot count a row
    twice (on PostgreSQL the second waits for the first's delete and gets nothing back). Returns the rows.
    """
    moved = db.session.execute(
        delete(ItemExposure).returning(
            ItemExposure.item_id, ItemExposure.version_id, ItemExposure.version_marked
        )
    ).all()
    if not moved:
        db.session.rollback()
        return 0
    per_item: Counter[int] = Counter(item_id for item_id, _, _ in moved)
    per_version: Counter[int] = Counter(
        version_id for _, version_id, marked in moved if version_id is not None and not marked
    )
    for model, counts in ((Item, per_item), (ItemVersion, per_version)):
        if not counts:
            continue
        ids = sorted(counts)
        locked = db.session.execute(
            db.select(model.id).where(model.id.in_(ids)).order_by(model.id).with_for_update()
        ).scalars()
        by_count: dict[int, list[int]] = {}
        for row_id in locked:
            by_count.setdefault(counts[row_id], []).append(row_id)
        for n, row_ids in sorted(by_count.items()):
            db.session.execute(
                update(model)
                .where(model.id.in_(row_ids))
                .values(times_administered=model.times_administered + n)
            )
    db.session.commit()
    return len(moved)


def _require_client(attempt: Attempt, client_token: str | None) -> None:
    if not client_token or attempt.client_token != client_token:
        raise Conflict("this sitting is open in another browser; ask the proctor to release it")


@dataclass(frozen=True)
class SaveResult:
    """What a save answers; a retried save with the same key gets the first answer again."""

    item: str
    seq: int
    current_seq: int
    applied: bool
    replayed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "seq": self.seq,
            "current_seq": self.current_seq,
            "applied": self.applied,
            "replayed": self.replayed,
        }


def _in_bank_order(attempt: Attempt, item: str, response: Any) -> Any:
    """A response given in the displayed option order, in the bank's order: how answers and events are stored,
    so that keys and scoring never depend on the display and a retry compares like with like."""
    if response is None:
        return None
    for planned in attempt.form.get("sections", []):
        permutation = planned.get("permutations", {}).get(item)
        if permutation is not None:
            try:
                return unshuffle_response(response, permutation)
            except ValueError as exc:
                raise DeliveryError(f"item {item!r}: {exc}") from None
    return response


def _replay(attempt_id: int, key: str, item: str, response: Any, flagged: bool | None) -> SaveResult:
    event = db.session.execute(
        db.select(AnswerEvent).where(AnswerEvent.attempt_id == attempt_id, AnswerEvent.idempotency_key == key)
    ).scalar_one()
    if (event.item_code, event.response, event.flagged) != (item, response, flagged):
        raise DeliveryError("this idempotency key was used for a different answer")
    current = db.session.get(CurrentAnswer, (attempt_id, item))
    return SaveResult(
        item, event.seq, current.seq if current else event.seq, event.outcome == "applied", True
    )


def save_answer(
    attempt: Attempt,
    *,
    client_token: str | None,
    item: str,
    response: dict[str, Any] | None,
    flagged: bool | None,
    seq: int,
    key: str,
    now: datetime,
) -> SaveResult:
    """Record an answer (or a flag) durably; newest sequence number wins; retries are harmless.

    Refused when the sitting is not in progress, the item is not in the open section, or the section's time
    (plus the grace for saves in flight) is over by the database clock, whatever the browser's clock says.
    """
    if not key or len(key) > 64:
        raise DeliveryError("an idempotency key of 1-64 characters is required")
    response = _in_bank_order(attempt, item, response)
    existing = db.session.execute(
        db.select(AnswerEvent.id).where(
            AnswerEvent.attempt_id == attempt.id, AnswerEvent.idempotency_key == key
        )
    ).first()
    if existing:
        return _replay(attempt.id, key, item, response, flagged)
    _require_client(attempt, client_token)
    section = _locked_section(attempt.id, attempt.current_section)
    db.session.refresh(attempt)
    if attempt.state is AttemptState.PAUSED:
        db.session.rollback()
        raise Conflict("the sitting is paused by the proctor")
    if attempt.state is not AttemptState.IN_PROGRESS or section.state is not SectionState.OPEN:
        db.session.rollback()
        raise TimeIsUp("this section is closed")
    if now > section.deadline() + grace():
        db.session.rollback()
        _finish(attempt.id, section.position, by="server", now=now)
        raise TimeIsUp("time is up for this section")
    planned = attempt.form["sections"][section.position]
    if planned.get("mode") == "cat":
        if flagged is not None:
            db.session.rollback()
            raise DeliveryError("adaptive sections have no flags")
        if item != (section.adaptive_state or {}).get("pending"):
            db.session.rollback()
            raise Conflict(f"item {item!r} is not the current question of this adaptive section")
    elif item not in planned["items"]:
        db.session.rollback()
        raise DeliveryError(f"item {item!r} is not in the open section")
    if response is not None:
        bank_item = db.session.execute(db.select(Item).where(Item.code == item)).scalar_one()
        try:
            validate_response(repository.spec_of(bank_item), response)
        except ItemValidationError as exc:
            db.session.rollback()
            raise DeliveryError(str(exc)) from None
    try:
        # One savepoint for the current answer and its event: if the same key arrived concurrently and won,
        # the unique key refuses this event and the savepoint takes the upsert back with it.
        with db.session.begin_nested():
            applied = _upsert_current(attempt.id, item, seq, response, flagged, now)
            db.session.add(
                AnswerEvent(
                    attempt_id=attempt.id,
                    item_code=item,
                    seq=seq,
                    idempotency_key=key,
                    response=response,
                    flagged=flagged,
                    received_at=now,
                    outcome="applied" if applied else "stale",
                )
            )
    except IntegrityError:
        db.session.rollback()
        return _replay(attempt.id, key, item, response, flagged)
    _touch(attempt.id, now)
    current_seq = db.session.get(CurrentAnswer, (attempt.id, item)).seq
    db.session.commit()
    return SaveResult(item, seq, current_seq, applied, False)


def _upsert_current(
    attempt_id: int, item: str, seq: int, response: Any, flagged: bool | None, now: datetime
) -> bool:
    """Insert or, if this seq is newer, replace the current answer; returns whether it was applied."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values: dict[str, Any] = {
        "attempt_id": attempt_id,
        "item_code": item,
        "seq": seq,
        "response": response,
        "updated_at": now,
        "flagged": bool(flagged),
    }
    statement = insert(CurrentAnswer).values(**values)
    changes: dict[str, Any] = {"seq": statement.excluded.seq, "updated_at": statement.excluded.updated_at}
    if response is not None or flagged is None:
        changes["response"] = statement.excluded.response
    if flagged is not None:
        changes["flagged"] = statement.excluded.flagged
    statement = statement.on_conflict_do_update(
        index_elements=["attempt_id", "item_code"],
        set_=changes,
        where=CurrentAnswer.seq < statement.excluded.seq,
    ).returning(CurrentAnswer.seq)
    # a row comes back when it was inserted or updated; none when a newer answer was already there
    return db.session.execute(statement).first() is not None


def _finish(attempt_id: int, position: int, *, by: str, now: datetime) -> bool:
    """Close a section once (a conditional update: concurrent calls cannot both win) and open the next."""
    won = db.session.execute(
        update(AttemptSection)
        .where(
            AttemptSection.attempt_id == attempt_id,
            AttemptSection.position == position,
            AttemptSection.state == SectionState.OPEN,
        )
        .values(state=SectionState.SUBMITTED, submitted_at=now, submitted_by=by, paused_since=None)
    ).rowcount
    if not won:
        db.session.rollback()
        return False
    attempt = db.session.get(Attempt, attempt_id)
    if attempt.form["sections"][position].get("mode") == "cat":
        _close_adaptive(attempt, position)
    _score(attempt_id, position, now)
    if position + 1 < len(attempt.sections):
        _open_section(attempt_id, position + 1, now)
    else:
        db.session.execute(
            update(Attempt)
            .where(
                Attempt.id == attempt_id, Attempt.state.in_([AttemptState.IN_PROGRESS, AttemptState.PAUSED])
            )
            .values(state=AttemptState.SUBMITTED, finished_at=now)
        )
    audit.record(
        "delivery.section_submitted", target_type="Attempt", target_id=attempt_id, section=position, by=by
    )
    db.session.commit()
    return True


def _score(attempt_id: int, position: int, now: datetime) -> None:
    """Score the section as it closes; a scoring failure never keeps a section open (a rescore can follow)."""
    from assessment.results.services import score_attempt_section

    try:
        with db.session.begin_nested():
            score_attempt_section(attempt_id, position, now=now)
    except Exception:
        current_app.logger.exception("scoring section %s of attempt %s failed", position, attempt_id)


def finish_section(attempt: Attempt, position: int, *, client_token: str | None, now: datetime) -> bool:
    """The candidate ends a section; True for the call that closed it, False if it was already closed."""
    _require_client(attempt, client_token)
    return _finish(attempt.id, position, by="candidate", now=now)


# Adaptive sections ---------------------------------------------------------------------------------------


def next_question(
    attempt: Attempt,
    position: int,
    *,
    client_token: str | None,
    item: str,
    now: datetime,
    rng: np.random.Generator | None = None,
) -> bool:
    """Commit the saved answer to the adaptive section's current question and select the next one.

    Theta is updated and the next item selected in the same transaction, behind the section's row lock and a
    conditional update of its step counter; the section closes (and is scored) when the stopping rule
    fires. Returns True for the call that committed ``item``; a retried call (``item`` already committed)
    changes nothing and returns False, so that it answers with the same next question.
    """
    _require_client(attempt, client_token)
    if not 0 <= position < len(attempt.sections):
        raise DeliveryError(f"there is no section {position + 1}")
    section = _locked_section(attempt.id, position)
    db.session.refresh(attempt)
    if attempt.form["sections"][position].get("mode") != "cat":
        db.session.rollback()
        raise DeliveryError(f"section {position + 1} is not adaptive")
    state = section.adaptive_state or {}
    if item in state.get("items", []):
        db.session.rollback()
        return False
    if attempt.state is AttemptState.PAUSED:
        db.session.rollback()
        raise Conflict("the sitting is paused by the proctor")
    if (
        attempt.state is not AttemptState.IN_PROGRESS
        or section.state is not SectionState.OPEN
        or attempt.current_section != position
    ):
        db.session.rollback()
        raise TimeIsUp("this section is closed")
    if now > section.deadline() + grace():
        db.session.rollback()
        _finish(attempt.id, position, by="server", now=now)
        raise TimeIsUp("time is up for this section")
    if item != state.get("pending"):
        db.session.rollback()
        raise Conflict(f"item {item!r} is not the current question of this adaptive section")
    answer = db.session.execute(
        db.select(CurrentAnswer)
        .where(CurrentAnswer.attempt_id == attempt.id, CurrentAnswer.item_code == item)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    bank_item = db.session.execute(db.select(Item).where(Item.code == item)).scalar_one()
    version = db.session.get(ItemVersion, attempt.form["versions"][item])
    score = adaptive.category_score(
        bank_item,
        version,
        answer.response if answer else None,
        pretest=item in attempt.form["sections"][position]["pretest"],
    )
    won, following = _select_next(
        attempt.id,
        position,
        (state, section.adaptive_step),
        (item, score),
        rng or np.random.default_rng(secrets.randbits(64)),
    )
    if not won:
        db.session.rollback()
        return False
    _touch(attempt.id, now)
    if following is None:
        return _finish(attempt.id, position, by="candidate", now=now)
    db.session.commit()
    return True


def _select_next(
    attempt_id: int,
    position: int,
    seen: tuple[dict[str, Any] | None, int],
    committed: tuple[str, int] | None,
    rng: np.random.Generator,
) -> tuple[bool, str | None]:
    """Record ``committed`` (item, category score) in the session state ``seen`` (state, step), select the
    next item and store the session by one conditional update on the step counter: if another call moved
    the step since ``seen`` was read, nothing is written. Returns whether it won and the next item (None:
    the section is over)."""
    state, step = seen
    attempt = db.session.get(Attempt, attempt_id)
    planned = attempt.form["sections"][position]
    config = attempt.registration.session.definition.sections[position].config
    session = adaptive.restore(planned, attempt.pinned_parameters, config, state)
    shown = session.pending
    if committed is not None:
        session.record(*committed)
    following = session.next_item(rng)
    won = db.session.execute(
        update(AttemptSection)
        .where(
            AttemptSection.attempt_id == attempt_id,
            AttemptSection.position == position,
            AttemptSection.adaptive_step == step,
        )
        .values(adaptive_state=session.to_dict(), adaptive_step=step + 1)
    ).rowcount
    if won and following is not None and following != shown:
        _count_exposure(attempt_id, attempt.form, [following], db_now())
    return bool(won), following


def _close_adaptive(attempt: Attempt, position: int) -> None:
    """Write the administered items into the form, so that scoring (and any rescore) reads exactly them.

    The question on screen when the section closed counts only if its answer was saved: an acknowledged
    answer is never lost, and a question that appeared as time ran out is not held against the candidate.
    """
    state = (
        db.session.execute(
            db.select(AttemptSection.adaptive_state).where(
                AttemptSection.attempt_id == attempt.id, AttemptSection.position == position
            )
        ).scalar_one()
        or {}
    )
    administered = list(state.get("items", []))
    pending = state.get("pending")
    if pending:
        answered = db.session.execute(
            db.select(CurrentAnswer.response).where(
                CurrentAnswer.attempt_id == attempt.id, CurrentAnswer.item_code == pending
            )
        ).scalar_one_or_none()
        if answered is not None:
            administered.append(pending)
    form = copy.deepcopy(attempt.form)
    form["sections"][position]["items"] = administered
    attempt.form = form
    db.session.flush()


def finalize_overdue(*, now: datetime) -> int:
    """Close every open section whose time (and grace) ran out, e.g. with the candidate's browser gone."""
    closed = 0
    open_sections = (
        db.session.execute(
            db.select(AttemptSection).where(
                AttemptSection.state == SectionState.OPEN, AttemptSection.paused_since.is_(None)
            )
        )
        .scalars()
        .all()
    )
    overdue = [(s.attempt_id, s.position) for s in open_sections if now > s.deadline() + grace()]
    db.session.rollback()
    for attempt_id, position in overdue:
        closed += _finish(attempt_id, position, by="server", now=now)
    return closed


# The proctor ----------------------------------------------------------------------------------------------


def pause(attempt: Attempt, *, actor: User, reason: str | None, now: datetime) -> None:
    section = _locked_section(attempt.id, attempt.current_section)
    won = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.state == AttemptState.IN_PROGRESS)
        .values(state=AttemptState.PAUSED)
    ).rowcount
    if not won:
        db.session.rollback()
        raise Conflict(f"only a sitting in progress can be paused (it is {attempt.state.value})")
    section.paused_since = now
    db.session.add(
        TimeAdjustment(
            attempt_id=attempt.id,
            section_position=section.position,
            kind="pause",
            reason=reason,
            at=now,
            by_id=actor.id,
        )
    )
    audit.record("delivery.paused", actor=actor, target=attempt, section=section.position, reason=reason)
    db.session.commit()


def resume(attempt: Attempt, *, actor: User, reason: str | None, now: datetime) -> None:
    section = _locked_section(attempt.id, attempt.current_section)
    won = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.state == AttemptState.PAUSED)
        .values(state=AttemptState.IN_PROGRESS)
    ).rowcount
    if not won or section.paused_since is None:
        db.session.rollback()
        raise Conflict("the sitting is not paused")
    paused = (now - section.paused_since).total_seconds()
    section.paused_seconds += paused
    section.paused_since = None
    db.session.add(
        TimeAdjustment(
            attempt_id=attempt.id,
            section_position=section.position,
            kind="resume",
            seconds=paused,
            reason=reason,
            at=now,
            by_id=actor.id,
        )
    )
    audit.record(
        "delivery.resumed", actor=actor, target=attempt, section=section.position, paused_seconds=paused
    )
    db.session.commit()


def extend(attempt: Attempt, seconds: int, *, actor: User, reason: str, now: datetime) -> None:
    """Give the open section more time; the reason is required and audited."""
    if seconds <= 0 or seconds > 4 * 3600:
        raise DeliveryError(f"an extension must be 1 to 14400 seconds, got {seconds}")
    if not reason or not reason.strip():
        raise DeliveryError("an extension needs a reason")
    section = _locked_section(attempt.id, attempt.current_section)
    if section.state is not SectionState.OPEN:
        db.session.rollback()
        raise Conflict("there is no open section to extend")
    section.extension_seconds += seconds
    db.session.add(
        TimeAdjustment(
            attempt_id=attempt.id,
            section_position=section.position,
            kind="extend",
            seconds=seconds,
            reason=reason,
            at=now,
            by_id=actor.id,
        )
    )
    audit.record(
        "delivery.extended",
        actor=actor,
        target=attempt,
        section=section.position,
        seconds=seconds,
        reason=reason,
    )
    db.session.commit()


def terminate(attempt: Attempt, *, actor: User, reason: str, now: datetime) -> None:
    if not reason or not reason.strip():
        raise DeliveryError("terminating a sitting needs a reason")
    won = db.session.execute(
        update(Attempt)
        .where(
            Attempt.id == attempt.id, Attempt.state.not_in([AttemptState.SUBMITTED, AttemptState.TERMINATED])
        )
        .values(state=AttemptState.TERMINATED, finished_at=now, termination_reason=reason)
    ).rowcount
    if not won:
        db.session.rollback()
        raise Conflict("the sitting has already ended")
    for section in attempt.sections:
        if (
            section.state is SectionState.OPEN
            and attempt.form["sections"][section.position].get("mode") == "cat"
        ):
            _close_adaptive(attempt, section.position)  # what was administered stays on record
    db.session.execute(
        update(AttemptSection)
        .where(AttemptSection.attempt_id == attempt.id, AttemptSection.state == SectionState.OPEN)
        .values(state=SectionState.SUBMITTED, submitted_at=now, submitted_by="proctor", paused_since=None)
    )
    audit.record("delivery.terminated", actor=actor, target=attempt, reason=reason)
    db.session.commit()


def record_irregularity(
    session: ExamSession,
    *,
    attempt: Attempt | None,
    category: str,
    note: str | None,
    source: str,
    actor: User | None,
    now: datetime,
) -> Irregularity:
    if source == "proctor" and category not in IRREGULARITY_CATEGORIES:
        raise DeliveryError(f"category must be one of {list(IRREGULARITY_CATEGORIES)}, got {category!r}")
    if source == "browser" and category not in BROWSER_SIGNALS:
        raise DeliveryError(f"signal must be one of {list(BROWSER_SIGNALS)}, got {category!r}")
    row = Irregularity(
        session_id=session.id,
        attempt_id=getattr(attempt, "id", None),
        category=category,
        source=source,
        note=note,
        at=now,
        by_id=getattr(actor, "id", None),
    )
    db.session.add(row)
    if source == "proctor":
        db.session.flush()
        audit.record("delivery.irregularity", actor=actor, target=row, category=category)
    db.session.commit()
    return row
