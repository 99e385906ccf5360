"""What the campaign pages, the PDF report and the CSV show: labels, number formats, ranking rows, charts."""

from __future__ import annotations

import math
from typing import Any

from flask_babel import gettext as _

from assessment.results import campaigns
from assessment.results.plots import BandRow, band_chart


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def cut_label(status: str | None) -> str:
    labels = {
        "above": _("clearly above the cut"),
        "below": _("clearly below the cut"),
        "not distinguishable": _("not distinguishable from the cut"),
        "not ranked": _("not ranked"),
        "removed": _("removed by a minimum"),
    }
    return labels.get(status or "", "")


def ranking_rows(standing: campaigns.Standing) -> list[dict[str, Any]]:
    """One row per candidate, ranked first: the candidate, the trace shown, minimums that removed them."""
    by_code = {c.code: c for c in standing.campaign.candidates}
    return [
        {
            "code": code,
            "candidate": by_code[code],
            "trace": standing.trace(code),
            "removed": standing.removed.get(code),
            "status": standing.status(code),
        }
        for code in standing.code_order()
    ]


def ranking_chart(standing: campaigns.Standing, rows: list[dict[str, Any]]) -> Any:
    bands = [
        BandRow(r["code"], r["trace"].composite, r["trace"].lower, r["trace"].upper, muted=bool(r["removed"]))
        for r in rows
        if r["trace"] is not None and r["trace"].composite is not None
    ]
    level = round(standing.campaign.level * 100)
    return band_chart(
        bands,
        title=_("Composite with %(level)d%% bands", level=level),
        description=_(
            "Each candidate's composite (standard-score units) with its confidence band; "
            "the dashed line is the cut."
        ),
        axis_label=_("Composite (standard-score units)"),
        cut=standing.cut.cut if standing.cut else None,
        cut_label=_("cut"),
    )


def profile_charts(data: dict[str, Any]) -> dict[str, Any]:
    """Band charts of the legal-domain and the competence sub-scores of a profile (those it has)."""
    level = round(data["level"] * 100)
    titles = {
        "domains": (
            _("Legal domains, %(level)d%% bands", level=level),
            _("Domain sub-scores on the bank scale; dashed: too few items to interpret."),
        ),
        "competences": (
            _("Judicial competences (SJT), %(level)d%% bands", level=level),
            _("Competence sub-scores on the bank scale; dashed: too few items to interpret."),
        ),
    }
    return {
        key: band_chart(
            [BandRow(s["name"], s["theta"], s["lower"], s["upper"], muted=s["too_few"]) for s in data[key]],
            title=title,
            description=description,
            axis_label=_("theta (bank scale)"),
        )
        for key, (title, description) in titles.items()
        if data[key]
    }
