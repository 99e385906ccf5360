"""Use cases of calibration: response data in, a reviewed calibration out, decisions per item."""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assessment.audit import services as audit
from assessment.auth.models import User, utcnow
from assessment.bank import repository
from assessment.bank import services as bank_services
from assessment.bank.models import Item, ItemFamily, ItemStatus, ParameterSet, ParameterStatus
from assessment.calibration.models import CalibrationRun, ResponseDataset, RunStatus
from assessment.extensions import db
from item_bank.formats.responses_csv import FormatError, read_responses
from item_bank.items import max_category
from item_bank.review import LINKING_METHODS, calibrate_for_review

KNOWLEDGE_MODELS = ("rasch", "1pl", "2pl", "3pl")
SJT_MODELS = ("grm", "gpcm", "pcm")
GROUP_COLUMNS = ("group", "language")
DECISIONS = ("approve", "keep_pretesting", "retire")
PROGRESS_EVERY = 0.5  # seconds between progress writes (and cancellation checks) during a run


class CalibrationError(ValueError):
    """A calibration use case was refused; ``problems`` says why, naming file, row, column or item."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class CancelledError(Exception):
    """Raised from the progress callback when a psychometrician cancelled the run."""


@dataclass(frozen=True)
class Matrix:
    item_codes: list[str]
    responses: np.ndarray
    person_ids: np.ndarray
    groups: np.ndarray | None


def pack(matrix: Matrix) -> bytes:
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {"responses": matrix.responses.astype(np.int8), "person_ids": matrix.person_ids}
    if matrix.groups is not None:
        arrays["groups"] = matrix.groups
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def unpack(dataset: ResponseDataset) -> Matrix:
    with np.load(io.BytesIO(dataset.data), allow_pickle=False) as data:
        groups = data["groups"] if "groups" in data.files else None
        return Matrix(
            list(dataset.item_codes), data["responses"].astype(np.int64), data["person_ids"], groups
        )


def _split_group_column(raw: bytes, filename: str) -> tuple[bytes, list[str] | None, str | None]:
    """Take an optional ``group`` / ``language`` column out of a responses CSV (for DIF between groups)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CalibrationError(
            [f"{filename}: not a UTF-8 text file ({exc.reason} at byte {exc.start})"]
        ) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise CalibrationError([f"{filename}: the file is empty"])
    header = [cell.strip().lower() for cell in rows[0]]
    found = [i for i, name in enumerate(header) if name in GROUP_COLUMNS]
    if not found:
        return raw, None, None
    col = found[0]
    groups = [row[col].strip() if col < len(row) else "" for row in rows[1:] if any(c.strip() for c in row)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(row[:col] + row[col + 1 :])
    return out.getvalue().encode(), groups, header[col]


LONG_COLUMNS = ("person_id", "item_id", "response")


def _long_to_wide(raw: bytes, filename: str) -> bytes:
    """A long file (``person_id, item_id, response[, group]``: one row per answer) as the wide layout."""
    text = raw.decode("utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    header = [c.strip().lower() for c in rows[0]]
    has_group = len(header) > 3 and header[3] in GROUP_COLUMNS
    persons: dict[str, dict[str, str]] = {}
    groups: dict[str, str] = {}
    items: dict[str, None] = {}
    problems = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < 3:
            problems.append(f"{filename}: row {line}: expected person_id, item_id, response")
            continue
        person, item, value = (c.strip() for c in row[:3])
        if item in persons.setdefault(person, {}):
            problems.append(f"{filename}: row {line}: person {person!r} answers item {item!r} twice")
        persons[person][item] = value
        items[item] = None
        if has_group and len(row) > 3:
            groups[person] = row[3].strip()
    if problems:
        raise CalibrationError(problems)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["person_id", *items] + ([header[3]] if has_group else []))
    for person, answers in persons.items():
        writer.writerow(
            [person, *(answers.get(i, "") for i in items)] + ([groups.get(person, "")] if has_group else [])
        )
    return out.getvalue().encode()


def import_responses(raw: bytes, filename: str, *, name: str, actor: User | None) -> ResponseDataset:
    """Store an uploaded responses CSV (wide, or long: one row per answer), checked against the bank first."""
    head = raw[:200].decode("utf-8-sig", errors="replace").splitlines()[0:1]
    if head and tuple(c.strip().lower() for c in head[0].split(",")[:3]) == LONG_COLUMNS:
        raw = _long_to_wide(raw, filename)
    body, groups, group_label = _split_group_column(raw, filename)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(filename).name
        path.write_bytes(body)
        try:
            table = read_responses(path)
        except FormatError as exc:
            raise CalibrationError([f"{filename}: {exc.detail}" + _where(exc)]) from None
    items = {i.code: i for i in _items(table.item_ids)}
    problems = [
        f"{filename}: column {code!r}: no item with this code in the bank"
        for code in table.item_ids
        if code not in items
    ]
    for j, code in enumerate(table.item_ids):
        item = items.get(code)
        if item is None:
            continue
        top = max_category(repository.spec_of(item))
        column = table.responses[:, j]
        if (bad := np.flatnonzero(column > top)).size:
            row = int(table.rows[bad[0]])
            problems.append(
                f"{filename}: row {row}, column {code!r}: category {int(column[bad[0]])} is above the item's "
                f"highest score {top}"
            )
    if problems:
        raise CalibrationError(problems)
    matrix = Matrix(
        list(table.item_ids),
        table.responses,
        np.asarray(table.person_ids, dtype=str),
        None if groups is None else np.asarray(groups, dtype=str),
    )
    return _store(
        matrix,
        name=name or filename,
        source=f"upload: {filename}",
        group_label=group_label,
        actor=actor,
        action="calibration.data_imported",
        file=filename,
    )


def _store(
    matrix: Matrix,
    *,
    name: str,
    source: str,
    group_label: str | None,
    actor: User | None,
    action: str,
    **details: Any,
) -> ResponseDataset:
    """Keep a response matrix (compressed, with its SHA-256) and audit where it came from."""
    data = pack(matrix)
    dataset = ResponseDataset(
        name=name,
        source=source,
        item_codes=matrix.item_codes,
        n_persons=int(matrix.responses.shape[0]),
        group_label=group_label,
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(dataset)
    db.session.flush()
    audit.record(
        action,
        actor=actor,
        target=dataset,
        persons=dataset.n_persons,
        items=len(matrix.item_codes),
        **details,
    )
    db.session.commit()
    return dataset


def _where(exc: FormatError) -> str:
    parts = []
    if exc.row is not None:
        parts.append(f"row {exc.row}")
    if exc.column is not None:
        parts.append(f"column {exc.column!r}")
    return f" ({', '.join(parts)})" if parts else ""


def _items(codes: list[str] | tuple[str, ...]) -> list[Item]:
    return list(db.session.execute(db.select(Item).where(Item.code.in_(list(codes)))).scalars())


def start_run(
    dataset: ResponseDataset,
    *,
    actor: User,
    knowledge_model: str,
    sjt_model: str,
    linking: str,
    item_codes: list[str] | None = None,
    max_iter: int = 500,
    tol: float = 1e-4,
    lr_dif: bool = True,
) -> CalibrationRun:
    """Queue a calibration of ``dataset`` (all its items unless ``item_codes`` narrows them).

    ``lr_dif``: with a group column, also test every item for likelihood-ratio DIF (a calibration per item).
    """
    problems = []
    if knowledge_model not in KNOWLEDGE_MODELS:
        problems.append(f"knowledge model must be one of {list(KNOWLEDGE_MODELS)}, got {knowledge_model!r}")
    if sjt_model not in SJT_MODELS:
        problems.append(f"SJT model must be one of {list(SJT_MODELS)}, got {sjt_model!r}")
    if linking not in LINKING_METHODS:
        problems.append(f"linking must be one of {list(LINKING_METHODS)}, got {linking!r}")
    codes = item_codes or list(dataset.item_codes)
    unknown = sorted(set(codes) - set(dataset.item_codes))
    if unknown:
        problems.append(f"items {unknown} are not in dataset {dataset.name!r}")
    if len(codes) < 3:
        problems.append("a calibration needs at least 3 items")
    with_bank_values = [i.code for i in _items(codes) if i.approved_parameters is not None]
    if linking != "none" and not with_bank_values:
        problems.append(
            f"linking by {linking!r} needs items with approved bank values among the calibrated items, and "
            f"none of these {len(codes)} has any; choose 'none' for a first calibration"
        )
    if problems:
        raise CalibrationError(problems)
    run = CalibrationRun(
        dataset=dataset,
        settings={
            "knowledge_model": knowledge_model,
            "sjt_model": sjt_model,
            "linking": linking,
            "items": codes,
            "n_quad": 61,
            "max_iter": max_iter,
            "tol": tol,
            "lr_dif": bool(lr_dif),
        },
        created_by_id=actor.id,
    )
    db.session.add(run)
    db.session.flush()
    audit.record(
        "calibration.run_started", actor=actor, target=run, dataset=dataset.id, settings=run.settings
    )
    db.session.commit()
    return run


def request_cancel(run: CalibrationRun, *, actor: User) -> None:
    if run.status.finished:
        raise CalibrationError([f"run {run.id} has already {run.status.value}"])
    run.cancel_requested = True
    audit.record("calibration.run_cancel_requested", actor=actor, target=run)
    db.session.commit()


def _set(run_id: int, **values: Any) -> None:
    db.session.execute(db.update(CalibrationRun).where(CalibrationRun.id == run_id).values(**values))
    db.session.commit()


def execute_run(run_id: int) -> RunStatus:
    """Carry out a queued run (in a worker or a thread). Results are written in one transaction, or none."""
    claimed = db.session.execute(
        db.update(CalibrationRun)
        .where(CalibrationRun.id == run_id, CalibrationRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING, started_at=utcnow())
    ).rowcount
    db.session.commit()
    if not claimed:  # another worker has it, or it was cancelled before it started
        return db.session.get(CalibrationRun, run_id).status
    run = db.session.get(CalibrationRun, run_id)
    settings = dict(run.settings)
    last = [0.0]
    latest: dict[str, Any] = {}

    def report(force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - last[0] < PROGRESS_EVERY:
            return
        last[0] = now
        _set(run_id, progress=dict(latest))
        if db.session.execute(
            db.select(CalibrationRun.cancel_requested).where(CalibrationRun.id == run_id)
        ).scalar_one():
            raise CancelledError

    def progress(iteration: int, log_likelihood: float, max_change: float) -> None:
        # During LR DIF the fits only check for cancellation: the page keeps the main calibration's figures.
        if "phase" not in latest:
            latest.update(
                iteration=iteration, log_likelihood=float(log_likelihood), max_change=float(max_change)
            )
        report()

    def phase(name: str, done: int, total: int) -> None:
        latest.update(phase=name, phase_done=done, phase_total=total)
        report(force=done == 0)

    try:
        matrix = unpack(run.dataset)
        columns = [matrix.item_codes.index(code) for code in settings["items"]]
        responses = matrix.responses[:, columns]
        items = {i.code: i for i in _items(settings["items"])}
        missing = [c for c in settings["items"] if c not in items]
        if missing:
            raise CalibrationError([f"items {missing} are no longer in the bank"])
        models = [
            settings["knowledge_model"] if items[c].family is ItemFamily.KNOWLEDGE else settings["sjt_model"]
            for c in settings["items"]
        ]
        approved = [i.approved_parameters for i in items.values() if i.approved_parameters is not None]
        bank = repository.item_parameters_of(approved) if approved else None
        db.session.rollback()  # hold no transaction open during the long computation
        review = calibrate_for_review(
            responses,
            settings["items"],
            models,
            bank=bank,
            linking=settings["linking"],
            groups=matrix.groups,
            callback=progress,
            n_quad=settings["n_quad"],
            max_iter=settings["max_iter"],
            tol=settings["tol"],
            lr_dif=settings.get("lr_dif", False),  # runs queued before LR DIF existed did without it
            on_phase=phase,
        )
    except CancelledError:
        db.session.rollback()
        _set(run_id, status=RunStatus.CANCELLED, finished_at=utcnow())
        return RunStatus.CANCELLED
    except Exception as exc:
        db.session.rollback()
        message = (
            "; ".join(exc.problems) if isinstance(exc, CalibrationError) else f"{type(exc).__name__}: {exc}"
        )
        _set(run_id, status=RunStatus.FAILED, finished_at=utcnow(), error=message[:4000])
        return RunStatus.FAILED
    result = review.to_dict()
    run = db.session.get(CalibrationRun, run_id)
    items = {i.code: i for i in _items(settings["items"])}
    creator = db.session.get(User, run.created_by_id) if run.created_by_id else None
    for row in result["items"]:
        if row["anchored"]:
            continue
        proposal = bank_services.propose_parameters(
            items[row["item_id"]],
            model=row["model"],
            a=row["a"],
            b=row["b"],
            c=row["c"],
            se=row["se"],
            provenance={
                "source": f"calibration run {run_id}",
                "run": run_id,
                "dataset": run.dataset_id,
                "dataset_sha256": run.dataset.sha256,
                "n": row["n"],
                "linking": result["summary"]["linking"],
            },
            actor=creator,
            commit=False,
        )
        row["parameter_set"] = proposal.id
    run.result = result
    run.status = RunStatus.SUCCEEDED
    run.finished_at = utcnow()
    run.progress = {**latest, "done": True}
    audit.record(
        "calibration.run_finished",
        actor=creator,
        target=run,
        converged=result["summary"]["converged"],
        items=len(result["items"]),
    )
    db.session.commit()
    return RunStatus.SUCCEEDED


def decide(run: CalibrationRun, item_code: str, decision: str, *, actor: User, reason: str | None) -> None:
    """Approve an item's proposed parameters, keep it in pretest, or retire it, with a reason."""
    decide_many(run, [item_code], decision, actor=actor, reason=reason)


def decide_many(
    run: CalibrationRun, item_codes: list[str], decision: str, *, actor: User, reason: str | None
) -> list[str]:
    """One decision with one reason on several items of a run, all-or-nothing; returns the item codes.

    Every item is checked before anything changes: it must have a proposal in this run, and approving or
    keeping it in pretest needs the proposal still open; approving also needs an approver other than the
    proposer (four eyes). Each item gets its own audit events (the bank's, and ``calibration.decision``).
    """
    if decision not in DECISIONS:
        raise CalibrationError([f"decision must be one of {list(DECISIONS)}, got {decision!r}"])
    codes = list(dict.fromkeys(item_codes))
    if not codes:
        raise CalibrationError(["choose at least one item"])
    rows = {r["item_id"]: r for r in (run.result or {}).get("items", [])}
    problems: list[str] = []
    proposals: dict[str, ParameterSet] = {}
    for code in codes:
        row = rows.get(code)
        if row is None or "parameter_set" not in row:
            problems.append(f"item {code!r} has no proposal in run {run.id}")
            continue
        proposal = db.session.get(ParameterSet, row["parameter_set"])
        if proposal is None:
            problems.append(f"item {code!r}: parameter set {row['parameter_set']} no longer exists")
            continue
        proposals[code] = proposal
        if decision in ("approve", "keep_pretesting") and proposal.status is not ParameterStatus.PROPOSED:
            problems.append(
                f"item {code!r}: parameter set {proposal.id} is {proposal.status.value}, not proposed"
            )
        elif decision == "approve" and proposal.proposed_by_id == actor.id:
            problems.append(
                f"item {code!r}: parameter set {proposal.id}: the psychometrician who proposed it cannot "
                "approve it (four eyes)"
            )
    if problems:
        raise CalibrationError(problems)
    try:
        for code in codes:
            proposal = proposals[code]
            item = proposal.item
            if decision == "approve":
                bank_services.approve_parameters(proposal, actor=actor, reason=reason, commit=False)
                if item.status is ItemStatus.PRETEST:
                    bank_services.change_status(
                        item, ItemStatus.OPERATIONAL, actor=actor, reason=reason, commit=False
                    )
            else:
                if proposal.status is ParameterStatus.PROPOSED:
                    bank_services.reject_parameters(
                        proposal, actor=actor, reason=reason or decision, commit=False
                    )
                if decision == "retire" and item.status is not ItemStatus.RETIRED:
                    bank_services.change_status(
                        item, ItemStatus.RETIRED, actor=actor, reason=reason, commit=False
                    )
            audit.record(
                "calibration.decision",
                actor=actor,
                target=item,
                run=run.id,
                parameter_set=proposal.id,
                decision=decision,
                reason=reason,
                batch=len(codes),
            )
        db.session.commit()
    except bank_services.BankError as exc:
        db.session.rollback()
        raise CalibrationError(exc.problems) from None
    except Exception:
        db.session.rollback()
        raise
    return codes


def dataset_from_sessions(session_ids: list[int], *, name: str, actor: User | None) -> ResponseDataset:
    """Responses collected in the chosen exam sessions, as category scores (by the bank's scoring rules).

    Every item of the forms candidates were given becomes a column; an item a candidate was not given is
    missing, one they were given but did not answer scores 0 (as in section scoring). The group of each
    person is the language they sat in, so DIF between language versions can be checked.
    """
    from assessment.bank.models import ItemVersion
    from assessment.delivery.models import Attempt, CurrentAnswer, ExamSession, Registration, SectionState
    from item_bank.items import score_response

    sessions = list(
        db.session.execute(db.select(ExamSession).where(ExamSession.id.in_(session_ids))).scalars()
    )
    if not sessions:
        raise CalibrationError(["choose at least one exam session"])
    attempts = list(
        db.session.execute(
            db.select(Attempt).join(Registration).where(Registration.session_id.in_(session_ids))
        ).scalars()
    )
    rows: list[tuple[str, str, dict[str, int]]] = []
    codes: dict[str, None] = {}
    for attempt in attempts:
        closed = [s.position for s in attempt.sections if s.state is SectionState.SUBMITTED]
        if not closed:
            continue
        answers = {
            a.item_code: a.response
            for a in db.session.execute(
                db.select(CurrentAnswer).where(CurrentAnswer.attempt_id == attempt.id)
            ).scalars()
        }
        scores: dict[str, int] = {}
        for position in closed:
            for code in attempt.form["sections"][position]["items"]:
                version = db.session.get(ItemVersion, attempt.form["versions"][code])
                spec = repository.spec_of(version.item, version)
                scores[code] = score_response(spec, answers.get(code)) or 0
                codes[code] = None
        rows.append((attempt.registration.candidate_code, attempt.registration.language, scores))
    if not rows:
        raise CalibrationError(["no candidate of these sessions has finished a section yet"])
    item_codes = list(codes)
    responses = np.full((len(rows), len(item_codes)), -1, dtype=np.int64)
    column = {code: j for j, code in enumerate(item_codes)}
    for i, (_, _, scores) in enumerate(rows):
        for code, score in scores.items():
            responses[i, column[code]] = score
    matrix = Matrix(
        item_codes,
        responses,
        np.asarray([r[0] for r in rows], dtype=str),
        np.asarray([r[1] for r in rows], dtype=str),
    )
    return _store(
        matrix,
        name=name or f"sessions {', '.join(str(i) for i in session_ids)}",
        source="sessions: " + ", ".join(s.name for s in sessions),
        group_label="language",
        actor=actor,
        action="calibration.data_from_sessions",
        sessions=session_ids,
    )
