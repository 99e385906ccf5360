"""Tables (Markdown) and the pass/fail check against the targets, from the stored records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.irt.data import MODELS, SIZES
from bench.irt.runner import RECORDS_DIR
from bench.irt.tools import PEERS, TOOLS

SCORE_GLOB = "score__*.json"
SUMMARY_PATH = RECORDS_DIR.parent / "irt_summary.json"
# Relative slack when comparing Tandau's RMSE with the best peer's: every tool fits the same file, so the
# estimates differ only by quadrature, stopping rule and priors; 2 % is well inside the ±10 % timing noise
# and still catches a real accuracy loss (a biased or unconverged fit is off by 10 % or more).
ACCURACY_SLACK = 0.02
SPEED_TARGETS = (
    ("2pl", "large", 4.0),
    ("grm", "large", 15.0),
    ("3pl", "medium", 5.0),
)
SCORE_TARGET_S = 1.0
TOOL_ORDER = ("tandau", "tandau_se_off", "ref_numpy_em", *PEERS)
TANDAU_CONFIGS = (("tandau", "defaults, SEs on"), ("tandau_se_off", "se_method=None, like the peers"))


def load_records() -> list[dict[str, Any]]:
    paths = [p for p in sorted(RECORDS_DIR.glob("*__*.json")) if not p.name.startswith("score__")]
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def load_scores() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RECORDS_DIR.glob(SCORE_GLOB))]


def _key(r: dict[str, Any]) -> tuple[int, int, float, int]:
    order = TOOL_ORDER.index(r["tool"]) if r["tool"] in TOOL_ORDER else len(TOOL_ORDER)
    return (MODELS.index(r["model"]), list(SIZES).index(r["size"]), r["missing"], order)


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _nxj(r: dict[str, Any]) -> str:
    return f"{r['n_persons']:,}x{r['n_items']}"


def full_table(records: list[dict[str, Any]]) -> str:
    """Every record, one row each (what ``run`` prints at the end)."""
    head = (
        "| tool | model | miss | N x J | status | fit s | wall s | cpu s | peak MB | RMSE a | bias a "
        "| RMSE b | bias b | RMSE c | iters | conv | load | settings |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted(records, key=_key):
        ok = r["status"] == "ok"
        lines.append(
            "| "
            + " | ".join(
                [
                    r["tool"],
                    r["model"],
                    f"{r['missing']:.2f}",
                    _nxj(r),
                    r["status"],
                    _f(r.get("fit_s"), ".2f") + (f" (best of {len(r['repeats'])})" if "repeats" in r else ""),
                    _f(r.get("wall_s"), ".1f"),
                    _f(r.get("cpu_s"), ".1f"),
                    _f(r.get("peak_rss_mb"), ".0f"),
                    _f(r.get("rmse_a"), ".3f") if ok else "-",
                    _f(r.get("bias_a"), "+.3f") if ok else "-",
                    _f(r.get("rmse_b"), ".3f") if ok else "-",
                    _f(r.get("bias_b"), "+.3f") if ok else "-",
                    _f(r.get("rmse_c"), ".3f") if ok else "-",
                    _f(r.get("n_iter"), "d"),
                    "-" if r.get("converged") is None else str(r["converged"]),
                    _f(r.get("load_before"), ".2f"),
                    r.get("settings", ""),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def _find(
    records: list[dict[str, Any]], tool: str, model: str, size: str, missing: float
) -> dict[str, Any] | None:
    for r in records:
        if (r["tool"], r["model"], r["size"], r["missing"]) == (tool, model, size, missing):
            return r
    return None


def accuracy_checks(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tandau's RMSE against the best peer's, per data set and parameter."""
    rows = []
    for t in sorted(records, key=_key):
        if t["tool"] != "tandau" or t["status"] != "ok":
            continue
        peers = [
            r
            for r in records
            if r["tool"] in PEERS
            and r["status"] == "ok"
            and (r["model"], r["size"], r["missing"]) == (t["model"], t["size"], t["missing"])
        ]
        for par in ("a", "b", "c"):
            name = f"rmse_{par}"
            if name not in t:
                continue
            cand = [(r[name], r["tool"]) for r in peers if name in r]
            if not cand:
                continue
            best, who = min(cand)
            ratio = t[name] / best if best > 0 else float("inf")
            # The same comparison restricted to peers without priors on item parameters (Tandau's 2PL and
            # GRM defaults have none; its 3PL default has a Beta prior on c, like rasch-irt).
            ml = [(r[name], r["tool"]) for r in peers if name in r and not TOOLS[r["tool"]].prior]
            best_ml, who_ml = min(ml) if ml else (float("nan"), "-")
            rows.append(
                {
                    "model": t["model"],
                    "size": t["size"],
                    "label": _nxj(t),
                    "missing": t["missing"],
                    "param": par,
                    "tandau": t[name],
                    "best_peer": best,
                    "best_peer_tool": who,
                    "ratio": ratio,
                    "passed": ratio <= 1.0 + ACCURACY_SLACK,
                    "best_ml_peer": best_ml,
                    "best_ml_peer_tool": who_ml,
                    "ratio_ml": t[name] / best_ml if best_ml > 0 else float("nan"),
                }
            )
    return rows


def target_checks(records: list[dict[str, Any]], scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value, the limit and pass/fail."""
    out: list[dict[str, Any]] = []
    for model, size, limit in SPEED_TARGETS:
        n, j = SIZES[size]
        for tool, config in TANDAU_CONFIGS:
            for missing in (0.0, 0.1):
                r = _find(records, tool, model, size, missing)
                if r is None and tool != "tandau":
                    continue
                value = r["fit_s"] if r and r["status"] == "ok" else None
                measured = (
                    "not run" if r is None else (f"{value:.2f} s" if value is not None else r["status"])
                )
                if r is not None and "repeats" in r:
                    measured += f" (best of {len(r['repeats'])})"
                out.append(
                    {
                        "target": f"{model.upper()} {n:,}x{j} calibration, fit only, {config}"
                        + (", 10 % missing" if missing else ""),
                        "limit": f"< {limit:g} s",
                        "measured": measured,
                        "passed": None if value is None else value < limit,
                        "binding": missing == 0.0 and tool == "tandau",
                        "margin": "" if value is None else f"{value / limit:.2f}x the limit",
                    }
                )
    for s in scores:
        if s.get("status") != "ok":
            continue
        value = s["best_s"]
        kind = "complete" if not s["missing"] else f"{s['missing']:.0%} missing"
        out.append(
            {
                "target": f"EAP scoring {s['n_persons']:,}x{s['n_items']} ({s['model'].upper()}, {kind})",
                "limit": f"< {SCORE_TARGET_S:g} s",
                "measured": f"{value:.3f} s (best of {s['repeats']}, median {s['median_s']:.3f})",
                "passed": value < SCORE_TARGET_S,
                "binding": s["model"] == "2pl" and not s["missing"] and s["n_persons"] == 100_000,
                "margin": f"{value / SCORE_TARGET_S:.2f}x the limit",
            }
        )
    rep = replication_summary()
    if rep is not None and any(r["passed"] is not None for r in rep["rows"]):
        from bench.irt.replicate import verdict_line

        judged = [r for r in rep["rows"] if r["passed"] is not None]
        out.append(
            {
                "target": "accuracy over replications: Tandau's mean RMSE not worse than the best peer's "
                "beyond the 95 % CI of the paired ratio Tandau/peer, every replicated condition and "
                "parameter",
                "limit": "CI lower end <= 1",
                "measured": verdict_line(rep),
                "passed": all(r["passed"] for r in judged),
                "binding": True,
                "margin": "",
            }
        )
    acc = accuracy_checks(records)
    if acc:
        fails = [a for a in acc if not a["passed"]]
        worst = max(acc, key=lambda a: a["ratio"])
        out.append(
            {
                "target": "accuracy, single file: Tandau RMSE <= best peer's on every data set and parameter "
                f"(slack {ACCURACY_SLACK:.0%})",
                "limit": f"ratio <= {1 + ACCURACY_SLACK:.2f}",
                "measured": f"{len(acc) - len(fails)}/{len(acc)} comparisons pass; "
                f"worst ratio {worst['ratio']:.2f} ({worst['model'].upper()} {worst['label']} "
                f"miss {worst['missing']:.0%} RMSE {worst['param']} {worst['tandau']:.3f} "
                f"vs {worst['best_peer_tool']} {worst['best_peer']:.3f})",
                "passed": not fails,
                # One simulated file cannot rank tools at the 1-5 % level: the replications decide.
                "binding": rep is None,
                "margin": "",
            }
        )
    return out


def replication_summary() -> dict[str, Any] | None:
    """The replication study's summary from its stored records (``python -m bench.irt replicate``)."""
    from bench.irt import replicate

    records = replicate.load_all() if replicate.REP_DIR.exists() else []
    return replicate.summarise(records) if records else None


def _mark(passed: bool | None) -> str:
    return {True: "PASS", False: "**FAIL**", None: "n/a"}[passed]


def targets_table(records: list[dict[str, Any]], scores: list[dict[str, Any]]) -> str:
    lines = ["| target | limit | Tandau measured | result | margin |", "|---|---|---|---|---|"]
    for t in target_checks(records, scores):
        mark = _mark(t["passed"]) if t["binding"] else f"({_mark(t['passed'])}, info)"
        lines.append(f"| {t['target']} | {t['limit']} | {t['measured']} | {mark} | {t['margin']} |")
    return "\n".join(lines)


def accuracy_table(records: list[dict[str, Any]]) -> str:
    lines = [
        "| model | N x J | miss | param | Tandau RMSE | best peer RMSE (tool) | ratio | result "
        "| best peer without priors (tool) | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in accuracy_checks(records):
        lines.append(
            f"| {a['model'].upper()} | {a['label']} | {a['missing']:.0%} | {a['param']} "
            f"| {a['tandau']:.4f} | {a['best_peer']:.4f} ({a['best_peer_tool']}) | {a['ratio']:.3f} "
            f"| {_mark(a['passed'])} | {a['best_ml_peer']:.4f} ({a['best_ml_peer_tool']}) "
            f"| {a['ratio_ml']:.3f} |"
        )
    return "\n".join(lines)


def compact_tables(records: list[dict[str, Any]]) -> str:
    """One table per (model, missing): tools x sizes, cell = fit (wall) / RSS / RMSEs / iterations."""
    parts = []
    for model in MODELS:
        for missing in (0.0, 0.1):
            rows = [r for r in records if r["model"] == model and r["missing"] == missing]
            if not rows:
                continue
            sizes = [s for s in SIZES if any(r["size"] == s for r in rows)]
            c_part = " / RMSE c" if model == "3pl" else ""
            parts.append(
                f"**{model.upper()}, {missing:.0%} missing** — cell = fit s (wall s) / peak RSS / "
                f"RMSE a / RMSE b{c_part} / EM iterations\n"
            )
            head = "| tool | " + " | ".join(f"{SIZES[s][0]:,} x {SIZES[s][1]}" for s in sizes) + " |"
            parts.append(head)
            parts.append("|---|" + "---|" * len(sizes))
            for tool in TOOL_ORDER:
                cells = []
                for s in sizes:
                    r = _find(rows, tool, model, s, missing)
                    cells.append(_cell(r))
                if all(c == "" for c in cells):
                    continue
                name = f"**{tool}**" if tool.startswith("tandau") else tool
                parts.append(f"| {name} | " + " | ".join(cells) + " |")
            parts.append("")
    return "\n".join(parts)


def short_status(status: str) -> str:
    """A table-cell form of a non-ok status; the full text stays in the JSON and the full table."""
    if status.startswith("skipped (cannot handle missing"):
        return "n/a (no missing-data support)"
    if status.startswith("skipped (cannot fit"):
        return "n/a (model not offered)"
    if status.startswith("skipped (failed rc="):
        return "skipped (failed at a smaller size)"
    if status.startswith("failed rc="):
        return "FAILED (" + status.split(":", 1)[-1].strip()[:60] + ")"
    return status


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return ""
    if r["status"] != "ok":
        return short_status(r["status"])
    c = f" / c {r['rmse_c']:.3f}" if "rmse_c" in r else ""
    it = r.get("n_iter")
    conv = "" if r.get("converged") in (True, None) else " NOT conv."
    best = " (best of 2)" if "repeats" in r else ""
    return (
        f"{r['fit_s']:.2f} s ({r['wall_s']:.1f}){best} / {r['peak_rss_mb']:.0f} MB / a {r['rmse_a']:.3f} / "
        f"b {r['rmse_b']:.3f}{c} / {'-' if it is None else it} it{conv}"
    )


def machine_line(records: list[dict[str, Any]]) -> str:
    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        return "(no completed fits)"
    r = max(ok, key=lambda r: r.get("started_at", ""))
    h = r.get("host", {})
    versions: dict[str, str] = {}
    for rec in ok:
        versions.update({k: v for k, v in rec.get("versions", {}).items() if v})
    libs = sorted(
        {
            (b.get("internal_api"), b.get("version"), b.get("architecture"))
            for rec in ok
            for b in rec.get("threadpools", [])
        },
        key=str,
    )
    threads: dict[str, set[int]] = {}
    for rec in ok:
        threads.setdefault(rec["tool"], set()).update(
            b.get("num_threads", 0) for b in rec.get("threadpools", [])
        )
    env_set = sorted({k for rec in ok for k, v in rec.get("env", {}).items() if v})
    return (
        f"Machine: {h.get('cpu')} ({h.get('cores')} cores), {h.get('mem_gib')} GiB, Linux {h.get('kernel')}, "
        f"Python {r.get('python')}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + ". BLAS (threadpoolctl): "
        + "; ".join(f"{a} {v} kernel {k}" for a, v, k in libs)
        + "; threads "
        + ", ".join(f"{t} {'/'.join(map(str, sorted(n)))}" for t, n in sorted(threads.items()))
        + " (Tandau runs one E-step thread per core, each with single-threaded OpenBLAS)"
        + ". BLAS environment variables set: "
        + (", ".join(env_set) if env_set else "none (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset)")
        + "."
    )


def readme_markdown(records: list[dict[str, Any]], scores: list[dict[str, Any]]) -> str:
    parts = [
        machine_line(records),
        "",
        "Targets (2 cores):",
        "",
        targets_table(records, scores),
        "",
    ]
    if accuracy_checks(records):
        parts += [
            "Accuracy on the single benchmark file, Tandau against the best peer (for information; the "
            "accuracy target is judged on the replications below):",
            "",
            accuracy_table(records),
            "",
        ]
    parts.append(compact_tables(records))
    rep = replication_summary()
    if rep is not None:
        from bench.irt.replicate import table, verdict_line

        parts += [
            "",
            "**Accuracy over replications** (`python -m bench.irt replicate`): mean RMSE over independently "
            "simulated data sets (standard error), and the paired ratio Tandau/tool on the same data sets "
            "with its 95 % t confidence interval; the best peer (lowest mean RMSE) in bold. The last column "
            "repeats the ratio against the truth on the metric of the persons actually drawn (a * s, "
            "(b - m) / s with m, s their sample mean and SD), for information.",
            "",
            table(rep),
            "",
            "Result: " + verdict_line(rep) + ".",
        ]
    return "\n".join(parts)


def write_summary(records: list[dict[str, Any]], scores: list[dict[str, Any]]) -> Path:
    """All records, scoring runs and target verdicts in one JSON file."""
    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "records": sorted(records, key=_key),
        "scoring": scores,
        "targets": target_checks(records, scores),
        "accuracy": accuracy_checks(records),
        "accuracy_replications": replication_summary(),
        "tools": {name: {"models": t.models, "missing_ok": t.missing_ok} for name, t in TOOLS.items()},
    }
    SUMMARY_PATH.write_text(json.dumps(payload, indent=1, default=float), encoding="utf-8")
    return SUMMARY_PATH
