"""Items as data: the pure description of an item that every file format reads and writes.

An :class:`ItemSpec` is one item across its language versions: its family and response format, the expert key,
classification (legal domain and topic, or judicial competence; free tags), enemy items, an optional shared
stimulus (a case text several items hang on: a testlet) and its lifecycle status. The web app stores the same
fields in its tables; the formats in :mod:`item_bank.formats` turn files into these objects and back.

Scoring rules turn a candidate's response into a category score ``0..K-1`` per item, which is what the IRT
models (2PL/3PL for knowledge items, graded or partial-credit models for SJT items) consume; while an item is
not yet calibrated, the same category scores add up to a number-correct score.

Response shapes, per format:

=================  =============================================  ===========================================
format             response                                        key
=================  =============================================  ===========================================
single_best        ``{"choice": i}``                               ``{"correct": i}``
sjt_rate           ``{"ratings": [r_1, ..., r_n]}`` (1..4 each)    ``{"ratings": [e_1, ..., e_n]}`` (1..4)
sjt_most_least     ``{"most": i, "least": j}`` (i != j)            ``{"most": i, "least": j}``
sjt_rank           ``{"rank": [r_1, ..., r_n]}`` (a permutation    ``{"rank": [e_1, ..., e_n]}``
                   of 1..n: option k's rank)
=================  =============================================  ===========================================

Option indices are 0-based positions in the item's option list, which is the same in every language version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "FAMILIES",
    "FORMATS",
    "LANGUAGES",
    "SCORING_RULES",
    "STATUSES",
    "TRANSLATION_STATES",
    "ItemSpec",
    "ItemValidationError",
    "LanguageVersion",
    "Stimulus",
    "format_key",
    "max_category",
    "parse_key",
    "score_response",
    "validate_response",
]

FAMILIES: Final = ("knowledge", "sjt")
FORMATS: Final = {
    "single_best": "knowledge",
    "sjt_rate": "sjt",
    "sjt_most_least": "sjt",
    "sjt_rank": "sjt",
}
STATUSES: Final = ("draft", "review", "pretest", "operational", "retired")
LANGUAGES: Final = ("kk", "ru", "en")
TRANSLATION_STATES: Final = ("draft", "translated", "reviewed")
# "Rate the effectiveness of each option": 1 = very ineffective ... 4 = very effective.
RATING_SCALE: Final = (1, 4)
OPTION_COUNTS: Final = {
    "single_best": (4, 5),
    "sjt_rate": (4, 6),
    "sjt_most_least": (4, 6),
    "sjt_rank": (4, 6),
}


class ItemValidationError(ValueError):
    """An item, response or key is malformed; ``problems`` lists each as ``(field, message)``."""

    def __init__(self, code: str, problems: list[tuple[str, str]]) -> None:
        self.code = code
        self.problems = problems
        detail = "; ".join(f"{name}: {message}" for name, message in problems)
        super().__init__(f"item {code!r}: {detail}")


@dataclass(frozen=True)
class LanguageVersion:
    """The text of an item in one language: the stem and the options, in the item's option order."""

    stem: str
    options: tuple[str, ...]
    state: str = "draft"  # one of TRANSLATION_STATES


@dataclass(frozen=True)
class Stimulus:
    """A shared case text (a testlet's stimulus), per language."""

    code: str
    texts: Mapping[str, str]
    title: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemSpec:
    """One item across languages; ``code`` is its stable identifier in every file and language.

    ``scoring`` holds rule options (see :data:`SCORING_RULES`); empty means the format's default rule.
    """

    code: str
    format: str
    versions: Mapping[str, LanguageVersion]
    key: Mapping[str, Any]
    status: str = "draft"
    domain: str | None = None
    topic: str | None = None
    competence: str | None = None
    tags: tuple[str, ...] = ()
    enemies: tuple[str, ...] = ()
    stimulus: str | None = None
    scoring: Mapping[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return FORMATS[self.format]

    @property
    def n_options(self) -> int:
        return len(next(iter(self.versions.values())).options)

    @property
    def n_categories(self) -> int:
        """K: category scores run 0..K-1."""
        return max_category(self) + 1

    def validate(self) -> ItemSpec:
        """Return ``self`` if consistent, else raise :class:`ItemValidationError` listing every problem."""
        problems: list[tuple[str, str]] = []
        if not self.code or not self.code.strip():
            problems.append(("code", "must not be empty"))
        if self.format not in FORMATS:
            problems.append(("format", f"must be one of {sorted(FORMATS)}, got {self.format!r}"))
            raise ItemValidationError(self.code, problems)
        if self.status not in STATUSES:
            problems.append(("status", f"must be one of {list(STATUSES)}, got {self.status!r}"))
        if not self.versions:
            problems.append(("versions", "at least one language version is needed"))
            raise ItemValidationError(self.code, problems)
        low, high = OPTION_COUNTS[self.format]
        counts = set()
        for lang, version in self.versions.items():
            where = f"versions.{lang}"
            if lang not in LANGUAGES:
                problems.append((where, f"language must be one of {list(LANGUAGES)}"))
            if not version.stem.strip():
                problems.append((f"{where}.stem", "must not be empty"))
            if not low <= len(version.options) <= high:
                problems.append(
                    (f"{where}.options", f"needs {low} to {high} options, got {len(version.options)}")
                )
            for i, text in enumerate(version.options):
                if not text.strip():
                    problems.append((f"{where}.options[{i}]", "must not be empty"))
            if version.state not in TRANSLATION_STATES:
                problems.append((f"{where}.state", f"must be one of {list(TRANSLATION_STATES)}"))
            counts.add(len(version.options))
        if len(counts) > 1:
            problems.append(
                ("versions", f"every language needs the same number of options, got {sorted(counts)}")
            )
        if self.family == "knowledge" and self.competence:
            problems.append(("competence", "knowledge items are classified by domain, not competence"))
        if self.family == "sjt" and not self.competence:
            problems.append(("competence", "situational-judgement items need a judicial competence"))
        if self.family == "knowledge" and not self.domain:
            problems.append(("domain", "knowledge items need a legal domain"))
        if self.code in self.enemies:
            problems.append(("enemies", "an item cannot be its own enemy"))
        if len(counts) == 1:
            problems.extend(("key." + name, message) for name, message in _key_problems(self, counts.pop()))
        unknown_rule = set(self.scoring) - set(_RULE_OPTIONS.get(self.format, ()))
        if unknown_rule:
            problems.append(("scoring", f"unknown options {sorted(unknown_rule)} for {self.format}"))
        elif self.format == "sjt_rate" and self.scoring.get("rule", "graded") not in RATE_RULES:
            problems.append(("scoring.rule", f"must be one of {sorted(RATE_RULES)}"))
        if problems:
            raise ItemValidationError(self.code, problems)
        return self


def _is_index(value: Any, n: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n


def _is_permutation(values: Any, n: int) -> bool:
    return isinstance(values, list | tuple) and sorted(values) == list(range(1, n + 1))


def _ratings_ok(values: Any, n: int) -> bool:
    low, high = RATING_SCALE
    return (
        isinstance(values, list | tuple)
        and len(values) == n
        and all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in values)
    )


def _key_problems(item: ItemSpec, n: int) -> Iterable[tuple[str, str]]:
    key = item.key
    if item.format == "single_best":
        if not _is_index(key.get("correct"), n):
            yield "correct", f"must be an option index 0..{n - 1}, got {key.get('correct')!r}"
    elif item.format == "sjt_rate":
        if not _ratings_ok(key.get("ratings"), n):
            yield "ratings", f"must be {n} expert ratings from {RATING_SCALE[0]} to {RATING_SCALE[1]}"
    elif item.format == "sjt_most_least":
        most, least = key.get("most"), key.get("least")
        if not (_is_index(most, n) and _is_index(least, n)) or most == least:
            yield "most/least", f"must be two different option indices 0..{n - 1}, got {most!r} and {least!r}"
    elif item.format == "sjt_rank" and not _is_permutation(key.get("rank"), n):
        yield "rank", f"must give each of the {n} options a different rank 1..{n}"


def validate_response(item: ItemSpec, response: Mapping[str, Any]) -> None:
    """Raise :class:`ItemValidationError` if ``response`` is not a complete answer of ``item``'s format."""
    n = item.n_options
    fmt = item.format
    ok = (
        (fmt == "single_best" and _is_index(response.get("choice"), n))
        or (fmt == "sjt_rate" and _ratings_ok(response.get("ratings"), n))
        or (
            fmt == "sjt_most_least"
            and _is_index(response.get("most"), n)
            and _is_index(response.get("least"), n)
            and response.get("most") != response.get("least")
        )
        or (fmt == "sjt_rank" and _is_permutation(response.get("rank"), n))
    )
    if not ok:
        raise ItemValidationError(item.code, [("response", f"not a valid {fmt} answer: {dict(response)!r}")])


# Scoring rules. Each maps (item, response) to a category score 0..K-1 and has a matching maximum.
#
# single_best     1 if the keyed option was chosen, else 0                                   (K = 2)
# sjt_rate        "graded" (default): 2 points per option rated as the expert did, 1 point one step away,
#                 0 otherwise (0..2n, K = 2n+1); "exact": 1 point per exact agreement (0..n, K = n+1). Every
#                 total is reachable whatever the key, which a plain sum of distances would not give.
# sjt_most_least  1 for the keyed "most" + 1 for the keyed "least" (0..2, K = 3); choosing the keyed least
#                 as most, or the keyed most as least, costs the point it would have earned
# sjt_rank        agreement with the expert order by Spearman's footrule D = sum |r - e|: (D_max - D) / 2,
#                 where D_max = floor(n^2 / 2) is the footrule of the reversed order; D is always even, so
#                 every score 0..floor(n^2 / 4) can occur (K = 5 for 4 options, 7 for 5, 10 for 6)
#
# Keeping K small gives graded and partial-credit models data in every category at realistic sample sizes.
_RULE_OPTIONS: Final = {
    "single_best": (),
    "sjt_rate": ("rule",),
    "sjt_most_least": (),
    "sjt_rank": (),
}


def _score_single_best(item: ItemSpec, response: Mapping[str, Any]) -> int:
    return int(response["choice"] == item.key["correct"])


RATE_RULES: Final = {"graded": (2, 1), "exact": (1, 0)}  # points for an exact match, for one step away


def _score_rate(item: ItemSpec, response: Mapping[str, Any]) -> int:
    exact, near = RATE_RULES[item.scoring.get("rule", "graded")]
    gaps = [abs(int(r) - int(e)) for r, e in zip(response["ratings"], item.key["ratings"], strict=True)]
    return sum(exact if g == 0 else near if g == 1 else 0 for g in gaps)


def _score_most_least(item: ItemSpec, response: Mapping[str, Any]) -> int:
    return int(response["most"] == item.key["most"]) + int(response["least"] == item.key["least"])


def _score_rank(item: ItemSpec, response: Mapping[str, Any]) -> int:
    n = item.n_options
    footrule = sum(abs(r - e) for r, e in zip(response["rank"], item.key["rank"], strict=True))
    return int(n * n // 2 - footrule) // 2


SCORING_RULES: Final[dict[str, Callable[[ItemSpec, Mapping[str, Any]], int]]] = {
    "single_best": _score_single_best,
    "sjt_rate": _score_rate,
    "sjt_most_least": _score_most_least,
    "sjt_rank": _score_rank,
}


def max_category(item: ItemSpec) -> int:
    """The highest category score of ``item`` under its scoring rule (K - 1)."""
    n = item.n_options
    if item.format == "single_best":
        return 1
    if item.format == "sjt_most_least":
        return 2
    if item.format == "sjt_rate":
        return RATE_RULES[item.scoring.get("rule", "graded")][0] * n
    if item.format == "sjt_rank":
        return n * n // 4
    return n


def score_response(item: ItemSpec, response: Mapping[str, Any] | None) -> int | None:
    """Category score 0..K-1 of a response; ``None`` when the item was not answered (not the same as 0)."""
    if response is None:
        return None
    validate_response(item, response)
    return SCORING_RULES[item.format](item, response)


# Keys in a human form, for forms and spreadsheets: "B" (single best), "1 4 2 3" (expert ratings),
# "most=B least=D", "2 1 4 3" (expert rank of each option, in option order).
LETTERS: Final = "ABCDEF"


def format_key(item_format: str, key: Mapping[str, Any]) -> str:
    """Write ``key`` in its human form."""
    if item_format == "single_best":
        return LETTERS[int(key["correct"])]
    if item_format == "sjt_most_least":
        return f"most={LETTERS[int(key['most'])]} least={LETTERS[int(key['least'])]}"
    values = key["ratings"] if item_format == "sjt_rate" else key["rank"]
    return " ".join(str(int(v)) for v in values)


def parse_key(item_format: str, text: str) -> dict[str, Any]:
    """Read a key from its human form; raise ``ValueError`` saying what was expected.

    Only the shape is checked here; :meth:`ItemSpec.validate` checks it against the item's options.
    """
    cleaned = text.strip()
    if item_format == "single_best":
        letter = cleaned.upper()
        if len(letter) != 1 or letter not in LETTERS:
            raise ValueError(f"expected the letter of the correct option (A-F), got {text!r}")
        return {"correct": LETTERS.index(letter)}
    if item_format == "sjt_most_least":
        compact = re.sub(r"\s*=\s*", "=", cleaned.lower().replace(",", " "))
        parts = dict(p.split("=", 1) for p in compact.split() if "=" in p)
        most, least = parts.get("most", "").strip().upper(), parts.get("least", "").strip().upper()
        if len(most) != 1 or len(least) != 1 or most not in LETTERS or least not in LETTERS:
            raise ValueError(f"expected 'most=<letter> least=<letter>', got {text!r}")
        return {"most": LETTERS.index(most), "least": LETTERS.index(least)}
    if item_format in ("sjt_rate", "sjt_rank"):
        try:
            values = [int(v) for v in cleaned.replace(",", " ").split()]
        except ValueError:
            raise ValueError(f"expected whole numbers separated by spaces, got {text!r}") from None
        return {"ratings" if item_format == "sjt_rate" else "rank": values}
    raise ValueError(f"unknown item format {item_format!r}")
