"""The one place where bank rows become ``item_bank`` objects and back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from assessment.bank.models import Item, ItemVersion, ParameterSet, Stimulus
from item_bank.irt.models import ItemParameters
from item_bank.items import ItemSpec, LanguageVersion
from item_bank.items import Stimulus as StimulusSpec


def content_of(spec: ItemSpec) -> dict[str, dict[str, object]]:
    return {
        lang: {"stem": v.stem, "options": list(v.options), "state": v.state}
        for lang, v in spec.versions.items()
    }


def spec_of(item: Item, version: ItemVersion | None = None) -> ItemSpec:
    """The item at ``version`` (default: its latest) as a pure :class:`ItemSpec`."""
    version = version or item.current
    return ItemSpec(
        code=item.code,
        format=item.format.value,
        versions={
            lang: LanguageVersion(stem=v["stem"], options=tuple(v["options"]), state=v.get("state", "draft"))
            for lang, v in version.content.items()
        },
        key=dict(version.key),
        status=item.status.value,
        domain=item.domain,
        topic=item.topic,
        competence=item.competence,
        tags=tuple(item.tags or ()),
        enemies=tuple(e.code for e in item.enemies),
        stimulus=version.stimulus.code if version.stimulus else None,
        scoring=dict(version.scoring or {}),
    )


def stimulus_spec_of(row: Stimulus) -> StimulusSpec:
    return StimulusSpec(code=row.code, texts=dict(row.texts), title=dict(row.title or {}))


def item_parameters_of(sets: Sequence[ParameterSet]) -> ItemParameters:
    """Parameter sets of several items as the IRT engine's :class:`ItemParameters` (NaN-padded thresholds)."""
    width = max((len(p.b) for p in sets), default=1)
    b = np.full((len(sets), width), np.nan)
    for row, p in enumerate(sets):
        b[row, : len(p.b)] = p.b
    return ItemParameters.from_arrays(
        item_ids=[p.item.code for p in sets],
        model=[p.model for p in sets],
        a=np.array([p.a for p in sets], dtype=float),
        b=b,
        c=np.array([p.c for p in sets], dtype=float),
    )


def codes(items: Iterable[Item]) -> list[str]:
    return [i.code for i in items]
