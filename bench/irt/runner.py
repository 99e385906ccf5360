"""Parent side: run each (tool, model, size, missing) fit alone in a subprocess, bounded in time and memory,
and turn its output into one record (JSON) with timings, peak RSS and accuracy against the truth."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.irt.data import RESULTS_DIR, SIZES, Cell, load_cell, make_cell
from bench.irt.tools import TOOLS

RECORDS_DIR = RESULTS_DIR / "irt"
WORK_DIR = RESULTS_DIR / "work"
REPO = Path(__file__).resolve().parents[2]
_POLL_S = 0.05


def host_info() -> dict[str, Any]:
    """CPU model, cores, memory, kernel: the machine the numbers belong to."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemTotal"):
            mem_kb = int(line.split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
    }


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def run_child(args: list[str], timeout_s: float, mem_limit_mb: float, log: Path) -> dict[str, Any]:
    """Run ``python -m bench.irt.worker ARGS`` alone; kill its process group past the time or RSS limit.

    Peak RSS and CPU time come from ``wait4`` (this child only, not the children before it).
    """
    cmd = [sys.executable, "-m", "bench.irt.worker", *args]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    killed = ""
    max_seen_kb = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        elapsed = time.perf_counter() - t0
        max_seen_kb = max(max_seen_kb, _rss_kb(proc.pid))
        if not killed and elapsed > timeout_s:
            killed = "timeout"
        elif not killed and max_seen_kb / 1024 > mem_limit_mb:
            killed = "memory-limit"
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(_POLL_S)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": max(usage.ru_maxrss, max_seen_kb) / 1024,
        "rc": proc.returncode,
        "killed": killed,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def accuracy(truth: dict[str, Any], est: dict[str, np.ndarray], model: str) -> dict[str, Any]:
    """RMSE and bias of a, b (pooled over thresholds) and c against the generating values; no linking."""
    out: dict[str, Any] = {}
    a_t, b_t = np.asarray(truth["a"]), np.asarray(truth["b"])
    a_e, b_e = est["a"], est["b"]
    if b_e.shape != b_t.shape:
        # A tool that dropped an unobserved category reports fewer thresholds: keep only whole items.
        k = min(b_e.shape[1], b_t.shape[1])
        b_e = np.full(b_t.shape, np.nan) if k == 0 else np.pad(b_e[:, :k], ((0, 0), (0, b_t.shape[1] - k)))
        out["note"] = f"estimated thresholds shape {est['b'].shape} != true {b_t.shape}"
    ok_items = np.isfinite(a_e) & np.isfinite(b_e).all(axis=1)
    out["items_used"] = int(ok_items.sum())
    out["items_total"] = int(a_t.size)
    da = a_e[ok_items] - a_t[ok_items]
    db = (b_e[ok_items] - b_t[ok_items]).ravel()
    out.update(rmse_a=float(np.sqrt(np.mean(da**2))), bias_a=float(da.mean()))
    out.update(rmse_b=float(np.sqrt(np.mean(db**2))), bias_b=float(db.mean()))
    if model == "3pl" and est["c"].size:
        dc = est["c"][ok_items] - np.asarray(truth["c"])[ok_items]
        out.update(rmse_c=float(np.sqrt(np.mean(dc**2))), bias_c=float(dc.mean()))
    return out


def record_path(cell: Cell, tool: str) -> Path:
    return RECORDS_DIR / f"{cell.key}__{tool}.json"


def load_record(cell: Cell, tool: str) -> dict[str, Any] | None:
    path = record_path(cell, tool)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _skip_reason(cell: Cell, tool_name: str, timeout_s: float) -> str:
    tool = TOOLS[tool_name]
    if cell.model not in tool.models:
        return f"cannot fit {cell.model.upper()} ({tool.unsupported})"
    if cell.missing > 0 and not tool.missing_ok:
        return f"cannot handle missing responses ({tool.unsupported})"
    sizes = list(SIZES)
    n, j = cell.shape
    for smaller in reversed(sizes[: sizes.index(cell.size)]):
        prev = load_record(Cell(cell.model, smaller, cell.missing), tool_name)
        if prev is None or prev["status"].startswith("skipped"):
            continue
        if prev["status"] != "ok":
            return f"{prev['status']} at {prev['n_persons']}x{prev['n_items']}"
        ratio = (n * j) / (prev["n_persons"] * prev["n_items"])
        predicted = prev["fit_s"] * ratio
        if predicted > timeout_s:
            return (
                f"predicted ~{predicted:.0f} s > {timeout_s:.0f} s "
                f"({prev['fit_s']:.1f} s at {prev['n_persons']}x{prev['n_items']} x {ratio:.0f} for N*J)"
            )
        break
    return ""


def _tandau_fingerprint() -> dict[str, Any]:
    """Which Tandau code was measured: HEAD plus a hash of item_bank/irt (the tree may be uncommitted)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((REPO / "item_bank" / "irt").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"git_head": head, "item_bank_irt_sha256": digest.hexdigest()[:16]}


def fit_once(
    cell: Cell, tool_name: str, out: Path, timeout_s: float, mem_limit_mb: float
) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """One fit in a child process: its process record, status, the child's report and accuracy, and the
    estimates (None unless the fit succeeded)."""
    for stale in (out.with_suffix(".json"), out.with_suffix(".npz")):
        stale.unlink(missing_ok=True)
    log = out.with_suffix(".log")
    proc = run_child(["fit", tool_name, str(cell.path), str(out)], timeout_s, mem_limit_mb, log)
    if proc["killed"]:
        status = proc["killed"]
    elif proc["rc"] != 0 or not out.with_suffix(".json").exists():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        status = f"failed rc={proc['rc']}: {tail[0][:160]}"
    else:
        status = "ok"
    attempt = {**proc, "status": status}
    if status != "ok":
        return attempt, None
    attempt.update(json.loads(out.with_suffix(".json").read_text(encoding="utf-8")))
    with np.load(out.with_suffix(".npz")) as z:
        est = {k: z[k] for k in ("a", "b", "c")}
    attempt.update(accuracy(load_cell(cell.path), est, cell.model))
    return attempt, est


def run_fit(cell: Cell, tool_name: str, timeout_s: float, mem_limit_mb: float, repeat: int) -> dict[str, Any]:
    """Run one tool on one cell ``repeat`` times (best fit time kept) and store the record."""
    n, j = cell.shape
    base = {
        "tool": tool_name,
        "model": cell.model,
        "size": cell.size,
        "n_persons": n,
        "n_items": j,
        "missing": cell.missing,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": host_info(),
        "timeout_s": timeout_s,
        "mem_limit_mb": mem_limit_mb,
    }
    if tool_name.startswith("tandau"):
        base["tandau"] = _tandau_fingerprint()
    reason = _skip_reason(cell, tool_name, timeout_s)
    if reason:
        rec = {**base, "status": f"skipped ({reason})"}
        _save(cell, tool_name, rec)
        return rec
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    out = WORK_DIR / f"{cell.key}__{tool_name}"
    attempts: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    for _ in range(max(1, repeat)):
        attempt, _ = fit_once(cell, tool_name, out, timeout_s, mem_limit_mb)
        status = attempt["status"]
        attempts.append(attempt)
        if best is None or (status == "ok" and (best["status"] != "ok" or attempt["fit_s"] < best["fit_s"])):
            best = attempt
        if status != "ok":
            break
    assert best is not None
    rec = {**base, **best}
    if len(attempts) > 1:
        rec["repeats"] = [
            {k: a.get(k) for k in ("status", "wall_s", "fit_s", "cpu_s", "load_before")} for a in attempts
        ]
    _save(cell, tool_name, rec)
    return rec


def _save(cell: Cell, tool_name: str, rec: dict[str, Any]) -> None:
    RECORDS_DIR.mkdir(parents=True, exist_ok=True)
    path = record_path(cell, tool_name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1, default=float), encoding="utf-8")
    tmp.replace(path)


def gemm_gflops() -> float:
    """Machine-speed probe: best of 3 square float64 GEMMs (n = 2000) with the library's BLAS threads."""
    a = np.random.default_rng(0).standard_normal((2000, 2000))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2 * 2000**3 / best / 1e9


def run_all(
    cells: list[Cell],
    tools: list[str],
    timeout_s: float,
    mem_limit_mb: float,
    repeat: int,
    budget_s: float,
    resume: bool,
) -> list[dict[str, Any]]:
    """Run every (cell, tool) in order: sizes ascending so that larger fits can be predicted from smaller."""
    t_start = time.perf_counter()
    probe = gemm_gflops()
    print(f"DGEMM probe: {probe:.1f} GFLOP/s (2000^3, float64, library threads)", flush=True)
    records = []
    for cell in cells:
        make_cell(cell)
        for tool_name in tools:
            if resume and (old := load_record(cell, tool_name)) is not None and old["status"] == "ok":
                records.append(old)
                continue
            if time.perf_counter() - t_start > budget_s:
                if (old := load_record(cell, tool_name)) is not None and old["status"] == "ok":
                    records.append(old)  # an earlier measurement beats none
                    continue
                if _skip_reason(cell, tool_name, timeout_s):
                    records.append(run_fit(cell, tool_name, timeout_s, mem_limit_mb, 1))  # recorded skip only
                    continue
                n, j = cell.shape
                rec = {
                    "tool": tool_name,
                    "model": cell.model,
                    "size": cell.size,
                    "n_persons": n,
                    "n_items": j,
                    "missing": cell.missing,
                    "status": f"skipped (run budget {budget_s:.0f} s used up)",
                }
                _save(cell, tool_name, rec)
                records.append(rec)
                continue
            rec = run_fit(
                cell, tool_name, timeout_s, mem_limit_mb, repeat if tool_name.startswith("tandau") else 1
            )
            rec["dgemm_gflops_at_run_start"] = probe
            _save(cell, tool_name, rec)
            records.append(rec)
            print(_progress_line(cell, rec), flush=True)
    return records


def _progress_line(cell: Cell, rec: dict[str, Any]) -> str:
    head = f"{rec['tool']:<13} {cell.model:<4} {cell.label:>11} miss={cell.missing:.2f}"
    if rec["status"] != "ok":
        return f"{head}  {rec['status']}"
    c = f" c={rec['rmse_c']:.3f}" if "rmse_c" in rec else ""
    return (
        f"{head}  fit {rec['fit_s']:.2f} s  wall {rec['wall_s']:.1f} s  {rec['peak_rss_mb']:.0f} MB  "
        f"rmse a={rec['rmse_a']:.3f} b={rec['rmse_b']:.3f}{c}  it={rec['n_iter']} conv={rec['converged']}"
    )
