"""Item specs: validation names each problem; scoring rules give category scores 0..K-1."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item_bank.items import (
    ItemSpec,
    ItemValidationError,
    LanguageVersion,
    format_key,
    max_category,
    parse_key,
    score_response,
)


def make(fmt: str, key: dict, n: int = 4, **fields) -> ItemSpec:
    family_fields = {"domain": "civil"} if fmt == "single_best" else {"competence": "integrity"}
    family_fields.update(fields)
    version = LanguageVersion("What now?", tuple(f"option {i}" for i in range(n)))
    return ItemSpec(code="T-1", format=fmt, versions={"en": version, "ru": version}, key=key, **family_fields)


def responses(item: ItemSpec):
    """Every possible complete response of a small item."""
    n = item.n_options
    if item.format == "single_best":
        return [{"choice": i} for i in range(n)]
    if item.format == "sjt_rate":
        return [{"ratings": list(r)} for r in itertools.product(range(1, 5), repeat=n)]
    if item.format == "sjt_most_least":
        return [{"most": i, "least": j} for i in range(n) for j in range(n) if i != j]
    return [{"rank": list(p)} for p in itertools.permutations(range(1, n + 1))]


ITEMS = [
    make("single_best", {"correct": 2}, n=5),
    make("sjt_rate", {"ratings": [1, 4, 2, 3]}),
    make("sjt_rate", {"ratings": [1, 4, 2, 3]}, scoring={"rule": "exact"}),
    make("sjt_rate", {"ratings": [2, 2, 3, 3, 2]}, n=5),
    make("sjt_most_least", {"most": 1, "least": 3}, n=5),
    make("sjt_rank", {"rank": [2, 1, 4, 3]}),
    make("sjt_rank", {"rank": [3, 1, 5, 2, 4]}, n=5),
]


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: f"{i.format}-{i.n_options}-{dict(i.scoring)}")
def test_every_category_is_reachable_and_none_beyond(item):
    item.validate()
    scores = {score_response(item, r) for r in responses(item)}
    assert scores == set(range(max_category(item) + 1))


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: f"{i.format}-{i.n_options}-{dict(i.scoring)}")
def test_the_keyed_response_scores_the_maximum(item):
    keyed = {
        "single_best": lambda k: {"choice": k["correct"]},
        "sjt_rate": lambda k: {"ratings": k["ratings"]},
        "sjt_most_least": lambda k: {"most": k["most"], "least": k["least"]},
        "sjt_rank": lambda k: {"rank": k["rank"]},
    }[item.format](item.key)
    assert score_response(item, keyed) == max_category(item) == item.n_categories - 1


def test_not_answered_is_none_not_zero():
    assert score_response(ITEMS[0], None) is None


@settings(max_examples=200, deadline=None)
@given(st.permutations([1, 2, 3, 4, 5]))
def test_rank_score_is_symmetric_and_reversal_scores_zero(key):
    item = make("sjt_rank", {"rank": list(key)}, n=5)
    reversed_order = [6 - r for r in key]
    assert score_response(item, {"rank": reversed_order}) == 0
    other = make("sjt_rank", {"rank": reversed_order}, n=5)
    assert score_response(other, {"rank": list(key)}) == 0


def test_validation_lists_every_problem_with_its_field():
    bad = ItemSpec(
        code="K-9",
        format="single_best",
        versions={
            "en": LanguageVersion("", ("a", "b", "c", "d")),
            "xx": LanguageVersion("stem", ("a", "b", "", "d", "e")),
        },
        key={"correct": 7},
        status="published",
        competence="integrity",
    )
    with pytest.raises(ItemValidationError) as excinfo:
        bad.validate()
    fields = [name for name, _ in excinfo.value.problems]
    assert fields == [
        "status",
        "versions.en.stem",
        "versions.xx",
        "versions.xx.options[2]",
        "versions",
        "competence",
        "domain",
    ]
    assert "item 'K-9'" in str(excinfo.value)


@pytest.mark.parametrize(
    ("fmt", "key", "field"),
    [
        ("single_best", {"correct": 4}, "key.correct"),
        ("sjt_rate", {"ratings": [1, 2, 5, 3]}, "key.ratings"),
        ("sjt_most_least", {"most": 2, "least": 2}, "key.most/least"),
        ("sjt_rank", {"rank": [1, 1, 2, 3]}, "key.rank"),
    ],
)
def test_bad_keys_are_named(fmt, key, field):
    with pytest.raises(ItemValidationError) as excinfo:
        make(fmt, key).validate()
    assert [name for name, _ in excinfo.value.problems] == [field]


@pytest.mark.parametrize(
    ("item", "response"),
    [
        (ITEMS[0], {"choice": 5}),
        (ITEMS[1], {"ratings": [1, 2, 3]}),
        (ITEMS[3], {"most": 1, "least": 1}),
        (ITEMS[4], {"rank": [1, 2, 3, 3]}),
        (ITEMS[4], {"choice": 1}),
    ],
)
def test_malformed_responses_are_refused(item, response):
    with pytest.raises(ItemValidationError, match="response"):
        score_response(item, response)


def test_most_least_keys_are_read_leniently():
    assert parse_key("sjt_most_least", "MOST = b, Least=D") == {"most": 1, "least": 3}


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: f"{i.format}-{i.n_options}")
def test_human_key_form_round_trips(item):
    text = format_key(item.format, item.key)
    assert parse_key(item.format, text) == dict(item.key)
    assert parse_key(item.format, text.lower().replace(" ", "  ")) == dict(item.key)


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("single_best", "G", "letter of the correct option"),
        ("single_best", "AB", "letter of the correct option"),
        ("sjt_most_least", "most=B", "most=<letter> least=<letter>"),
        ("sjt_rate", "1 two 3", "whole numbers"),
        ("essay", "x", "unknown item format"),
    ],
)
def test_bad_human_keys_say_what_was_expected(fmt, text, message):
    with pytest.raises(ValueError, match=message):
        parse_key(fmt, text)
