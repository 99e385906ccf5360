"""Replication study: every tool on R independently simulated data sets per condition, one process per fit.

A single simulated file ranks tools only up to its own sampling noise (RMSE of a at 20,000 x 100 varies by
~10 % between files), so the accuracy criterion is judged on replications: per tool and condition the mean
RMSE over the replications with its standard error, and per peer the paired ratio Tandau/peer (same file,
mean over replications) with a 95 % t confidence interval. Replication 0 is the benchmark's own file; 1..R-1
draw new true parameters, persons and missing-data holes (``Cell.rep``).

Records: ``bench/results/irt_rep/{cell}__{tool}.json`` (one per fit, kept for ``--resume``), summary
``bench/results/irt_replication.json``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from bench.irt.data import MODELS, RESULTS_DIR, SIZES, Cell, load_cell, make_cell
from bench.irt.runner import WORK_DIR, _tandau_fingerprint, fit_once, host_info
from bench.irt.tools import PEERS, TOOLS

REP_DIR = RESULTS_DIR / "irt_rep"
REP_SUMMARY = RESULTS_DIR / "irt_replication.json"
PARAMS = ("a", "b", "c")


def sample_metric_accuracy(truth: dict[str, Any], est: dict[str, np.ndarray]) -> dict[str, float]:
    """RMSE of a and b against the truth expressed on the metric of the persons actually drawn.

    The generating a and b are on the population metric theta ~ N(0, 1); every calibrator fixes its metric by
    assuming N(0, 1) for the sample, whose mean m and SD s differ from 0 and 1 by ~1/sqrt(N). On the sample's
    metric the truth is a * s and (b - m) / s: this comparison leaves out the common shift and stretch that no
    estimator can know, and that an estimator stopped short of the likelihood maximum absorbs only in part.
    """
    theta = np.asarray(truth["theta"], dtype=np.float64)
    m, s = float(theta.mean()), float(theta.std())
    a_t, b_t = np.asarray(truth["a"]) * s, (np.asarray(truth["b"]) - m) / s
    a_e, b_e = est["a"], est["b"]
    if b_e.shape != b_t.shape:
        return {}
    ok = np.isfinite(a_e) & np.isfinite(b_e).all(axis=1)
    return {
        "rmse_a_sm": float(np.sqrt(np.mean((a_e[ok] - a_t[ok]) ** 2))),
        "rmse_b_sm": float(np.sqrt(np.mean((b_e[ok] - b_t[ok]) ** 2))),
    }


def _path(cell: Cell, tool: str):  # type: ignore[no-untyped-def]
    return REP_DIR / f"{cell.key}__{tool}.json"


def _unsupported(cell: Cell, tool_name: str) -> str:
    tool = TOOLS[tool_name]
    if cell.model not in tool.models:
        return "model not offered"
    if cell.missing > 0 and not tool.missing_ok:
        return "no missing-data support"
    return ""


def fit_one(cell: Cell, tool_name: str, timeout_s: float, mem_limit_mb: float) -> dict[str, Any]:
    """One fit in its own process (the runner's child machinery); returns and stores the record."""
    n, j = cell.shape
    rec: dict[str, Any] = {
        "tool": tool_name,
        "model": cell.model,
        "size": cell.size,
        "n_persons": n,
        "n_items": j,
        "missing": cell.missing,
        "rep": cell.rep,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if tool_name.startswith("tandau"):
        rec["tandau"] = _tandau_fingerprint()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    out = WORK_DIR / f"rep_{cell.key}__{tool_name}"
    attempt, est = fit_once(cell, tool_name, out, timeout_s, mem_limit_mb)
    rec.update(attempt)
    if est is not None:
        rec.update(sample_metric_accuracy(load_cell(cell.path), est))
    REP_DIR.mkdir(parents=True, exist_ok=True)
    path = _path(cell, tool_name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1, default=float), encoding="utf-8")
    tmp.replace(path)
    return rec


def conditions(sizes: list[str], models: list[str], missing: list[float]) -> list[Cell]:
    """The conditions (replication 0), sizes outermost: every model and missing rate asked for."""
    return [Cell(m, s, r) for s in sizes for m in models for r in missing]


def run_replications(
    conds: list[Cell],
    tools: list[str],
    reps: dict[str, int],
    timeout_s: float,
    mem_limit_mb: float,
    budget_s: float,
    resume: bool,
) -> None:
    """Fit every tool on every replication; replications outermost so a cut-off run stays balanced."""
    t0 = time.perf_counter()
    print(f"host: {host_info()}", flush=True)
    for size in dict.fromkeys(c.size for c in conds):
        for rep in range(reps[size]):
            for cond in (c for c in conds if c.size == size):
                cell = Cell(cond.model, cond.size, cond.missing, rep)
                todo = [t for t in tools if not _unsupported(cell, t)]
                if rep > 0:  # a tool that failed outright on replication 0 (e.g. girth's 3PL) is not retried
                    first = {t: _load(Cell(cell.model, cell.size, cell.missing), t) for t in todo}
                    todo = [t for t in todo if not (first[t] or {}).get("status", "").startswith("failed")]
                if resume:
                    todo = [t for t in todo if not _ok(_load(cell, t))]
                if not todo:
                    continue
                if time.perf_counter() - t0 > budget_s:
                    print(f"budget {budget_s:.0f} s used up; stopping before {cell.key}", flush=True)
                    return
                make_cell(cell)
                for tool in todo:
                    rec = fit_one(cell, tool, timeout_s, mem_limit_mb)
                    print(_line(cell, rec), flush=True)


def _line(cell: Cell, rec: dict[str, Any]) -> str:
    head = f"{rec['tool']:<15} {cell.model:<4} {cell.label:>10} miss={cell.missing:.2f} rep={cell.rep:<2}"
    if rec["status"] != "ok":
        return f"{head} {rec['status']}"
    c = f" c={rec['rmse_c']:.4f}" if "rmse_c" in rec else ""
    return (
        f"{head} wall {rec['wall_s']:6.1f} s  rmse a={rec['rmse_a']:.4f} b={rec['rmse_b']:.4f}{c}"
        f"  it={rec['n_iter']} conv={rec['converged']}"
    )


def _load(cell: Cell, tool: str) -> dict[str, Any] | None:
    path = _path(cell, tool)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _ok(rec: dict[str, Any] | None) -> bool:
    return rec is not None and rec.get("status") == "ok"


def load_all() -> list[dict[str, Any]]:
    """All replication records; records from before the sample-metric RMSE get it from their stored fit."""
    out = []
    for path in sorted(REP_DIR.glob("*__*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        est_path = WORK_DIR / f"rep_{path.stem}.npz"
        if rec.get("status") == "ok" and "rmse_a_sm" not in rec and est_path.exists():
            cell = Cell(rec["model"], rec["size"], rec["missing"], rec["rep"])
            with np.load(est_path) as z:
                est = {k: z[k] for k in ("a", "b", "c")}
            rec.update(sample_metric_accuracy(load_cell(cell.path), est))
            path.write_text(json.dumps(rec, indent=1, default=float), encoding="utf-8")
        out.append(rec)
    return out


def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def _mean_se(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else float("nan")
    return float(arr.mean()), se


def summarise(records: list[dict[str, Any]], tandau: str = "tandau") -> dict[str, Any]:
    """Mean RMSE (SE) per tool, condition and parameter; paired ratios ``tandau``/tool with 95 % CIs.

    Only replications on which both tools succeeded enter a paired ratio. A condition/parameter FAILs when
    Tandau is worse than the peer with the lowest mean RMSE beyond the CI (the CI's lower end > 1).
    """
    by: dict[tuple[str, str, float], dict[str, dict[int, dict[str, Any]]]] = {}
    for r in records:
        if r.get("status") != "ok":
            continue
        key = (r["model"], r["size"], r["missing"])
        by.setdefault(key, {}).setdefault(r["tool"], {})[r["rep"]] = r
    rows: list[dict[str, Any]] = []
    for key in sorted(by, key=lambda k: (list(SIZES).index(k[1]), MODELS.index(k[0]), k[2])):
        model, size, missing = key
        tools = by[key]
        n, j = SIZES[size]
        for par in PARAMS:
            name = f"rmse_{par}"
            stats: dict[str, dict[str, Any]] = {}
            for tool, reps in tools.items():
                vals = [reps[i][name] for i in sorted(reps) if name in reps[i]]
                if vals:
                    mean, se = _mean_se(vals)
                    stats[tool] = {"mean": mean, "se": se, "n": len(vals)}
            if tandau not in stats:
                continue
            ratios: dict[str, dict[str, Any]] = {}
            ratios_sm: dict[str, dict[str, Any]] = {}
            for tool in stats:
                if tool == tandau:
                    continue
                for field, into in ((name, ratios), (f"{name}_sm", ratios_sm)):
                    ratio = _paired_ratio(tools[tandau], tools[tool], field)
                    if ratio is not None:
                        into[tool] = ratio
            peers = [t for t in stats if t in PEERS and t in ratios]
            best = min(peers, key=lambda t: stats[t]["mean"]) if peers else None
            verdict = None
            if best is not None:
                lo = ratios[best]["lo"]
                verdict = not (lo > 1.0) if math.isfinite(lo) else None
            worse_than = [t for t in peers if ratios[t]["lo"] > 1.0]
            rows.append(
                {
                    "model": model,
                    "size": size,
                    "label": f"{n:,}x{j}",
                    "missing": missing,
                    "param": par,
                    "stats": stats,
                    "ratios": ratios,
                    "ratios_sample_metric": ratios_sm,
                    "best_peer": best,
                    "passed": verdict,
                    "significantly_worse_than": worse_than,
                }
            )
    return {"tandau_tool": tandau, "rows": rows}


def _paired_ratio(
    mine: dict[int, dict[str, Any]], theirs: dict[int, dict[str, Any]], field: str
) -> dict[str, Any] | None:
    """Mean over common replications of mine/theirs for ``field``, with its 95 % t interval."""
    pairs = [
        mine[i][field] / theirs[i][field]
        for i in sorted(set(mine) & set(theirs))
        if field in mine[i] and field in theirs[i] and theirs[i][field] > 0
    ]
    if not pairs:
        return None
    mean, se = _mean_se(pairs)
    half = _t975(len(pairs) - 1) * se if len(pairs) > 1 else float("nan")
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": len(pairs)}


def _order(tool: str) -> tuple[int, str]:
    if tool == "tandau":
        return (0, tool)
    if tool.startswith("tandau"):
        return (2, tool)
    return (1, tool)


def table(summary: dict[str, Any], diagnostics: bool = False) -> str:
    """Markdown: one row per condition, parameter and tool (Tandau first, then peers, then variants)."""
    lines = [
        "| model | N x J | miss | param | tool | reps | mean RMSE (SE) | Tandau / tool, paired (95 % CI) "
        "| result | same, on the sample's metric |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        tools = sorted(row["stats"], key=_order)
        if not diagnostics:
            tools = [t for t in tools if not TOOLS[t].diagnostic]
        for tool in tools:
            s = row["stats"][tool]
            rt = row["ratios"].get(tool)
            ratio = "" if rt is None else f"{rt['mean']:.3f} ({rt['lo']:.3f}-{rt['hi']:.3f})"
            sm = row["ratios_sample_metric"].get(tool)
            ratio_sm = "" if sm is None else f"{sm['mean']:.3f} ({sm['lo']:.3f}-{sm['hi']:.3f})"
            if tool == row["best_peer"]:
                ratio = f"**{ratio}** best peer" if ratio else ratio
            result = ""
            if tool == summary["tandau_tool"]:
                result = {True: "PASS", False: "**FAIL**", None: "n/a"}[row["passed"]]
            name = f"**{tool}**" if tool == summary["tandau_tool"] else tool
            lines.append(
                f"| {row['model'].upper()} | {row['label']} | {row['missing']:.0%} | {row['param']} | {name} "
                f"| {s['n']} | {s['mean']:.4f} ({s['se']:.4f}) | {ratio} | {result} | {ratio_sm} |"
            )
    return "\n".join(lines)


def verdict_line(summary: dict[str, Any]) -> str:
    rows = [r for r in summary["rows"] if r["passed"] is not None]
    if not rows:
        return "no paired comparisons"
    fails = [r for r in rows if not r["passed"]]
    worst = max(rows, key=lambda r: r["ratios"][r["best_peer"]]["mean"])
    w = worst["ratios"][worst["best_peer"]]
    text = (
        f"{len(rows) - len(fails)}/{len(rows)} condition-parameters pass "
        f"(Tandau not worse than the best peer beyond the 95 % CI); highest mean ratio: "
        f"{worst['model'].upper()} {worst['label']} miss {worst['missing']:.0%} {worst['param']} "
        f"{w['mean']:.3f} ({w['lo']:.3f}-{w['hi']:.3f}) vs {worst['best_peer']}, {w['n']} reps"
    )
    if fails:
        text += "; FAIL: " + ", ".join(
            f"{r['model'].upper()} {r['label']} miss {r['missing']:.0%} {r['param']} "
            f"{r['ratios'][r['best_peer']]['mean']:.3f} ({r['ratios'][r['best_peer']]['lo']:.3f}-"
            f"{r['ratios'][r['best_peer']]['hi']:.3f}) vs {r['best_peer']}"
            for r in fails
        )
    return text


def write_summary(summary: dict[str, Any]) -> None:
    REP_SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    REP_SUMMARY.write_text(json.dumps(summary, indent=1, default=float), encoding="utf-8")
