"""Use cases of exam scheduling beyond delivery's own: tests built from the bank, registering candidates (one
at a time, or a CSV file all or nothing) and accommodations. Each public function owns its commit.

Problems are collected, not raised one by one, so that an administrator fixes a file in one round; they are
translated here because they are shown as they are, and they carry their values (row, column, what was found).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError

from assessment.audit import services as audit
from assessment.auth.models import Role, User
from assessment.auth.services import MIN_PASSWORD_LENGTH, find_user, hash_password
from assessment.bank.models import Item, ItemStatus
from assessment.config import LANGUAGES
from assessment.delivery import services as delivery
from assessment.delivery.models import (
    Attempt,
    AttemptSection,
    AttemptState,
    ExamDefinition,
    ExamSession,
    Registration,
)
from assessment.extensions import db
from assessment.i18n import translate as _
from assessment.spreadsheets import safe_cell

MIN_EXTRA_TIME, MAX_EXTRA_TIME = 1.0, 3.0
NOTE_MAX = 2000
# Columns of the candidates CSV, in the order of the template; only ``username`` is required.
COLUMNS = (
    "username",
    "full_name",
    "email",
    "language",
    "extra_time_factor",
    "large_text",
    "breaks_allowed",
    "note",
)
MAX_FILE_BYTES = 2_000_000
MAX_ROWS = 5000
TRUE_WORDS = {"1", "true", "yes", "y", "x", "да", "д", "иә", "и"}
FALSE_WORDS = {"", "0", "false", "no", "n", "нет", "н", "жоқ", "ж"}
# Read aloud or typed from a printed slip: no 0/O, 1/l/I look-alikes.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105
# Not started: extra time and language can still change (the section timers are not running yet).
NOT_STARTED = (AttemptState.SCHEDULED, AttemptState.ADMITTED)


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``row`` is the CSV row (the header is row 1) or the section number of a test."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [
            f"row {self.row}" if self.row is not None else "",
            f"column {self.column!r}" if self.column else "",
        ]
        prefix = ", ".join(part for part in where if part)
        return f"{prefix}: {self.message}" if prefix else self.message


class SchedulingError(Exception):
    """A refused use case; nothing was written. ``problems`` lists everything that was wrong."""

    def __init__(self, problems: Sequence[Problem | str]) -> None:
        self.problems = [p if isinstance(p, Problem) else Problem(None, None, p) for p in problems]
        super().__init__("; ".join(str(p) for p in self.problems))


# Tests -----------------------------------------------------------------------------------------------------


def create_definition(
    name: str, sections: Sequence[dict[str, Any]], *, actor: User | None, scoring_method: str = "eap"
) -> ExamDefinition:
    """A test of fixed sections whose items come from the bank: operational items of the section's family,
    plus optional pretest items (shown, not scored). Problems name the section (``row``) and the field."""
    problems: list[Problem] = []
    if not name.strip():
        problems.append(Problem(None, "name", _("The test needs a name.")))
    if not sections:
        problems.append(Problem(None, None, _("A test needs at least one section.")))
    codes = {
        code
        for spec in sections
        for key in ("items", "pretest")
        for code in spec.get("config", {}).get(key, [])
    }
    items = {i.code: i for i in db.session.execute(db.select(Item).where(Item.code.in_(codes))).scalars()}
    seen: dict[str, int] = {}
    for number, spec in enumerate(sections, start=1):
        for key, wanted in (("items", ItemStatus.OPERATIONAL), ("pretest", ItemStatus.PRETEST)):
            for code in spec.get("config", {}).get(key, []):
                problem = _item_problem(items.get(code), code, spec["family"], wanted)
                if problem is None and code in seen:
                    problem = _("%(code)s is already in section %(section)d.", code=code, section=seen[code])
                if problem:
                    problems.append(Problem(number, key, problem))
                seen.setdefault(code, number)
        if spec.get("mode", "fixed") == "fixed" and not spec.get("config", {}).get("items"):
            problems.append(Problem(number, "items", _("A fixed section needs at least one item.")))
    if problems:
        raise SchedulingError(problems)
    try:
        return delivery.create_definition(name.strip(), sections, actor=actor, scoring_method=scoring_method)
    except delivery.DeliveryError as exc:
        raise SchedulingError([exc.message]) from None


def _item_problem(item: Item | None, code: str, family: str, wanted: ItemStatus) -> str | None:
    if item is None:
        return _("There is no item %(code)s in the bank.", code=code)
    if item.family.value != family:
        return _(
            "%(code)s is a %(found)s item, the section is %(family)s.",
            code=code,
            found=item.family.value,
            family=family,
        )
    if item.status is not wanted:
        return _(
            "%(code)s is %(status)s; only %(wanted)s items can be used here.",
            code=code,
            status=item.status.value,
            wanted=wanted.value,
        )
    return None


# Registering candidates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAccount:
    """A candidate account to create together with the registration."""

    username: str
    full_name: str
    email: str | None
    password: str


@dataclass(frozen=True)
class Accommodations:
    language: str = "ru"
    extra_time_factor: float = 1.0
    large_text: bool = False
    breaks_allowed: bool = False
    note: str | None = None


def new_password() -> str:
    """A one-time password of 12 unambiguous characters (about 70 bits), in groups of four."""
    chars = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(12))
    return "-".join(chars[i : i + 4] for i in range(0, 12, 4))


def _accommodation_problems(accommodations: Accommodations) -> list[Problem]:
    problems = []
    if accommodations.language not in LANGUAGES:
        problems.append(Problem(None, "language", _language_message(accommodations.language)))
    factor = accommodations.extra_time_factor
    if not (math.isfinite(factor) and MIN_EXTRA_TIME <= factor <= MAX_EXTRA_TIME):
        problems.append(Problem(None, "extra_time_factor", _extra_time_message(str(factor))))
    if accommodations.note and len(accommodations.note) > NOTE_MAX:
        problems.append(Problem(None, "note", _("The note is longer than %(n)d characters.", n=NOTE_MAX)))
    return problems


def _language_message(value: str) -> str:
    return _("must be one of %(options)s, got %(value)r", options=", ".join(sorted(LANGUAGES)), value=value)


def _extra_time_message(value: str) -> str:
    return _("must be a number from 1.0 to 3.0, got %(value)r", value=value)


def register_candidate(
    session: ExamSession,
    *,
    candidate: User | None,
    new_account: NewAccount | None,
    accommodations: Accommodations,
    actor: User | None,
) -> Registration:
    """Register an existing candidate account, or create one and register it, in one transaction."""
    problems = _accommodation_problems(accommodations)
    if (candidate is None) == (new_account is None):
        problems.append(Problem(None, "candidate", _("Choose an account or describe a new one, not both.")))
    elif candidate is not None:
        problems.extend(Problem(None, "candidate", p) for p in _existing_account_problems(candidate, session))
    elif new_account is not None:
        problems.extend(_new_account_problems(new_account))
    if problems:
        raise SchedulingError(problems)
    if candidate is None:
        assert new_account is not None
        candidate = _add_account(new_account, accommodations.language, actor=actor, source="form")
    registration = _add_registration(session, candidate, accommodations, code=_fresh_codes(1)[0], actor=actor)
    _commit_or_refuse()
    return registration


def _existing_account_problems(user: User, session: ExamSession) -> list[str]:
    if user.role is not Role.CANDIDATE:
        return [
            _(
                "the account %(username)s has the role %(role)s; only candidate accounts can be registered",
                username=user.username,
                role=user.role.value,
            )
        ]
    if not user.active:
        return [_("the account %(username)s is disabled", username=user.username)]
    existing = db.session.execute(
        db.select(Registration.candidate_code).where(
            Registration.session_id == session.id, Registration.candidate_id == user.id
        )
    ).scalar()
    if existing:
        return [
            _(
                "%(username)s is already registered in this session (candidate code %(code)s)",
                username=user.username,
                code=existing,
            )
        ]
    return []


def _new_account_problems(account: NewAccount) -> list[Problem]:
    problems = [Problem(None, column, message) for column, message in _username_problems(account.username)]
    if not problems and find_user(account.username) is not None:
        problems.append(
            Problem(None, "username", _("the user name %(username)s is taken", username=account.username))
        )
    if not account.full_name.strip():
        problems.append(Problem(None, "full_name", _("is required for a new account")))
    if len(account.password) < MIN_PASSWORD_LENGTH:
        problems.append(
            Problem(None, "password", _("must be at least %(n)d characters long", n=MIN_PASSWORD_LENGTH))
        )
    if account.email:
        problems.extend(Problem(None, "email", m) for m in _email_problems(account.email))
    return problems


def _username_problems(username: str) -> list[tuple[str, str]]:
    if not username:
        return [("username", _("is empty"))]
    if len(username) > 80:
        return [("username", _("is longer than 80 characters"))]
    if re.search(r"\s", username):
        return [("username", _("must not contain spaces, got %(value)r", value=username))]
    return []


def _email_problems(email: str) -> list[str]:
    if len(email) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        return [_("is not an e-mail address: %(value)r", value=email)]
    return []


def _add_account(account: NewAccount, language: str, *, actor: User | None, source: str) -> User:
    """A candidate account in the current transaction (the caller commits)."""
    user = User(
        username=account.username,
        full_name=account.full_name.strip() or account.username,
        email=account.email or None,
        role=Role.CANDIDATE,
        language=language,
        password_hash=hash_password(account.password),
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", actor=actor, target=user, role=user.role.value, source=source)
    return user


def _fresh_codes(n: int) -> list[str]:
    """``n`` candidate codes unused so far (random, so that a code says nothing about order or name)."""
    codes: set[str] = set()
    while len(codes) < n:
        batch = {f"C-{secrets.token_hex(4).upper()}" for _ in range(n - len(codes))}
        taken = set(
            db.session.execute(
                db.select(Registration.candidate_code).where(Registration.candidate_code.in_(batch))
            ).scalars()
        )
        codes |= batch - taken
    return list(codes)


def _add_registration(
    session: ExamSession,
    candidate: User,
    accommodations: Accommodations,
    *,
    code: str,
    actor: User | None,
) -> Registration:
    """Registration, attempt and section timers, as :func:`delivery.register` makes them, uncommitted."""
    registration = Registration(
        session=session,
        candidate=candidate,
        candidate_code=code,
        language=accommodations.language,
        extra_time_factor=accommodations.extra_time_factor,
        large_text=accommodations.large_text,
        breaks_allowed=accommodations.breaks_allowed,
        accommodation_note=accommodations.note or None,
    )
    db.session.add(registration)
    attempt = Attempt(registration=registration)
    db.session.add(attempt)
    for section in session.definition.sections:
        attempt.sections.append(
            AttemptSection(
                position=section.position,
                allowed_seconds=allowed_seconds(section.time_limit_seconds, accommodations.extra_time_factor),
            )
        )
    db.session.flush()
    audit.record(
        "delivery.candidate_registered",
        actor=actor,
        target=registration,
        session=session.id,
        extra_time_factor=accommodations.extra_time_factor,
    )
    return registration


def allowed_seconds(time_limit_seconds: int, extra_time_factor: float) -> int:
    """A section's timer for a candidate: its limit times the candidate's extra-time factor."""
    return round(time_limit_seconds * extra_time_factor)


def _commit_or_refuse() -> None:
    try:
        db.session.commit()
    except IntegrityError:
        # another administrator registered the same candidate (or took the user name) meanwhile
        db.session.rollback()
        raise SchedulingError(
            [_("Someone else changed these registrations at the same time; nothing was saved. Try again.")]
        ) from None


# CSV import ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedRow:
    row: int
    username: str
    full_name: str
    candidate_code: str
    new_account: bool
    password: str | None  # only for new accounts, only in this report: never stored in plain text


@dataclass
class ImportReport:
    session_id: int
    rows: list[ImportedRow] = field(default_factory=list)

    @property
    def new_accounts(self) -> list[ImportedRow]:
        return [r for r in self.rows if r.new_account]


@dataclass
class _Planned:
    row: int
    username: str
    full_name: str
    email: str | None
    accommodations: Accommodations
    existing: User | None = None


def _decode(data: bytes) -> tuple[str | None, list[Problem]]:
    if len(data) > MAX_FILE_BYTES:
        return None, [Problem(None, None, _("The file is larger than %(n)d bytes.", n=MAX_FILE_BYTES))]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = _("The file is not UTF-8 text; save it as \u201cCSV UTF-8\u201d.")
        return None, [Problem(line, None, message)]
    if not text.strip():
        return None, [Problem(1, None, _("The file is empty; its first row must be the header."))]
    return text, []


def read_candidates_csv(data: bytes) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    """Rows of a candidates CSV as (row number, {column: text}); the header is row 1.

    UTF-8 with or without a byte-order mark; the separator is ``,`` or ``;`` (what Excel writes in ru and kk
    locales), whichever the header uses more. Blank rows are skipped.
    """
    text, problems = _decode(data)
    if text is None:
        return [], problems
    first_line = text.splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[list[str]] = []
    try:
        records.extend(reader)
    except csv.Error as exc:
        return [], [Problem(len(records) + 1, None, _("The CSV cannot be read: %(error)s", error=str(exc)))]
    header = [cell.strip().lower() for cell in records[0]]
    for position, cell in enumerate(header):
        if cell and cell not in COLUMNS:
            problems.append(
                Problem(1, cell, _("unknown column; the columns are %(columns)s", columns=", ".join(COLUMNS)))
            )
        elif cell and cell in header[:position]:
            problems.append(Problem(1, cell, _("the column appears twice")))
    if "username" not in header:
        problems.append(
            Problem(
                1,
                "username",
                _(
                    "the header has no username column; the first row must name the columns: %(columns)s",
                    columns=", ".join(COLUMNS),
                ),
            )
        )
    if problems:
        return [], problems
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        # a value beyond the header, or under a column without a name, would otherwise be dropped unseen
        stray = [i for i, cell in enumerate(record) if cell.strip() and (i >= len(header) or not header[i])]
        if stray:
            problems.append(
                Problem(
                    number, None, _("cell %(n)d has a value but no column name in the header", n=stray[0] + 1)
                )
            )
            continue
        rows.append(
            (number, {name: (record[i] if i < len(record) else "") for i, name in enumerate(header) if name})
        )
    if len(rows) > MAX_ROWS:
        problems.append(Problem(None, None, _("The file has more than %(n)d candidates.", n=MAX_ROWS)))
    if not rows and not problems:
        problems.append(Problem(2, None, _("The file has a header but no candidates.")))
    return rows, problems


def _flag(value: str) -> bool | None:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def _plan_row(number: int, cells: dict[str, str]) -> tuple[_Planned | None, list[Problem]]:
    """Check one row on its own; the plan comes back unless the user name is unusable, so that the account
    checks (made afterwards, for all rows at once) report on it too."""
    problems = []
    username = cells.get("username", "").strip()
    problems.extend(Problem(number, c, m) for c, m in _username_problems(username))
    full_name = " ".join(cells.get("full_name", "").split())
    if len(full_name) > 200:
        problems.append(Problem(number, "full_name", _("is longer than 200 characters")))
    email = cells.get("email", "").strip() or None
    if email:
        problems.extend(Problem(number, "email", m) for m in _email_problems(email))
    language = cells.get("language", "").strip().lower()
    if language and language not in LANGUAGES:
        problems.append(Problem(number, "language", _language_message(cells["language"].strip())))
    raw_factor = cells.get("extra_time_factor", "").strip()
    try:
        factor = float(raw_factor.replace(",", ".")) if raw_factor else 1.0
    except ValueError:
        factor = math.nan
    if not (math.isfinite(factor) and MIN_EXTRA_TIME <= factor <= MAX_EXTRA_TIME):
        problems.append(Problem(number, "extra_time_factor", _extra_time_message(raw_factor)))
    flags = {}
    for column in ("large_text", "breaks_allowed"):
        flags[column] = _flag(cells.get(column, ""))
        if flags[column] is None:
            problems.append(
                Problem(
                    number, column, _("must be yes or no (1 or 0), got %(value)r", value=cells.get(column))
                )
            )
    note = cells.get("note", "").strip() or None
    if note and len(note) > NOTE_MAX:
        problems.append(Problem(number, "note", _("The note is longer than %(n)d characters.", n=NOTE_MAX)))
    if any(p.column == "username" for p in problems):
        return None, problems
    planned = _Planned(
        row=number,
        username=username,
        full_name=full_name,
        email=email,
        accommodations=Accommodations(
            language=language,  # empty: settled once we know whether the account exists
            extra_time_factor=factor,
            large_text=bool(flags["large_text"]),
            breaks_allowed=bool(flags["breaks_allowed"]),
            note=note,
        ),
    )
    return planned, problems


def check_candidates(session: ExamSession, data: bytes) -> tuple[list[_Planned], list[Problem]]:
    """Every problem of the file against this session, without writing anything."""
    rows, problems = read_candidates_csv(data)
    planned: list[_Planned] = []
    first_row: dict[str, int] = {}
    for number, cells in rows:
        plan, row_problems = _plan_row(number, cells)
        problems.extend(row_problems)
        key = cells.get("username", "").strip().lower()
        if key and key in first_row:
            problems.append(Problem(number, "username", _("repeats row %(row)d", row=first_row[key])))
            continue
        if key:
            first_row[key] = number
        if plan is not None:
            planned.append(plan)
    accounts = {
        u.username.lower(): u
        for u in db.session.execute(
            db.select(User).where(func.lower(User.username).in_([p.username.lower() for p in planned]))
        ).scalars()
    }
    registered = dict(
        db.session.execute(
            db.select(Registration.candidate_id, Registration.candidate_code).where(
                Registration.session_id == session.id
            )
        ).all()
    )
    for plan in planned:
        user = accounts.get(plan.username.lower())
        if user is None:
            if not plan.full_name:
                problems.append(Problem(plan.row, "full_name", _("is required for a new account")))
            if not plan.accommodations.language:
                plan.accommodations = replace(plan.accommodations, language="ru")
            continue
        plan.existing = user
        if not plan.accommodations.language:
            plan.accommodations = replace(plan.accommodations, language=user.language)
        if user.role is not Role.CANDIDATE:
            problems.append(
                Problem(
                    plan.row,
                    "username",
                    _(
                        "an account %(username)s exists with the role %(role)s; only candidates can be "
                        "registered",
                        username=user.username,
                        role=user.role.value,
                    ),
                )
            )
        elif not user.active:
            problems.append(
                Problem(
                    plan.row, "username", _("the account %(username)s is disabled", username=user.username)
                )
            )
        elif user.id in registered:
            problems.append(
                Problem(
                    plan.row,
                    "username",
                    _(
                        "%(username)s is already registered in this session (candidate code %(code)s)",
                        username=user.username,
                        code=registered[user.id],
                    ),
                )
            )
    problems.sort(key=lambda p: (p.row or 0, COLUMNS.index(p.column) if p.column in COLUMNS else -1))
    return planned, problems


def import_candidates(
    session: ExamSession,
    data: bytes,
    *,
    actor: User | None,
    password_factory: Callable[[], str] = new_password,
) -> ImportReport:
    """Register every candidate of a CSV file in ``session``, creating accounts that do not exist yet.

    All or nothing: every row is checked first and :class:`SchedulingError` lists every problem by row and
    column; nothing is written unless the whole file is right. New accounts get a one-time password that is
    only in the returned report (the database keeps its argon2 hash).
    """
    planned, problems = check_candidates(session, data)
    if problems:
        db.session.rollback()
        raise SchedulingError(problems)
    report = ImportReport(session_id=session.id)
    codes = _fresh_codes(len(planned))
    for plan, code in zip(planned, codes, strict=True):
        password = None
        candidate = plan.existing
        if candidate is None:
            password = password_factory()
            account = NewAccount(plan.username, plan.full_name, plan.email, password)
            candidate = _add_account(account, plan.accommodations.language, actor=actor, source="csv import")
        _add_registration(session, candidate, plan.accommodations, code=code, actor=actor)
        report.rows.append(
            ImportedRow(
                plan.row, candidate.username, candidate.full_name, code, password is not None, password
            )
        )
    audit.record(
        "scheduling.candidates_imported",
        actor=actor,
        target=session,
        registrations=len(report.rows),
        new_accounts=len(report.new_accounts),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    _commit_or_refuse()
    return report


def credentials_csv(report: ImportReport, session: ExamSession) -> str:
    """The new accounts' one-time passwords as CSV (with a BOM, so that Excel reads Cyrillic names)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["username", "full_name", "password", "candidate_code", "session"])
    for row in report.new_accounts:
        writer.writerow(
            [
                safe_cell(row.username),
                safe_cell(row.full_name),
                row.password,
                row.candidate_code,
                session.name,
            ]
        )
    return "\ufeff" + out.getvalue()


# Accommodations --------------------------------------------------------------------------------------------


def update_accommodations(
    registration: Registration, accommodations: Accommodations, *, actor: User | None
) -> Registration:
    """Change a registration's accommodations; a new extra-time factor resets the section timers.

    Extra time and language are refused once the sitting has started (its first section's clock runs on the
    timer set here; the proctor extends an open section instead). Large text, breaks and the note can change
    at any time. The attempt row is locked by a conditional update, so that a candidate pressing Start and an
    administrator changing the factor are strictly ordered.
    """
    problems = _accommodation_problems(accommodations)
    if problems:
        raise SchedulingError(problems)
    before = {
        "language": registration.language,
        "extra_time_factor": registration.extra_time_factor,
        "large_text": registration.large_text,
        "breaks_allowed": registration.breaks_allowed,
        "note": registration.accommodation_note,
    }
    after = {
        "language": accommodations.language,
        "extra_time_factor": accommodations.extra_time_factor,
        "large_text": accommodations.large_text,
        "breaks_allowed": accommodations.breaks_allowed,
        "note": accommodations.note or None,
    }
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if not changes:
        return registration
    attempt = registration.attempt
    if {"language", "extra_time_factor"} & changes.keys() and attempt is not None:
        not_started = db.session.execute(
            update(Attempt)
            .where(Attempt.id == attempt.id, Attempt.state.in_(NOT_STARTED), Attempt.started_at.is_(None))
            .values(state=Attempt.state)
        ).rowcount
        if not not_started:
            db.session.rollback()
            column = "extra_time_factor" if "extra_time_factor" in changes else "language"
            message = (
                _(
                    "The sitting has started: its section timers are running, so the extra time can no "
                    "longer change. The proctor can add time to the open section instead."
                )
                if column == "extra_time_factor"
                else _("The sitting has started: the language can no longer change.")
            )
            raise SchedulingError([Problem(None, column, message)])
        if "extra_time_factor" in changes:
            limits = {s.position: s.time_limit_seconds for s in registration.session.definition.sections}
            for timing in attempt.sections:
                timing.allowed_seconds = allowed_seconds(
                    limits[timing.position], accommodations.extra_time_factor
                )
    registration.language = accommodations.language
    registration.extra_time_factor = accommodations.extra_time_factor
    registration.large_text = accommodations.large_text
    registration.breaks_allowed = accommodations.breaks_allowed
    registration.accommodation_note = accommodations.note or None
    audit.record("scheduling.accommodations_changed", actor=actor, target=registration, changes=changes)
    db.session.commit()
    return registration
