"""Adaptive (CAT) sections in delivery: the pool snapshot taken at assembly, the session restored from SQL.

The snapshot fixes, when the candidate's form is assembled, everything that selection depends on: the pool's
operational and pretest items, their content categories and enemies; the item versions and parameter sets
are pinned with the rest of the form. Every later step rebuilds the same pool from the snapshot and replays
the stored responses (:meth:`item_bank.assembly.CATSession.from_dict`), so what the bank does meanwhile
never changes a running section, and a sitting can be reproduced.

A section's config is a :class:`~item_bank.assembly.CATDesign` as a dict (the ``cat`` section keys of
:mod:`item_bank.assembly.design`: ``selection``, ``randomesque_k``, ``stop``, ``blueprint``, ...).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from assessment.bank import repository
from assessment.bank.models import Item, ItemFamily, ItemStatus, ParameterSet
from assessment.delivery.exposure import exposure_of
from assessment.extensions import db
from item_bank.assembly import AssemblyError, CATDesign, CATSession, ItemPool, SectionDesign
from item_bank.items import score_response

_POOLS: OrderedDict[str, ItemPool] = OrderedDict()
_POOLS_LOCK = threading.Lock()
POOL_CACHE_SIZE = 32  # a room shares one snapshot, so its pool (and its information table) is built once


def design_of(config: Mapping[str, Any]) -> CATDesign:
    """The section's adaptive design; raises AssemblyError (with the offending key) when it is malformed."""
    design = SectionDesign.from_dict({"mode": "cat", **config}).cat
    assert design is not None
    return design


def plan(
    family: str, config: Mapping[str, Any], rng: np.random.Generator
) -> tuple[dict[str, Any], dict[str, int], dict[str, Any]]:
    """Snapshot the pool of a candidate's adaptive section and start its (empty) session.

    Returns the planned section (as stored in ``attempt.form``), the parameter set id of every operational
    pool item, and the session state. Raises AssemblyError when the pool cannot serve the design.
    """
    design = design_of(config)
    statuses = [ItemStatus.OPERATIONAL] + ([ItemStatus.PRETEST] if design.n_pretest else [])
    rows = list(
        db.session.execute(
            db.select(Item).where(Item.family == ItemFamily(family), Item.status.in_(statuses))
        ).scalars()
    )
    approved = [i.approved_parameters for i in rows if i.status is ItemStatus.OPERATIONAL]
    sets = [p for p in approved if p is not None]
    if not sets:
        raise AssemblyError(f"no operational {family} item has approved parameters")
    pool = ItemPool.from_specs([repository.spec_of(i) for i in rows], repository.item_parameters_of(sets))
    design.validate(pool)
    session = CATSession.start(pool, design, rng, exposure=exposure_of(rows))
    snapshot = {
        "items": list(pool.item_ids),
        "pretest": list(pool.pretest_ids),
        "categories": dict(pool.categories),
        "enemies": {code: sorted(others) for code, others in sorted(pool.enemies.items())},
    }
    planned = {
        "mode": "cat",
        "items": [],  # the administered items, written when the section closes (what is scored)
        "pretest": [code for _, code in session.pretest_plan],
        "permutations": {},
        "pool": snapshot,
        "max_items": design.max_length + design.n_pretest,
    }
    operational = set(pool.item_ids)
    pinned = {p.item.code: p.id for p in sets if p.item.code in operational}
    return planned, pinned, session.to_dict()


def pool_of(planned: Mapping[str, Any], pinned: Mapping[str, int]) -> ItemPool:
    """The pool of a planned adaptive section, with the pinned parameter sets (cached by content)."""
    snapshot = planned["pool"]
    ids = [pinned[code] for code in snapshot["items"]]
    key = hashlib.sha256(json.dumps([snapshot, ids], sort_keys=True).encode()).hexdigest()
    with _POOLS_LOCK:
        if key in _POOLS:
            _POOLS.move_to_end(key)
            return _POOLS[key]
    sets = {
        p.id: p for p in db.session.execute(db.select(ParameterSet).where(ParameterSet.id.in_(ids))).scalars()
    }
    pool = ItemPool(
        params=repository.item_parameters_of([sets[i] for i in ids]),
        categories=snapshot["categories"],
        enemies={code: frozenset(others) for code, others in snapshot["enemies"].items()},
        pretest_ids=tuple(snapshot["pretest"]),
    )
    with _POOLS_LOCK:
        _POOLS[key] = pool
        while len(_POOLS) > POOL_CACHE_SIZE:
            _POOLS.popitem(last=False)
    return pool


def restore(
    planned: Mapping[str, Any], pinned: Mapping[str, int], config: Mapping[str, Any], state: Any
) -> CATSession:
    """The candidate's session as stored in SQL."""
    return CATSession.from_dict(pool_of(planned, pinned), design_of(config), state or {})


def category_score(item: Item, version: Any, response: Mapping[str, Any] | None, *, pretest: bool) -> int:
    """The category score the session records: an operational item left unanswered counts 0, as in scoring
    (so that skipping a hard question cannot raise theta); a pretest item without an answer gives -1."""
    score = score_response(repository.spec_of(item, version), response)
    if score is None:
        return -1 if pretest else 0
    return score
