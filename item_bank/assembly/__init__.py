"""Form assembly: fixed forms, linear-on-the-fly forms from a blueprint, adaptive selection, simulation.

Pure numpy/scipy. A section draws from an :class:`ItemPool` (operational items with approved parameters,
content categories, enemies, Sympson-Hetter parameters, unscored pretest items) in one of three modes:

* ``fixed``: :func:`assemble_fixed`, a given ordered list, checked;
* ``loft``: :func:`assemble_loft`, a linear form per candidate meeting a :class:`Blueprint` exactly;
* ``cat``: a :class:`CATSession` per candidate, configured by a :class:`CATDesign` (selection rules in
  :data:`SELECTORS`, stopping rules in :data:`STOPPING_RULES`).

Linear forms are :class:`Form` objects (delivery order, pretest items, option permutations; see
:func:`shuffle_options` and :func:`unshuffle_response`). :func:`simulate_design` reports the precision,
reliability, length and exposure of a design before it is used; :func:`calibrate_sympson_hetter` finds
exposure-control parameters. :mod:`item_bank.assembly.design` reads designs from JSON.
"""

from item_bank.assembly.blueprint import Blueprint, BlueprintError
from item_bank.assembly.cat import (
    SELECTORS,
    STOPPING_RULES,
    CATDesign,
    CATSession,
    StoppingRule,
    select_items,
)
from item_bank.assembly.design import MODES, DesignError, ExamDesign, SectionDesign, load_design
from item_bank.assembly.linear import (
    Form,
    assemble_fixed,
    assemble_loft,
    displayed_options,
    exposure_weights,
    seed_pretest,
    shuffle_form,
    shuffle_options,
    shuffle_response,
    unshuffle_response,
)
from item_bank.assembly.pool import AssemblyError, ItemPool, enemy_map, item_locations
from item_bank.assembly.simulation import (
    DesignReport,
    SympsonHetterCalibration,
    calibrate_sympson_hetter,
    format_report,
    simulate_design,
)

__all__ = [
    "MODES",
    "SELECTORS",
    "STOPPING_RULES",
    "AssemblyError",
    "Blueprint",
    "BlueprintError",
    "CATDesign",
    "CATSession",
    "DesignError",
    "DesignReport",
    "ExamDesign",
    "Form",
    "ItemPool",
    "SectionDesign",
    "StoppingRule",
    "SympsonHetterCalibration",
    "assemble_fixed",
    "assemble_loft",
    "calibrate_sympson_hetter",
    "displayed_options",
    "enemy_map",
    "exposure_weights",
    "format_report",
    "item_locations",
    "load_design",
    "seed_pretest",
    "select_items",
    "shuffle_form",
    "shuffle_options",
    "shuffle_response",
    "simulate_design",
    "unshuffle_response",
]
