"""What a candidate is shown of their sitting: built field by field from an allow-list, never from a model.

Only the open section's items are sent; keys, scoring rules and item parameters are never read here.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy.orm import selectinload

from assessment.bank.models import Item, ItemVersion
from assessment.delivery.models import Attempt, AttemptSection, AttemptState, CurrentAnswer, SectionState
from assessment.extensions import db
from item_bank.assembly.linear import displayed_options, shuffle_response

FALLBACK_LANGUAGES = ("ru", "en", "kk")


def _in_language(texts: dict[str, Any], language: str) -> Any:
    for lang in (language, *FALLBACK_LANGUAGES):
        if lang in texts:
            return texts[lang]
    return next(iter(texts.values()), None)


def _shown(planned: dict[str, Any], state: dict[str, Any] | None, section_state: SectionState) -> list[str]:
    """The items of a section as the candidate has met them (an adaptive one: those shown so far)."""
    if planned.get("mode") != "cat" or section_state is SectionState.SUBMITTED:
        return list(planned.get("items", []))
    state = state or {}
    return [*state.get("items", []), *([state["pending"]] if state.get("pending") else [])]


def view_version(attempt: Attempt, section: AttemptSection | None) -> str:
    """A token that changes whenever the sitting view would change, other than the ticking clock and the
    candidate's own saves: the state, the open section and its timing (start, extensions, pauses), the
    adaptive step, whether a tab holds the sitting (a proctor's release). Read from the attempt and its
    current section only, so that the heartbeat can compare it without building the view. Opaque: a hash."""
    parts: tuple[Any, ...] = (
        attempt.id,
        attempt.state.value,
        attempt.current_section,
        attempt.client_token is not None,
    )
    if section is not None:
        parts += (
            section.position,
            section.state.value,
            section.started_at,
            section.allowed_seconds,
            section.extension_seconds,
            float(section.paused_seconds or 0.0),
            section.paused_since,
            section.adaptive_step,
        )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def open_remaining_seconds(attempt: Attempt, section: AttemptSection | None, now: datetime) -> float | None:
    """The open section's remaining time, as the view shows it (None when no section is open)."""
    if attempt.state not in (AttemptState.IN_PROGRESS, AttemptState.PAUSED):
        return None
    if section is None or section.state is not SectionState.OPEN:
        return None
    return section.remaining_seconds(now)


def sitting_pulse(attempt: Attempt, section: AttemptSection | None, *, now: datetime) -> dict[str, Any]:
    """What a heartbeat answers: state, clock and the view's version; never an item."""
    return {
        "state": attempt.state.value,
        "current_section": attempt.current_section,
        "remaining_seconds": open_remaining_seconds(attempt, section, now),
        "server_time": now,
        "view_version": view_version(attempt, section),
    }


def sitting_view(attempt: Attempt, *, now: datetime, grace_seconds: int) -> dict[str, Any]:
    registration = attempt.registration
    definition = registration.session.definition
    language = registration.language
    current = next((s for s in attempt.sections if s.position == attempt.current_section), None)
    sections = []
    for timing, section in zip(attempt.sections, definition.sections, strict=True):
        planned = (attempt.form.get("sections") or [{}] * len(definition.sections))[timing.position]
        adaptive = planned.get("mode") == "cat"
        sections.append(
            {
                "position": timing.position,
                "title": _in_language(section.title, language) or "",
                "state": timing.state.value,
                "allow_review": section.allow_review and not adaptive,
                "adaptive": adaptive,
                "n_items": len(_shown(planned, timing.adaptive_state, timing.state)),
                "remaining_seconds": timing.remaining_seconds(now),
            }
        )
    view: dict[str, Any] = {
        "state": attempt.state.value,
        "candidate_code": registration.candidate_code,
        "session": registration.session.name,
        "language": language,
        "large_text": registration.large_text,
        "instructions": _in_language(definition.instructions, language) if definition.instructions else None,
        "current_section": attempt.current_section,
        "remaining_seconds": None,
        "grace_seconds": grace_seconds,
        "question_number": None,
        "view_version": view_version(attempt, current),
        "sections": sections,
        "items": [],
    }
    if attempt.state not in (AttemptState.IN_PROGRESS, AttemptState.PAUSED):
        return view
    timing = attempt.sections[attempt.current_section]
    if timing.state is not SectionState.OPEN:
        return view
    view["remaining_seconds"] = timing.remaining_seconds(now)
    planned = attempt.form["sections"][timing.position]
    codes = _shown(planned, timing.adaptive_state, timing.state)
    if planned.get("mode") == "cat":
        # only the current question: the rest of the pool, theta and the plan never leave the server
        codes = codes[-1:] if (timing.adaptive_state or {}).get("pending") else []
        view["question_number"] = len((timing.adaptive_state or {}).get("items", [])) + 1
    permutations = planned.get("permutations", {})
    items = {i.code: i for i in db.session.execute(db.select(Item).where(Item.code.in_(codes))).scalars()}
    pinned = attempt.form.get("versions", {})
    # The versions shown, read in one statement: every candidate's page re-reads this view every few
    # seconds, and one query per item was most of its cost (bench/http).
    versions = {
        v.id: v
        for v in db.session.execute(
            db.select(ItemVersion)
            .where(ItemVersion.id.in_([pinned[code] for code in codes if code in pinned]))
            .options(selectinload(ItemVersion.stimulus))
        ).scalars()
    }
    answers = {
        a.item_code: a
        for a in db.session.execute(
            db.select(CurrentAnswer).where(
                CurrentAnswer.attempt_id == attempt.id, CurrentAnswer.item_code.in_(codes)
            )
        ).scalars()
    }
    for code in codes:
        version = versions[pinned[code]] if code in pinned else items[code].current
        text = _in_language(version.content, language)
        stimulus = None
        if version.stimulus is not None:
            stimulus = {
                "title": _in_language(version.stimulus.title, language) if version.stimulus.title else None,
                "text": _in_language(version.stimulus.texts, language),
            }
        answer = answers.get(code)
        permutation = permutations.get(code)
        shown = answer.response if answer else None
        if shown is not None and permutation is not None:
            shown = shuffle_response(shown, permutation)
        view["items"].append(
            {
                "code": code,
                "format": items[code].format.value,
                "stem": text["stem"],
                "options": displayed_options(text["options"], permutation),
                "stimulus": stimulus,
                "answer": shown,
                "seq": answer.seq if answer else None,
                "flagged": bool(answer and answer.flagged),
            }
        )
    return view
