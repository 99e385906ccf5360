"""The printable campaign report (PDF): the ranking with bands and each candidate's profile with its plots.

fpdf2 lays the pages out and draws the same SVG band charts as the web pages (vector, so they print sharp);
Roboto (Apache 2.0, from the font-roboto package) is embedded because the PDF core fonts have no Cyrillic,
and reports are read in Kazakh and Russian.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import font_roboto
from flask_babel import gettext as _
from flask_babel import pgettext
from fpdf import FPDF

from assessment.results import campaigns
from assessment.results.presenter import cut_label, fmt, profile_charts, ranking_chart, ranking_rows

FONT_DIR = Path(font_roboto.__file__).parent / "files"
FAMILY = "Roboto"


def _pdf(title: str) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("Tandau")
    pdf.add_font(FAMILY, "", str(FONT_DIR / "Roboto-Regular.ttf"))
    pdf.add_font(FAMILY, "B", str(FONT_DIR / "Roboto-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    return pdf


def _heading(pdf: FPDF, text: str, size: int = 14) -> None:
    pdf.set_font(FAMILY, "B", size)
    pdf.multi_cell(0, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(FAMILY, "", 9)


def _para(pdf: FPDF, text: str) -> None:
    pdf.set_font(FAMILY, "", 9)
    pdf.multi_cell(0, 4.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _table(
    pdf: FPDF, header: list[str], rows: list[list[Any]], widths: tuple[int, ...] | None = None
) -> None:
    pdf.set_font(FAMILY, "", 8)
    with pdf.table(
        col_widths=widths, text_align="LEFT", line_height=4.5, first_row_as_headings=True
    ) as table:
        table.row([str(h) for h in header])
        for row in rows:
            table.row(["" if v is None else str(v) for v in row])
    pdf.ln(2)


def _chart(pdf: FPDF, svg: Any, width: float = 170) -> None:
    # fpdf2 draws SVG text with the document's fonts; <title>/<desc> are for screen readers only
    source = str(svg).replace("<svg ", f'<svg font-family="{FAMILY}" ', 1)
    logger = logging.getLogger("fpdf.svg")
    level = logger.level
    logger.setLevel(logging.ERROR)  # it notes every <title> and <desc> it skips
    try:
        pdf.image(io.BytesIO(source.encode()), w=width)
    finally:
        logger.setLevel(level)
    pdf.ln(2)


def _ranking_pages(pdf: FPDF, standing: campaigns.Standing, *, show_names: bool) -> None:
    campaign = standing.campaign
    pdf.add_page()
    _heading(pdf, _("Ranking") + ": " + campaign.name, 16)
    _para(
        pdf,
        _(
            "Every stage counts for every candidate: the composite is the weighted sum of the standardised "
            "stage scores, and its band shows the measurement error carried through from every stage."
        ),
    )
    stage_rows = []
    for j, g in enumerate(standing.stages):
        std = standing.result.stages[j] if standing.result else None
        stage_rows.append(
            [
                g.name,
                fmt(float(standing.result.weights[j]), 3) if standing.result else g.stage.weight,
                int(g.scores.scored.sum()),
                fmt(std.mean) if std else "—",
                fmt(std.sd) if std else "—",
                fmt(std.reliability) if std else "—",
            ]
        )
    _table(pdf, [_("Stage"), _("Weight"), _("Scored"), _("Mean"), _("SD"), _("Reliability")], stage_rows)
    if standing.problem:
        _para(pdf, _("No composite yet:") + " " + standing.problem)
        return
    _para(
        pdf,
        _(
            "Composite reliability (Mosier): %(r)s. Bands: %(level)s%%.",
            r=fmt(standing.result.reliability),
            level=round(campaign.level * 100),
        ),
    )
    if standing.cut is not None:
        cut = standing.cut
        _para(
            pdf,
            _(
                "Cut at %(cut)s (the composite of place %(places)s).",
                cut=fmt(cut.cut),
                places=cut.places or "—",
            )
            + " "
            + _(
                "Clearly above: %(a)d; clearly below: %(b)d; not distinguishable from the cut: %(n)d.",
                a=len(cut.clearly_above),
                b=len(cut.clearly_below),
                n=len(cut.not_distinguishable),
            )
            + " "
            + _(
                "Classification consistency: %(p)s%% of the decisions would be the same on a parallel test "
                "(kappa %(k)s).",
                p=round(cut.expected_consistency * 100, 1),
                k=fmt(cut.kappa),
            ),
        )
    rows = ranking_rows(standing)
    table = []
    for r in rows:
        t = r["trace"]
        ranked = t is not None and t.rank is not None and not r["removed"]
        table.append(
            [
                t.rank if ranked else "—",
                f"{t.best_rank}–{t.worst_rank}" if ranked else "—",
                r["code"] + (" " + r["candidate"].user.full_name if show_names else ""),
                fmt(t.composite if t else None, 3),
                fmt(t.se if t else None, 3),
                f"{fmt(t.lower)} … {fmt(t.upper)}"
                if t and t.composite is not None
                else (t.reason if t else "") or "",
                cut_label(r["status"]),
            ]
        )
    _table(
        pdf,
        [
            pgettext("ranking", "Rank"),
            _("Rank range"),
            _("Candidate"),
            _("Composite"),
            _("SE"),
            _("Band"),
            _("At the cut"),
        ],
        table,
        (12, 18, 40, 20, 14, 34, 32),
    )
    _chart(pdf, ranking_chart(standing, rows))


def _profile_page(pdf: FPDF, standing: campaigns.Standing, code: str, *, show_names: bool) -> None:
    data = campaigns.profile(standing, code)
    pdf.add_page()
    title = _("Candidate %(code)s", code=code)
    if show_names:
        title += " — " + data["candidate"].user.full_name
    _heading(pdf, title, 15)
    _para(pdf, standing.campaign.name)
    t = data["trace"]
    if t is not None and t.composite is not None:
        _para(
            pdf,
            _(
                "Composite %(c)s (SE %(se)s), band %(lo)s to %(hi)s; rank %(rank)s, plausible ranks "
                "%(best)s to %(worst)s.",
                c=fmt(t.composite, 3),
                se=fmt(t.se, 3),
                lo=fmt(t.lower),
                hi=fmt(t.upper),
                rank=t.rank or "—",
                best=t.best_rank or "—",
                worst=t.worst_rank or "—",
            )
            + " "
            + cut_label(data["cut_status"]),
        )
    elif data["removed_by"]:
        _para(pdf, _("Removed by the minimum of: %(stages)s.", stages=", ".join(data["removed_by"])))
    else:
        _para(pdf, _("No composite yet.") + " " + ((t.reason if t else None) or ""))
    _table(
        pdf,
        [_("Stage"), _("Score"), _("SE"), _("Band"), _("Reported")],
        [
            [
                s["stage"],
                fmt(s["score"]),
                fmt(s["se"]),
                f"{fmt(s['lower'])} … {fmt(s['upper'])}" if s["lower"] is not None else (s["problem"] or "—"),
                "—" if s["reported"] is None else s["reported"],
            ]
            for s in data["stages"]
        ],
        (40, 20, 20, 60, 30),
    )
    probe = ", ".join(p["name"] for p in data["probe"]) or "—"
    _para(pdf, _("Strongest legal domain") + ": " + (data["strongest"]["name"] if data["strongest"] else "—"))
    _para(pdf, _("Weakest legal domain") + ": " + (data["weakest"]["name"] if data["weakest"] else "—"))
    _para(pdf, _("Suggested areas to probe") + ": " + probe)
    charts = profile_charts(data)
    for key in ("domains", "competences"):
        if key in charts:
            _chart(pdf, charts[key], 150)
    for stage in data["stages"]:
        if stage.get("criteria"):
            _heading(pdf, stage["stage"], 11)
            _table(
                pdf,
                [_("Criterion"), _("Mean rating"), _("Members who rated")],
                [[c["name"], fmt(c["mean"]), c["n_members"]] for c in stage["criteria"]],
            )
    _heading(pdf, _("Proctoring irregularities"), 11)
    if data["irregularities"]:
        for i in data["irregularities"]:
            _para(
                pdf,
                f"{i['at']:%Y-%m-%d %H:%M} — {i['category']} ({i['source']})"
                + (f": {i['note']}" if i["note"] else ""),
            )
        _para(pdf, _("Signals recorded during the sitting, not verdicts."))
    else:
        _para(pdf, _("None recorded."))


def campaign_report(
    standing: campaigns.Standing, codes: list[str], *, show_names: bool, with_ranking: bool = True
) -> bytes:
    """The report as PDF bytes: the ranking (optional) and one page per candidate in ``codes``."""
    pdf = _pdf(standing.campaign.name)
    if with_ranking:
        _ranking_pages(pdf, standing, show_names=show_names)
    for code in codes:
        _profile_page(pdf, standing, code, show_names=show_names)
    return bytes(pdf.output())
