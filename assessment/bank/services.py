"""Use cases of the item bank. Each public function validates everything first and owns its commit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assessment.audit import services as audit
from assessment.auth.models import User, utcnow
from assessment.bank import repository
from assessment.bank.models import (
    Item,
    ItemFamily,
    ItemFormat,
    ItemStatus,
    ItemVersion,
    ParameterSet,
    ParameterStatus,
    Stimulus,
)
from assessment.extensions import db
from item_bank.formats import items_csv, items_json, qti
from item_bank.formats.errors import ImportFailed
from item_bank.items import LANGUAGES, ItemSpec, ItemValidationError
from item_bank.items import Stimulus as StimulusSpec

# Lifecycle: forward one step at a time, back to draft from review, and retirement from anywhere.
TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.DRAFT: frozenset({ItemStatus.REVIEW, ItemStatus.RETIRED}),
    ItemStatus.REVIEW: frozenset({ItemStatus.DRAFT, ItemStatus.PRETEST, ItemStatus.RETIRED}),
    ItemStatus.PRETEST: frozenset({ItemStatus.OPERATIONAL, ItemStatus.RETIRED}),
    ItemStatus.OPERATIONAL: frozenset({ItemStatus.RETIRED}),
    ItemStatus.RETIRED: frozenset(),
}


class BankError(ValueError):
    """A bank use case was refused; ``problems`` name the item and field of each reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)  # content changed after use: a new version
    updated: list[str] = field(default_factory=list)  # classification or status, or a draft edited in place
    unchanged: list[str] = field(default_factory=list)
    stimuli_created: list[str] = field(default_factory=list)


def find_item(code: str) -> Item | None:
    return db.session.execute(db.select(Item).where(Item.code == code)).scalar_one_or_none()


def _items_by_code(codes: Iterable[str]) -> dict[str, Item]:
    wanted = set(codes)
    if not wanted:
        return {}
    rows = db.session.execute(db.select(Item).where(Item.code.in_(wanted))).scalars()
    return {row.code: row for row in rows}


def _stimuli_by_code(codes: Iterable[str]) -> dict[str, Stimulus]:
    """The latest version of each named stimulus."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = db.session.execute(
        db.select(Stimulus).where(Stimulus.code.in_(wanted)).order_by(Stimulus.number)
    ).scalars()
    return {row.code: row for row in rows}  # later numbers overwrite earlier ones


def _check(specs: Sequence[ItemSpec], stimuli: Sequence[StimulusSpec]) -> list[str]:
    """Every problem with a batch of items, against the bank as it is now; empty means it can be applied."""
    problems: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        try:
            spec.validate()
        except ItemValidationError as exc:
            problems.extend(f"item {spec.code!r}: {name}: {message}" for name, message in exc.problems)
        if spec.code in seen:
            problems.append(f"item {spec.code!r}: code: appears more than once")
        seen.add(spec.code)
    batch_codes = {s.code for s in specs}
    bank = _items_by_code({e for s in specs for e in s.enemies} | batch_codes)
    for spec in specs:
        for enemy in spec.enemies:
            if enemy not in batch_codes and enemy not in bank:
                problems.append(f"item {spec.code!r}: enemies: no item {enemy!r} in the file or the bank")
        existing = bank.get(spec.code)
        if existing is not None and existing.format.value != spec.format:
            problems.append(
                f"item {spec.code!r}: format: the bank has it as {existing.format.value}, "
                f"the file as {spec.format}; a new format needs a new item code"
            )
    stimulus_codes = {s.code for s in stimuli} | set(
        _stimuli_by_code({s.stimulus for s in specs if s.stimulus})
    )
    for spec in specs:
        if spec.stimulus and spec.stimulus not in stimulus_codes:
            problems.append(
                f"item {spec.code!r}: stimulus: no stimulus {spec.stimulus!r} in the file or the bank"
            )
    return problems


def _version_fields(spec: ItemSpec) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str | None]:
    return repository.content_of(spec), dict(spec.key), dict(spec.scoring), spec.stimulus


def _apply(
    spec: ItemSpec, item: Item | None, stimuli: dict[str, Stimulus], actor: User | None, note: str | None
) -> tuple[Item, str]:
    """Create the item or record the change; returns the item and one of the ImportReport outcomes.

    The versioning rule: a version that has been administered, or belongs to an item already in pretest or
    operational use, is never changed; new content becomes a new version. A draft still being written is
    edited in place (the audit log keeps who changed what).
    """
    content, key, scoring, stimulus_code = _version_fields(spec)
    stimulus = stimuli.get(stimulus_code) if stimulus_code else None
    if item is None:
        item = Item(code=spec.code, family=ItemFamily(spec.family), format=ItemFormat(spec.format))
        item.created_by_id = getattr(actor, "id", None)
        db.session.add(item)
        outcome = "created"
    else:
        outcome = "unchanged"
    fields = {
        "status": ItemStatus(spec.status),
        "domain": spec.domain,
        "topic": spec.topic,
        "competence": spec.competence,
        "tags": list(spec.tags),
    }
    changed = {name for name, value in fields.items() if getattr(item, name) != value}
    for name in changed:
        setattr(item, name, fields[name])
    if changed and outcome == "unchanged":
        outcome = "changed"
    latest = item.versions[-1] if item.versions else None
    new_stimulus_id = stimulus.id if stimulus else None
    if latest is not None and (latest.content, latest.key, latest.scoring or {}, latest.stimulus_id) == (
        content,
        key,
        scoring,
        new_stimulus_id,
    ):
        return item, outcome
    frozen = latest is not None and (
        latest.times_administered > 0 or item.status in (ItemStatus.PRETEST, ItemStatus.OPERATIONAL)
    )
    if latest is not None and not frozen:
        latest.content, latest.key, latest.scoring, latest.stimulus = content, key, scoring, stimulus
        latest.change_note = note
        return item, "changed" if outcome == "unchanged" else outcome
    item.versions.append(
        ItemVersion(
            number=latest.number + 1 if latest else 1,
            content=content,
            key=key,
            scoring=scoring,
            stimulus=stimulus,
            change_note=note,
            created_by_id=getattr(actor, "id", None),
        )
    )
    return item, "new version" if latest is not None else outcome


def _link_enemies(specs: Sequence[ItemSpec]) -> None:
    bank = _items_by_code({e for s in specs for e in s.enemies} | {s.code for s in specs})
    for spec in specs:
        item = bank[spec.code]
        wanted = {bank[code] for code in spec.enemies}
        for enemy in wanted - set(item.enemies):
            item.enemies.append(enemy)
            if item not in enemy.enemies:
                enemy.enemies.append(item)


def import_items(
    specs: Sequence[ItemSpec],
    stimuli: Sequence[StimulusSpec] = (),
    *,
    actor: User | None,
    source: str,
    demo: bool = False,
) -> ImportReport:
    """Add or update items all-or-nothing: every problem is reported, and nothing is written if any."""
    problems = _check(specs, stimuli)
    if problems:
        raise BankError(problems)
    report = ImportReport()
    known = _stimuli_by_code(s.code for s in stimuli)
    for s in stimuli:
        row = known.get(s.code)
        if row is None:
            row = known[s.code] = Stimulus(
                code=s.code,
                texts=dict(s.texts),
                title=dict(s.title),
                created_by_id=getattr(actor, "id", None),
            )
            db.session.add(row)
            report.stimuli_created.append(s.code)
        else:
            known[s.code], _ = _revise_stimulus(
                row, dict(s.title), dict(s.texts), actor=actor, note=f"imported from {source}"
            )
    known.update(_stimuli_by_code({s.stimulus for s in specs if s.stimulus} - set(known)))
    existing = _items_by_code(s.code for s in specs)
    for spec in specs:
        item, outcome = _apply(spec, existing.get(spec.code), known, actor, note=f"imported from {source}")
        item.is_demo = item.is_demo or demo
        buckets = {
            "created": report.created,
            "new version": report.new_versions,
            "changed": report.updated,
            "unchanged": report.unchanged,
        }
        buckets[outcome].append(spec.code)
    db.session.flush()
    _link_enemies(specs)
    audit.record(
        "bank.items_imported",
        actor=actor,
        source=source,
        created=report.created,
        new_versions=report.new_versions,
        updated=report.updated,
        stimuli=report.stimuli_created,
    )
    db.session.commit()
    return report


def save_item(spec: ItemSpec, *, actor: User, note: str | None = None) -> Item:
    """Create or edit one item (the authoring form); an administered version is never changed in place."""
    problems = _check([spec], [])
    if problems:
        raise BankError(problems)
    existing = _items_by_code([spec.code]).get(spec.code)
    before = repository.spec_of(existing) if existing is not None else None
    item, outcome = _apply(
        spec, existing, _stimuli_by_code([spec.stimulus] if spec.stimulus else []), actor, note
    )
    db.session.flush()
    _set_enemies(item, spec.enemies)
    audit.record(
        "bank.item_created" if before is None else "bank.item_edited",
        actor=actor,
        target=item,
        outcome=outcome,
        version=item.current.number,
        changes=_diff(before, spec) if before is not None else None,
        note=note,
    )
    db.session.commit()
    return item


def _set_enemies(item: Item, codes: Iterable[str]) -> None:
    wanted = set(_items_by_code(codes).values())
    for gone in set(item.enemies) - wanted:
        item.enemies.remove(gone)
        if item in gone.enemies:
            gone.enemies.remove(item)
    for enemy in wanted - set(item.enemies):
        item.enemies.append(enemy)
        if item not in enemy.enemies:
            enemy.enemies.append(item)


def _diff(before: ItemSpec, after: ItemSpec) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for name in ("status", "domain", "topic", "competence", "tags", "enemies", "stimulus", "key", "scoring"):
        old, new = getattr(before, name), getattr(after, name)
        if (list(old) if isinstance(old, tuple) else old) != (list(new) if isinstance(new, tuple) else new):
            changes[name] = [_plain(old), _plain(new)]
    for lang in sorted(set(before.versions) | set(after.versions)):
        if before.versions.get(lang) != after.versions.get(lang):
            changes[f"versions.{lang}"] = ["…", "…"]
    return changes


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def change_status(
    item: Item, status: ItemStatus, *, actor: User, reason: str | None = None, commit: bool = True
) -> None:
    if status not in TRANSITIONS[item.status]:
        raise BankError([f"item {item.code!r}: status: cannot go from {item.status.value} to {status.value}"])
    old = item.status
    item.status = status
    audit.record("bank.item_status", actor=actor, target=item, old=old.value, new=status.value, reason=reason)
    if commit:
        db.session.commit()


def export_specs(items: Sequence[Item]) -> tuple[list[ItemSpec], list[StimulusSpec]]:
    specs = [repository.spec_of(i) for i in items]
    stimulus_rows = {v.stimulus.code: v.stimulus for i in items for v in [i.current] if v.stimulus}
    return specs, [repository.stimulus_spec_of(s) for s in stimulus_rows.values()]


# Stimuli (shared case texts)

STIMULUS_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
STIMULUS_TEXT_MAX = 50_000


def find_stimulus(code: str) -> Stimulus | None:
    """The latest version of the stimulus ``code``."""
    return _stimuli_by_code([code]).get(code)


def stimulus_versions(code: str) -> list[Stimulus]:
    return list(
        db.session.execute(
            db.select(Stimulus).where(Stimulus.code == code).order_by(Stimulus.number.desc())
        ).scalars()
    )


def items_on(stimulus: Stimulus) -> list[Item]:
    """Items whose current version uses any version of this stimulus's code."""
    rows = db.session.execute(
        db.select(Item, ItemVersion)
        .join(ItemVersion, ItemVersion.item_id == Item.id)
        .join(Stimulus, ItemVersion.stimulus_id == Stimulus.id)
        .where(Stimulus.code == stimulus.code)
        .order_by(Item.code)
    ).all()
    return list(dict.fromkeys(item for item, version in rows if item.current.id == version.id))


def stimulus_in_use(stimulus: Stimulus) -> bool:
    """True when candidates may have read this version: an item version on it administered, or its item in
    pretest or operational use (the item versioning rule, applied to the shared text)."""
    versions = db.session.execute(
        db.select(ItemVersion).where(ItemVersion.stimulus_id == stimulus.id)
    ).scalars()
    return any(
        v.times_administered > 0 or v.item.status in (ItemStatus.PRETEST, ItemStatus.OPERATIONAL)
        for v in versions
    )


def _check_stimulus(code: str, title: dict[str, str], texts: dict[str, str]) -> list[str]:
    problems = []
    if not STIMULUS_CODE.match(code or ""):
        problems.append(
            f"stimulus {code!r}: code: use 1-40 letters, digits, '.', '_' or '-', "
            "beginning with a letter or a digit"
        )
    languages = set(LANGUAGES)
    for name, values in (("texts", texts), ("title", title)):
        for lang in sorted(set(values) - languages):
            problems.append(f"stimulus {code!r}: {name}.{lang}: language must be one of {list(LANGUAGES)}")
    if not any((t or "").strip() for t in texts.values()):
        problems.append(f"stimulus {code!r}: texts: give the case text in at least one language")
    for lang, value in texts.items():
        if len(value or "") > STIMULUS_TEXT_MAX:
            problems.append(
                f"stimulus {code!r}: texts.{lang}: {len(value)} characters, at most {STIMULUS_TEXT_MAX}"
            )
    for lang in sorted(set(title) - set(texts)):
        if lang in languages and (title[lang] or "").strip():
            problems.append(f"stimulus {code!r}: title.{lang}: a title without a text in that language")
    return problems


def _clean(values: dict[str, str]) -> dict[str, str]:
    return {lang: value.strip() for lang, value in values.items() if (value or "").strip()}


def _move_items(old: Stimulus, new: Stimulus, actor: User | None, note: str) -> list[str]:
    """Put the items whose current version uses ``old`` on ``new``, each by the item versioning rule."""
    moved = []
    for item in items_on(old):
        if item.current.stimulus_id != old.id:
            continue
        spec = repository.spec_of(item)
        _apply(spec, item, {new.code: new}, actor, note)
        moved.append(item.code)
    return moved


def _revise_stimulus(
    row: Stimulus, title: dict[str, str], texts: dict[str, str], *, actor: User | None, note: str | None
) -> tuple[Stimulus, str]:
    """Change a stimulus's text: in place while unused, else as a new version that its items move to."""
    if (dict(row.title or {}), dict(row.texts)) == (title, texts):
        return row, "unchanged"
    if not stimulus_in_use(row):
        row.title, row.texts, row.change_note = title, texts, note
        row.created_by_id = row.created_by_id or getattr(actor, "id", None)
        return row, "changed"
    new = Stimulus(
        code=row.code,
        number=row.number + 1,
        title=title,
        texts=texts,
        change_note=note,
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(new)
    db.session.flush()
    _move_items(row, new, actor, f"stimulus {row.code} version {new.number}" + (f": {note}" if note else ""))
    return new, "new version"


def save_stimulus(
    code: str,
    *,
    title: dict[str, str],
    texts: dict[str, str],
    actor: User,
    note: str | None = None,
    create: bool = False,
) -> Stimulus:
    """Write a new stimulus (``create``) or edit one; a version in use is never changed in place."""
    title, texts = _clean(title), _clean(texts)
    problems = _check_stimulus(code, title, texts)
    existing = find_stimulus(code) if not problems else None
    if create and existing is not None:
        problems.append(f"stimulus {code!r}: code: a stimulus with this code exists already")
    if not create and existing is None and not problems:
        problems.append(f"stimulus {code!r}: no stimulus with this code")
    if problems:
        raise BankError(problems)
    if existing is None:
        row = Stimulus(code=code, title=title, texts=texts, change_note=note, created_by_id=actor.id)
        db.session.add(row)
        db.session.flush()
        audit.record("bank.stimulus_created", actor=actor, target=row, code=code, languages=sorted(texts))
        db.session.commit()
        return row
    before_title, before_texts = dict(existing.title or {}), dict(existing.texts)
    row, outcome = _revise_stimulus(existing, title, texts, actor=actor, note=note)
    if outcome != "unchanged":
        db.session.flush()
        audit.record(
            "bank.stimulus_edited",
            actor=actor,
            target=row,
            code=code,
            outcome=outcome,
            version=row.number,
            changed=sorted(
                {
                    f"texts.{lang}"
                    for lang in set(before_texts) | set(texts)
                    if before_texts.get(lang) != texts.get(lang)
                }
                | {
                    f"title.{lang}"
                    for lang in set(before_title) | set(title)
                    if before_title.get(lang) != title.get(lang)
                }
            ),
            items=[i.code for i in items_on(row)] if outcome == "new version" else None,
            note=note,
        )
    db.session.commit()
    return row


def set_stimulus_items(
    stimulus: Stimulus,
    *,
    attach: Sequence[str] = (),
    detach: Sequence[str] = (),
    actor: User,
    note: str | None = None,
) -> list[str]:
    """Attach items to the stimulus's latest version or detach them, all-or-nothing; returns those changed.

    Each item changes by its own versioning rule (an item in use gets a new version) and is audited.
    """
    latest = find_stimulus(stimulus.code) or stimulus
    items = _items_by_code([*attach, *detach])
    problems = [
        f"item {c!r}: no item with this code in the bank" for c in [*attach, *detach] if c not in items
    ]
    problems += [f"item {c!r}: both attached and detached" for c in sorted(set(attach) & set(detach))]
    for code in detach:
        item = items.get(code)
        if item is not None and (item.current.stimulus is None or item.current.stimulus.code != latest.code):
            problems.append(f"item {code!r}: does not use stimulus {latest.code!r}")
    if not attach and not detach:
        problems.append("name at least one item to attach or detach")
    if problems:
        raise BankError(problems)
    changed = []
    for code, target in [*((c, latest) for c in attach), *((c, None) for c in detach)]:
        item = items[code]
        before = repository.spec_of(item)
        if before.stimulus == (target.code if target else None) and item.current.stimulus_id == (
            target.id if target else None
        ):
            continue
        spec = replace(before, stimulus=target.code if target else None)
        _, outcome = _apply(spec, item, {latest.code: latest}, actor, note)
        db.session.flush()
        audit.record(
            "bank.item_edited",
            actor=actor,
            target=item,
            outcome=outcome,
            version=item.current.number,
            changes={"stimulus": [before.stimulus, spec.stimulus]},
            note=note,
        )
        changed.append(code)
    db.session.commit()
    return changed


# Parameter sets


def propose_parameters(
    item: Item,
    *,
    model: str,
    a: float,
    b: Sequence[float],
    c: float = 0.0,
    se: dict[str, Any] | None = None,
    provenance: dict[str, Any],
    actor: User | None,
    demo: bool = False,
    commit: bool = True,
) -> ParameterSet:
    """Record parameters from a calibration as a proposal; they become operational only when approved."""
    proposal = ParameterSet(
        item=item,
        item_version_id=item.current.id,
        model=model,
        a=float(a),
        b=[float(x) for x in b],
        c=float(c),
        se=se or {},
        provenance=provenance,
        proposed_by_id=getattr(actor, "id", None),
        is_demo=demo,
    )
    db.session.add(proposal)
    db.session.flush()
    audit.record("bank.parameters_proposed", actor=actor, target=item, parameter_set=proposal.id, model=model)
    if commit:
        db.session.commit()
    return proposal


def approve_parameters(
    proposal: ParameterSet, *, actor: User | None, reason: str | None = None, commit: bool = True, now=None
) -> ParameterSet:
    """Make a proposal the item's operational set; a second psychometrician must approve (four eyes)."""
    if proposal.status is not ParameterStatus.PROPOSED:
        raise BankError([f"parameter set {proposal.id}: status: is {proposal.status.value}, not proposed"])
    if actor is not None and proposal.proposed_by_id == actor.id:
        raise BankError(
            [f"parameter set {proposal.id}: approver: the psychometrician who proposed it cannot approve it"]
        )
    # Lock the item's row so that two approvals of different sets of one item cannot both win.
    db.session.execute(db.select(Item.id).where(Item.id == proposal.item_id).with_for_update())
    current = proposal.item.approved_parameters
    if current is not None:
        current.status = ParameterStatus.SUPERSEDED
        db.session.flush()
    proposal.status = ParameterStatus.APPROVED
    proposal.approved_by_id = getattr(actor, "id", None)
    proposal.approved_at = now or utcnow()
    proposal.decision_reason = reason
    audit.record(
        "bank.parameters_approved",
        actor=actor,
        target=proposal.item,
        parameter_set=proposal.id,
        superseded=current.id if current else None,
        reason=reason,
    )
    if commit:
        db.session.commit()
    return proposal


def reject_parameters(proposal: ParameterSet, *, actor: User, reason: str, commit: bool = True) -> None:
    if proposal.status is not ParameterStatus.PROPOSED:
        raise BankError([f"parameter set {proposal.id}: status: is {proposal.status.value}, not proposed"])
    proposal.status = ParameterStatus.REJECTED
    proposal.decision_reason = reason
    audit.record(
        "bank.parameters_rejected",
        actor=actor,
        target=proposal.item,
        parameter_set=proposal.id,
        reason=reason,
    )
    if commit:
        db.session.commit()


# Files

EXPORT_FORMATS = {
    "json": ("application/json", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "stimuli-csv": ("text/csv; charset=utf-8", "csv"),
    "qti21": ("application/zip", "zip"),
    "qti30": ("application/zip", "zip"),
}


def read_item_file(
    data: bytes,
    filename: str,
    *,
    stimuli_data: bytes | None = None,
    stimuli_filename: str | None = None,
    defaults: dict[str, str] | None = None,
) -> tuple[list[ItemSpec], list[StimulusSpec]]:
    """Parse a JSON, CSV or QTI (zip) file of items; raise BankError naming file, item, field and problem."""
    known_codes = set(db.session.execute(db.select(Item.code)).scalars())
    known_stimuli = set(db.session.execute(db.select(Stimulus.code)).scalars())
    suffix = Path(filename).suffix.lower()
    try:
        if suffix == ".json":
            return items_json.loads_items(
                data, filename, known_codes=known_codes, known_stimuli=known_stimuli
            )
        if suffix == ".csv":
            return items_csv.loads_items_csv(
                data,
                filename,
                stimuli_text=stimuli_data,
                stimuli_filename=stimuli_filename or "stimuli.csv",
                known_codes=known_codes,
                known_stimuli=known_stimuli,
            )
        if suffix == ".zip":
            return qti.read_qti_package(
                data, filename, known_codes=known_codes, known_stimuli=known_stimuli, defaults=defaults
            )
    except ImportFailed as exc:
        raise BankError([str(problem) for problem in exc.problems]) from None
    raise BankError(
        [f"{filename}: unknown kind of file {suffix or '(no extension)'!r}; use .json, .csv or .zip"]
    )


def import_file(
    data: bytes,
    filename: str,
    *,
    actor: User,
    stimuli_data: bytes | None = None,
    stimuli_filename: str | None = None,
    defaults: dict[str, str] | None = None,
) -> ImportReport:
    """Read and import a file of items all-or-nothing; ``defaults`` fill what a QTI package leaves unsaid."""
    specs, stimuli = read_item_file(
        data, filename, stimuli_data=stimuli_data, stimuli_filename=stimuli_filename, defaults=defaults
    )
    return import_items(specs, stimuli, actor=actor, source=filename)


def export_file(items: Sequence[Item], kind: str, *, actor: User) -> tuple[bytes, str, str]:
    """The items as a file of ``kind`` (see EXPORT_FORMATS): returns (content, mimetype, file extension)."""
    specs, stimuli = export_specs(items)
    if kind == "json":
        content = items_json.dumps_items(specs, stimuli).encode()
    elif kind == "csv":
        content = items_csv.dumps_items_csv(specs).encode()  # the text starts with a BOM for Excel
    elif kind == "stimuli-csv":
        content = items_csv.dumps_stimuli_csv(stimuli).encode()
    elif kind in ("qti21", "qti30"):
        content = qti.write_qti_package(specs, stimuli, version="2.1" if kind == "qti21" else "3.0")
    else:
        raise BankError([f"export format must be one of {sorted(EXPORT_FORMATS)}, got {kind!r}"])
    audit.record("bank.items_exported", actor=actor, format=kind, count=len(specs))
    db.session.commit()
    mimetype, extension = EXPORT_FORMATS[kind]
    return content, mimetype, extension
