"""Section and test designs, and the DESIGN.json file that describes them.

A section picks its items in one of three modes: ``fixed`` (a given ordered list), ``loft`` (a linear form
assembled per candidate from a blueprint) or ``cat`` (adaptive). :class:`SectionDesign` holds one section;
:func:`load_design` reads a whole design file against the item parameters and returns the pool and the
sections.

DESIGN.json (read by ``python -m item_bank simulate-test``)::

    {
      "categories": {"K001": "civil", "K002": "criminal", "P001": "civil"},
      "enemies": [["K001", "K007"], ["K010", "K011", "K012"]],
      "pretest": ["P001", "P002", "P003"],
      "sympson_hetter": {"K001": 0.42},
      "sections": [
        {"name": "Law, fixed form", "mode": "fixed", "items": ["K001", "K002", "K003"], "pretest": 1},
        {"name": "Law, LOFT", "mode": "loft", "order": "random",
         "blueprint": {"counts": {"civil": 10, "criminal": 10}, "difficulty": [-2.5, 2.5], "pretest": 2}},
        {"name": "Law, adaptive", "mode": "cat", "selection": "randomesque", "randomesque_k": 5,
         "blueprint": {"counts": {"civil": 10, "criminal": 10}},
         "stop": {"target_se": 0.3, "max_length": 20, "min_length": 10},
         "pretest": 2, "pretest_positions": [4, 9], "prior": [0.0, 1.0]}
      ]
    }

Top level (every key but ``sections`` optional):

``categories``
    Item id -> content category (legal domain or judicial competence). Items without one are never counted
    by a blueprint (and never chosen by a blueprint with counts).
``enemies``
    Enemy sets (every two items of a set are enemies), or an object item -> list of its enemies.
``pretest``
    Ids of the unscored pretest items (they need no parameters).
``sympson_hetter``
    Item id -> Sympson-Hetter ``K_j`` in [0, 1] (default 1), e.g. from a calibration run.
``sections``
    A non-empty list of sections, each with ``mode`` and:

    * ``fixed``: ``items`` (ordered ids; pretest ids among them are unscored);
    * ``loft``: ``blueprint`` (``counts``, optional ``difficulty`` [low, high] and ``pretest``), optional
      ``order`` (``"random"`` or ``"blueprint"``);
    * ``cat``: optional ``blueprint`` (target proportions, difficulty window, pretest count), ``selection``
      (``max_info``, ``randomesque``, ``sympson_hetter``), ``randomesque_k``, ``stop`` (``target_se``,
      ``max_length``, ``min_length``; the maximum length defaults to the blueprint's length),
      ``pretest_positions``, ``prior`` [mean, sd];
    * any mode: ``name``; ``pretest`` (a number of pretest items to seed, or for a fixed form a list of
      pretest ids; for loft and cat the same as ``blueprint.pretest``). The delivery keys of the web app's
      section (``title``, ``family``, ``time_limit_seconds``, ``shuffle_options``, ``allow_review``) are
      accepted and ignored here.

Every problem raises :class:`DesignError` whose message starts with the place in the file, e.g.
``sections[1].blueprint: category 'civil' needs 10 items but the pool has 7 operational items in it``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from item_bank.assembly.blueprint import Blueprint
from item_bank.assembly.cat import CATDesign
from item_bank.assembly.linear import ORDERS, assemble_fixed
from item_bank.assembly.pool import AssemblyError, ItemPool, enemy_map
from item_bank.irt.models import ItemParameters

__all__ = ["MODES", "DesignError", "ExamDesign", "SectionDesign", "load_design"]

MODES: tuple[str, ...] = ("fixed", "loft", "cat")
"""Section modes."""
DELIVERY_KEYS: tuple[str, ...] = ("title", "family", "time_limit_seconds", "shuffle_options", "allow_review")
"""Section keys that belong to delivery (timing, display) and are ignored by assembly."""
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "fixed": ("items",),
    "loft": ("blueprint", "order"),
    "cat": ("blueprint", "selection", "randomesque_k", "stop", "pretest_positions", "prior"),
}
_TOP_KEYS = ("categories", "enemies", "pretest", "sympson_hetter", "sections")


class DesignError(AssemblyError):
    """A design that is malformed or that the pool cannot serve; the message starts with the place."""


@dataclass(frozen=True)
class SectionDesign:
    """How one section picks its items.

    Attributes
    ----------
    mode : {"fixed", "loft", "cat"}
    name : str
    items : tuple of str
        The fixed form (mode ``fixed``).
    blueprint : Blueprint, optional
        Required for ``loft``; optional for ``cat`` (then also in ``cat.blueprint``).
    cat : CATDesign, optional
        Required for ``cat``.
    pretest : int or tuple of str
        Pretest items of a fixed form: a number to draw or given ids (loft and cat use
        ``blueprint.n_pretest``).
    order : {"random", "blueprint"}
        Delivery order of a LOFT form.
    """

    mode: str
    name: str = ""
    items: tuple[str, ...] = ()
    blueprint: Blueprint | None = None
    cat: CATDesign | None = None
    pretest: int | tuple[str, ...] = 0
    order: str = "random"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DesignError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.mode == "fixed" and not self.items:
            raise DesignError("a fixed section needs a non-empty list of items")
        if self.mode == "loft" and self.blueprint is None:
            raise DesignError("a loft section needs a blueprint")
        if self.mode == "cat" and self.cat is None:
            raise DesignError("a cat section needs a CATDesign")
        if self.order not in ORDERS:
            raise DesignError(f"order must be one of {list(ORDERS)}, got {self.order!r}")

    @property
    def n_pretest(self) -> int:
        """Pretest items seeded per candidate."""
        if self.mode == "fixed":
            return self.pretest if isinstance(self.pretest, int) else len(self.pretest)
        return 0 if self.blueprint is None else self.blueprint.n_pretest

    def validate(self, pool: ItemPool) -> SectionDesign:
        """Return ``self`` if the pool can serve this section, else raise :class:`AssemblyError`."""
        if self.mode == "fixed":
            assemble_fixed(pool, self.items)
            if isinstance(self.pretest, tuple):
                for item in self.pretest:
                    if not pool.is_pretest(item):
                        raise AssemblyError(f"pretest item {item!r} is not a pretest item of the pool")
            elif self.pretest > len(pool.pretest_ids):
                raise AssemblyError(
                    f"{self.pretest} pretest items to seed but the pool has {len(pool.pretest_ids)}"
                )
        elif self.mode == "loft":
            assert self.blueprint is not None
            if self.blueprint.length == 0:
                raise AssemblyError("the blueprint selects no items: give at least one positive count")
            self.blueprint.validate(pool)
        else:
            assert self.cat is not None
            self.cat.validate(pool)
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SectionDesign:
        """Read one section object of DESIGN.json (see the module docstring).

        Raises
        ------
        DesignError
            For unknown keys or malformed values (the message names the key; :func:`load_design` adds the
            section's place).
        """
        if not isinstance(data, Mapping):
            raise DesignError(f"a section must be an object, got {data!r}")
        mode = data.get("mode")
        if mode not in MODES:
            raise DesignError(f"mode must be one of {list(MODES)}, got {mode!r}")
        allowed = {"mode", "name", "pretest", *DELIVERY_KEYS, *_SECTION_KEYS[mode]}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise DesignError(f"unknown keys {unknown} for a {mode} section; allowed: {sorted(allowed)}")
        name = str(data.get("name", data.get("title", "")))
        pretest = data.get("pretest", 0)
        if isinstance(pretest, list):
            if mode != "fixed":
                raise DesignError("pretest: a list of pretest ids is only for fixed sections; give a number")
            pretest = tuple(str(p) for p in pretest)
        elif isinstance(pretest, bool) or not isinstance(pretest, int) or pretest < 0:
            raise DesignError(f"pretest must be a whole number >= 0 (or a list of ids), got {pretest!r}")
        try:
            if mode == "fixed":
                items = data.get("items")
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    raise DesignError(f"items must be a list of item ids, got {items!r}")
                return cls(mode=mode, name=name, items=tuple(items), pretest=pretest)
            blueprint = _blueprint(data.get("blueprint"), pretest, required=mode == "loft")
            if mode == "loft":
                return cls(mode=mode, name=name, blueprint=blueprint, order=str(data.get("order", "random")))
            return cls(mode=mode, name=name, blueprint=blueprint, cat=_cat_design(data, blueprint))
        except DesignError:
            raise
        except AssemblyError as exc:
            raise DesignError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready section object, read back by :meth:`from_dict`."""
        out: dict[str, Any] = {"mode": self.mode}
        if self.name:
            out["name"] = self.name
        if self.mode == "fixed":
            out["items"] = list(self.items)
            if self.pretest:
                out["pretest"] = self.pretest if isinstance(self.pretest, int) else list(self.pretest)
        elif self.mode == "loft":
            assert self.blueprint is not None
            out["blueprint"] = self.blueprint.to_dict()
            out["order"] = self.order
        else:
            assert self.cat is not None
            out.update(self.cat.to_dict())
        return out


def _blueprint(data: Any, pretest: Any, *, required: bool) -> Blueprint | None:
    if data is None:
        if required:
            raise DesignError("blueprint is required")
        return Blueprint(n_pretest=pretest) if pretest else None
    try:
        blueprint = Blueprint.from_dict(data)
    except AssemblyError as exc:
        raise DesignError(f"blueprint: {exc}") from exc
    if pretest:
        if blueprint.n_pretest not in (0, pretest):
            raise DesignError(
                f"pretest is {pretest} but blueprint.pretest is {blueprint.n_pretest}; give it once"
            )
        blueprint = Blueprint(blueprint.counts, blueprint.difficulty, pretest)
    return blueprint


def _cat_design(data: Mapping[str, Any], blueprint: Blueprint | None) -> CATDesign:
    stop = data.get("stop", {"target_se": 0.3})
    if not isinstance(stop, Mapping):
        raise DesignError(f"stop must be an object {{rule: value}}, got {stop!r}")
    positions = data.get("pretest_positions")
    if positions is not None and not (
        isinstance(positions, list) and all(isinstance(p, int) and not isinstance(p, bool) for p in positions)
    ):
        raise DesignError(f"pretest_positions must be a list of whole numbers, got {positions!r}")
    prior = data.get("prior", [0.0, 1.0])
    if not (isinstance(prior, list) and len(prior) == 2 and all(isinstance(v, int | float) for v in prior)):
        raise DesignError(f"prior must be [mean, sd], got {prior!r}")
    k = data.get("randomesque_k", 5)
    return CATDesign(
        blueprint=blueprint,
        selection=str(data.get("selection", "max_info")),
        randomesque_k=k,
        stop=dict(stop),
        pretest_positions=None if positions is None else tuple(positions),
        prior_mean=float(prior[0]),
        prior_sd=float(prior[1]),
    )


@dataclass(frozen=True)
class ExamDesign:
    """A whole design file: the pool (parameters plus content metadata) and the ordered sections."""

    pool: ItemPool
    sections: tuple[SectionDesign, ...]


def _id_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DesignError(f"{where} must be a list of item ids, got {value!r}")
    return list(value)


def load_design(data: Any, params: ItemParameters) -> ExamDesign:
    """Read a parsed DESIGN.json against the operational items' parameters.

    Parameters
    ----------
    data : object
        The parsed JSON (see the module docstring).
    params : ItemParameters
        Approved parameters of the operational items.

    Returns
    -------
    ExamDesign
        With every section validated against the pool.

    Raises
    ------
    DesignError
        The message starts with the place in the file (``categories``, ``sections[2].blueprint``, ...).
    """
    if not isinstance(data, Mapping):
        raise DesignError(
            f"the design must be a JSON object with a 'sections' list, got {type(data).__name__}"
        )
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise DesignError(f"unknown top-level keys {unknown}; allowed: {list(_TOP_KEYS)}")
    pretest = _id_list(data.get("pretest", []), "pretest")
    known = set(params.item_ids) | set(pretest)
    categories = data.get("categories", {})
    if not isinstance(categories, Mapping) or not all(isinstance(v, str) for v in categories.values()):
        raise DesignError(f"categories must be an object {{item id: category}}, got {categories!r}")
    for item in categories:
        if item not in known:
            raise DesignError(
                f"categories: item {item!r} is neither in the parameter file nor a pretest item"
            )
    raw_enemies = data.get("enemies", [])
    if isinstance(raw_enemies, Mapping):
        groups = [[item, *_id_list(others, f"enemies[{item!r}]")] for item, others in raw_enemies.items()]
    elif isinstance(raw_enemies, list):
        groups = [_id_list(group, f"enemies[{n}]") for n, group in enumerate(raw_enemies)]
    else:
        raise DesignError(
            f"enemies must be a list of enemy sets or an object item -> enemies, got {raw_enemies!r}"
        )
    for n, group in enumerate(groups):
        for item in group:
            if item not in known:
                raise DesignError(
                    f"enemies[{n}]: item {item!r} is neither in the parameter file nor a pretest item"
                )
    exposure = data.get("sympson_hetter")
    if exposure is not None and not (
        isinstance(exposure, Mapping) and all(isinstance(v, int | float) for v in exposure.values())
    ):
        raise DesignError(f"sympson_hetter must be an object {{item id: K}}, got {exposure!r}")
    try:
        pool = ItemPool(
            params=params,
            categories=dict(categories),
            enemies=enemy_map(groups),
            exposure_k=None if exposure is None else dict(exposure),
            pretest_ids=tuple(pretest),
        )
    except AssemblyError as exc:
        raise DesignError(f"pool: {exc}") from exc
    sections = data.get("sections")
    if not isinstance(sections, Sequence) or isinstance(sections, str) or not sections:
        raise DesignError("sections must be a non-empty list of section objects")
    out: list[SectionDesign] = []
    for n, section in enumerate(sections):
        try:
            out.append(SectionDesign.from_dict(section).validate(pool))
        except AssemblyError as exc:
            raise DesignError(f"sections[{n}]: {exc}") from exc
    return ExamDesign(pool=pool, sections=tuple(out))
