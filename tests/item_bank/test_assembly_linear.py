"""Fixed and linear-on-the-fly forms: blueprint conformity, enemies, pretest seeding, option shuffling."""

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item_bank.assembly import (
    AssemblyError,
    Blueprint,
    BlueprintError,
    Form,
    ItemPool,
    assemble_fixed,
    assemble_loft,
    displayed_options,
    enemy_map,
    seed_pretest,
    shuffle_form,
    shuffle_options,
    shuffle_response,
    unshuffle_response,
)
from item_bank.irt.models import random_item_parameters
from item_bank.items import ItemSpec, LanguageVersion, score_response


def make_pool(rng, per_category, n_categories=4, group_size=2, n_groups=30, n_pretest=6, model="2pl"):
    """A pool with ``per_category`` items in each of ``n_categories`` categories and disjoint random enemy
    sets (each item in at most one set, so a drawn item blocks at most ``group_size - 1`` others)."""
    n_items = per_category * n_categories
    params = random_item_parameters(n_items, model, rng)
    names = [f"cat{c}" for c in range(n_categories)]
    categories = {item: names[j % n_categories] for j, item in enumerate(params.item_ids)}
    pretest = tuple(f"p{k:02d}" for k in range(n_pretest))
    everything = [*params.item_ids, *pretest]
    shuffled = rng.permutation(everything).tolist()
    groups = [
        shuffled[k : k + group_size] for k in range(0, min(n_groups * group_size, len(shuffled)), group_size)
    ]
    return ItemPool(params, categories, enemy_map(groups), pretest_ids=pretest), names


def check_form(pool, blueprint, form):
    scored = form.scored_ids
    assert len(set(form.item_ids)) == len(form.item_ids)
    assert Counter(pool.category(i) for i in scored) == Counter(
        {c: n for c, n in blueprint.counts.items() if n}
    )
    present = set(form.item_ids)
    for item in form.item_ids:
        assert not pool.enemies_of(item) & present, f"{item} sits with an enemy"
    if blueprint.difficulty is not None:
        loc = pool.location[[pool.unified_index(i) for i in scored]]
        assert np.all((loc >= blueprint.difficulty[0]) & (loc <= blueprint.difficulty[1]))
    assert len(form.pretest) == blueprint.n_pretest
    assert all(pool.is_pretest(p) for p in form.pretest)


# --------------------------------------------------------------------------------------------------------
# LOFT
# --------------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_categories=st.integers(1, 4),
    counts=st.lists(st.integers(0, 5), min_size=4, max_size=4),
    group_size=st.integers(2, 3),
    n_pretest=st.integers(0, 3),
    window=st.booleans(),
)
def test_loft_meets_the_blueprint_exactly_and_never_puts_enemies_together(
    seed, n_categories, counts, group_size, n_pretest, window
):
    rng = np.random.default_rng(seed)
    counts = counts[:n_categories]
    if sum(counts) == 0:
        counts[0] = 1
    length = sum(counts)
    # At most 23 drawn items each block at most 2 others: 80 items per category (about 70 inside the window)
    # keep every blueprint here feasible whatever the enemies.
    per_category = 80
    pool, names = make_pool(rng, per_category, n_categories, group_size, n_groups=40, n_pretest=12)
    blueprint = Blueprint(
        dict(zip(names, counts, strict=True)), difficulty=(-1.5, 1.5) if window else None, n_pretest=n_pretest
    )
    form = assemble_loft(pool, blueprint, rng)
    check_form(pool, blueprint, form)
    assert len(form.item_ids) == length + n_pretest


def test_loft_is_deterministic_given_the_generator_state():
    pool, names = make_pool(np.random.default_rng(1), 30)
    blueprint = Blueprint(dict.fromkeys(names, 3), n_pretest=2)
    first = assemble_loft(
        pool, blueprint, np.random.default_rng(7), n_options=dict.fromkeys(pool.item_ids, 4)
    )
    again = assemble_loft(
        pool, blueprint, np.random.default_rng(7), n_options=dict.fromkeys(pool.item_ids, 4)
    )
    other = assemble_loft(pool, blueprint, np.random.default_rng(8))
    assert first == again
    assert first.item_ids != other.item_ids


def test_loft_prefers_less_exposed_items():
    rng = np.random.default_rng(2)
    pool, names = make_pool(rng, 40, n_groups=0)
    blueprint = Blueprint(dict.fromkeys(names, 5))
    exposure = {item: (1000.0 if (j // 4) % 2 else 0.0) for j, item in enumerate(pool.item_ids)}
    seen = Counter()
    for _ in range(50):
        seen.update(assemble_loft(pool, blueprint, rng, exposure).item_ids)
    heavy = sum(n for item, n in seen.items() if exposure[item] > 0)
    # Weights 1/1001 against 1: about 20 of 1000 draws would come from the exposed half.
    assert heavy < 0.05 * sum(seen.values())


def test_loft_exposure_counts_spread_use_over_the_pool():
    rng = np.random.default_rng(3)
    pool, names = make_pool(rng, 20, n_groups=0)
    blueprint = Blueprint(dict.fromkeys(names, 5))
    spread = {}
    for weighted in (True, False):
        counts = np.zeros(pool.n_items)
        for _ in range(100):
            form = assemble_loft(pool, blueprint, rng, counts if weighted else None)
            counts[[pool.unified_index(i) for i in form.item_ids]] += 1
        spread[weighted] = counts.std()
    # 100 forms x 5 of 20 items per category: 25 uses each on average; unweighted draws scatter with SD ~4.3.
    assert spread[True] < 0.5 * spread[False]


def test_loft_respects_sympson_hetter_k_of_zero():
    rng = np.random.default_rng(4)
    pool, names = make_pool(rng, 10, n_categories=2, n_groups=0)
    k = np.where(np.arange(pool.n_items) % 4 == 0, 0.0, 1.0)
    pool = pool.with_exposure(k)
    for _ in range(20):
        form = assemble_loft(pool, Blueprint({names[0]: 3, names[1]: 3}), rng)
        assert all(k[pool.unified_index(i)] == 1.0 for i in form.item_ids)


def test_loft_delivery_order_by_blueprint_groups_categories():
    rng = np.random.default_rng(5)
    pool, names = make_pool(rng, 20)
    blueprint = Blueprint({names[2]: 2, names[0]: 3, names[1]: 1})
    form = assemble_loft(pool, blueprint, rng, order="blueprint")
    assert [pool.category(i) for i in form.item_ids] == [names[2]] * 2 + [names[0]] * 3 + [names[1]]


@pytest.mark.parametrize(
    ("blueprint", "pattern"),
    [
        (Blueprint({"cat0": 11}), r"category 'cat0' needs 11 items but the pool has 10"),
        (Blueprint({"cat0": 2, "nowhere": 1}), r"category 'nowhere' needs 1 items but the pool has 0"),
        (
            Blueprint({"cat1": 3}, difficulty=(5.0, 6.0)),
            r"category 'cat1' needs 3 .* location in \[5.0, 6.0\]",
        ),
        (Blueprint({"cat0": 1}, n_pretest=7), r"7 pretest items .* the pool has 6"),
        (Blueprint({"cat0": 0}), r"selects no items"),
    ],
)
def test_impossible_blueprints_give_a_clear_error(blueprint, pattern):
    pool, _ = make_pool(np.random.default_rng(6), 10, n_groups=0)
    with pytest.raises(BlueprintError, match=pattern):
        assemble_loft(pool, blueprint, np.random.default_rng(0))


def test_enemies_that_make_a_category_unfillable_are_named():
    params = random_item_parameters(6, "2pl", np.random.default_rng(7))
    ids = params.item_ids
    categories = {i: ("law" if j < 3 else "ethics") for j, i in enumerate(ids)}
    pool = ItemPool(params, categories, enemy_map([ids[:3]]))  # the three law items are mutual enemies
    blueprint = Blueprint({"law": 2, "ethics": 1})
    blueprint.validate(pool)  # counts alone are fine
    with pytest.raises(BlueprintError, match=r"category 'law' needs 2 items but enemies") as info:
        assemble_loft(pool, blueprint, np.random.default_rng(0), max_tries=3)
    assert info.value.category == "law"


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"counts": {"a": -1}}, r"category 'a': count must be a whole number >= 0, got -1"),
        ({"counts": {"a": 1.5}}, r"category 'a'"),
        ({"difficulty": (1.0, -1.0)}, r"low <= high"),
        ({"n_pretest": -2}, r"n_pretest"),
    ],
)
def test_malformed_blueprints_are_refused(kwargs, pattern):
    with pytest.raises(BlueprintError, match=pattern):
        Blueprint(**kwargs)


def test_blueprint_dict_round_trip():
    blueprint = Blueprint({"civil": 4, "criminal": 2}, difficulty=(-2.0, 2.5), n_pretest=1)
    assert Blueprint.from_dict(json.loads(json.dumps(blueprint.to_dict()))) == blueprint
    with pytest.raises(BlueprintError, match=r"unknown blueprint keys \['count'\]"):
        Blueprint.from_dict({"count": {"civil": 1}})


# --------------------------------------------------------------------------------------------------------
# Fixed forms and pretest seeding
# --------------------------------------------------------------------------------------------------------


def small_pool():
    params = random_item_parameters(8, "2pl", np.random.default_rng(8))
    ids = params.item_ids
    return ItemPool(
        params, enemies=enemy_map([[ids[0], ids[1]], [ids[2], "p1"]]), pretest_ids=("p1", "p2", "p3")
    )


def test_fixed_form_keeps_the_given_order_and_marks_pretest_items():
    pool = small_pool()
    ids = pool.item_ids
    form = assemble_fixed(pool, [ids[3], "p2", ids[0]])
    assert form.item_ids == (ids[3], "p2", ids[0])
    assert form.pretest == ("p2",)
    assert form.scored_ids == (ids[3], ids[0])


@pytest.mark.parametrize(
    ("items", "pattern"),
    [
        (["i001", "i002"], r"items 'i001' and 'i002' are enemies"),
        (["i001", "nope"], r"item 'nope' is not in the pool"),
        (["i004", "i004"], r"item 'i004' appears twice"),
        ([], r"at least one item"),
    ],
)
def test_fixed_forms_are_checked(items, pattern):
    with pytest.raises(AssemblyError, match=pattern):
        assemble_fixed(small_pool(), items)


def test_seeded_pretest_items_avoid_enemies_and_land_at_the_given_positions():
    pool = small_pool()
    ids = pool.item_ids
    for seed in range(20):
        form = seed_pretest(pool, [ids[2], ids[4], ids[5]], 2, np.random.default_rng(seed), positions=[0, 4])
        assert form.item_ids[1:4] == (ids[2], ids[4], ids[5])
        assert set(form.pretest) == {"p2", "p3"}  # p1 is an enemy of ids[2]
        assert form.item_ids[0] in form.pretest and form.item_ids[4] in form.pretest
    with pytest.raises(AssemblyError, match=r"only 2 of 3 pretest items"):
        seed_pretest(pool, [ids[2]], 3, np.random.default_rng(0))
    with pytest.raises(AssemblyError, match=r"distinct positions in 0..2"):
        seed_pretest(pool, [ids[4]], 2, np.random.default_rng(0), positions=[0, 3])


def test_fixed_form_with_seeded_pretest_and_shuffled_options():
    pool = small_pool()
    ids = pool.item_ids
    form = assemble_fixed(
        pool, [ids[4], ids[5], ids[6]], np.random.default_rng(1), pretest=1, n_options={ids[4]: 4, ids[6]: 5}
    )
    assert len(form.item_ids) == 4 and len(form.pretest) == 1
    assert set(form.permutations) == {ids[4], ids[6]}
    assert sorted(form.permutations[ids[6]]) == list(range(5))
    assert Form.from_dict(json.loads(json.dumps(form.to_dict()))) == form
    with pytest.raises(AssemblyError, match="needs an rng"):
        assemble_fixed(pool, [ids[4]], pretest=1)


# --------------------------------------------------------------------------------------------------------
# Option shuffling
# --------------------------------------------------------------------------------------------------------


@st.composite
def permuted_responses(draw):
    n = draw(st.integers(4, 6))
    perm = tuple(draw(st.permutations(range(n))))
    kind = draw(st.sampled_from(["choice", "most_least", "ratings", "rank"]))
    if kind == "choice":
        response = {"choice": draw(st.integers(0, n - 1))}
    elif kind == "most_least":
        most, least = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
        response = {"most": most, "least": least}
    elif kind == "ratings":
        response = {"ratings": draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))}
    else:
        response = {"rank": list(draw(st.permutations(range(1, n + 1))))}
    return perm, response


@settings(max_examples=300, deadline=None)
@given(permuted_responses())
def test_shuffling_and_unshuffling_round_trip_for_every_response_shape(case):
    perm, original = case
    shown = shuffle_response(original, perm)
    assert unshuffle_response(shown, perm) == original
    assert shuffle_response(unshuffle_response(original, perm), perm) == original


@settings(max_examples=100, deadline=None)
@given(st.permutations(range(5)), st.integers(0, 4))
def test_a_click_on_a_shuffled_option_scores_as_the_option_it_shows(perm, clicked):
    options = ("A text", "B text", "C text", "D text", "E text")
    item = ItemSpec("K1", "single_best", {"ru": LanguageVersion("stem", options)}, {"correct": 2})
    shown = displayed_options(options, perm)
    answer = unshuffle_response({"choice": clicked}, perm)
    assert options[answer["choice"]] == shown[clicked]
    assert score_response(item, answer) == int(shown[clicked] == "C text")


def test_rank_given_on_shuffled_options_is_reordered_to_the_original_options():
    perm = (2, 0, 1, 3)  # displayed: C, A, B, D
    # The candidate ranks the displayed options C=1, A=2, B=3, D=4.
    assert unshuffle_response({"rank": [1, 2, 3, 4]}, perm) == {"rank": [2, 3, 1, 4]}
    assert unshuffle_response({"most": 0, "least": 3}, perm) == {"most": 2, "least": 3}


def test_shuffle_options_is_a_permutation_and_bad_input_is_refused():
    rng = np.random.default_rng(9)
    drawn = {shuffle_options(4, rng) for _ in range(200)}
    assert len(drawn) == 24  # every order of four options occurs
    with pytest.raises(ValueError, match="not a permutation"):
        unshuffle_response({"choice": 0}, [0, 0, 1])
    with pytest.raises(ValueError, match=r"'choice' must be an option position 0..2, got 3"):
        unshuffle_response({"choice": 3}, [2, 0, 1])
    with pytest.raises(ValueError, match=r"'ratings' must list one value per option \(3\)"):
        unshuffle_response({"ratings": [1, 2]}, [2, 0, 1])


def test_shuffle_form_only_touches_listed_items():
    form = Form(("a", "b", "c"), pretest=("b",))
    shuffled = shuffle_form(form, {"a": 4, "c": 6}, np.random.default_rng(0))
    assert set(shuffled.permutations) == {"a", "c"} and shuffled.item_ids == form.item_ids


# --------------------------------------------------------------------------------------------------------
# The pool
# --------------------------------------------------------------------------------------------------------


def test_pool_from_bank_items_takes_operational_items_with_parameters_and_pretest_items():
    params = random_item_parameters(3, "2pl", np.random.default_rng(10), item_ids=["K1", "K2", "K3"])
    version = {"ru": LanguageVersion("stem", ("a", "b", "c", "d"))}

    def spec(code, status, domain="civil", enemies=()):
        return ItemSpec(
            code, "single_best", version, {"correct": 0}, status=status, domain=domain, enemies=enemies
        )

    specs = [
        spec("K1", "operational", enemies=("K2", "GONE")),
        spec("K2", "operational", domain="criminal"),
        spec("K3", "retired"),
        spec("K4", "operational"),  # no parameters
        spec("P1", "pretest", enemies=("K1",)),
    ]
    pool = ItemPool.from_specs(specs, params)
    assert pool.item_ids == ("K1", "K2") and pool.pretest_ids == ("P1",)
    assert pool.categories == {"K1": "civil", "K2": "criminal", "P1": "civil"}
    assert pool.enemies_of("K1") == {"K2", "P1"} and pool.enemies_of("K2") == {"K1"}


def test_pool_rejects_inconsistent_input():
    params = random_item_parameters(3, "2pl", np.random.default_rng(11))
    with pytest.raises(AssemblyError, match=r"pretest item 'i001' is listed twice"):
        ItemPool(params, pretest_ids=("i001",))
    with pytest.raises(AssemblyError, match=r"category given for item 'x'"):
        ItemPool(params, categories={"x": "civil"})
    with pytest.raises(AssemblyError, match=r"item 'i002': Sympson-Hetter K must lie in \[0, 1\], got 1.5"):
        ItemPool(params, exposure_k=[1.0, 1.5, 0.2])
