"""EAP scoring throughput: Tandau's ``eap_scores`` on N persons x J items with the true parameters.

Each scoring run is one fresh process; the call (response checking included) is timed ``repeat`` times and
the best and median are reported next to the first, cold call.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.irt.data import Cell, load_cell, make_cell
from bench.irt.runner import RECORDS_DIR, WORK_DIR, host_info, run_child

# (model, missing) scored; the target is on the first one.
SCORE_CELLS = (("2pl", 0.0), ("2pl", 0.1), ("grm", 0.0))


def score_task(data: Path, repeat: int) -> dict[str, Any]:
    """Child side: time ``eap_scores`` on one data file with its true parameters."""
    from item_bank.irt.models import ItemParameters
    from item_bank.irt.scoring import eap_scores

    cell = load_cell(data)
    meta = cell["meta"]
    assert isinstance(meta, dict)
    x = np.asarray(cell["X"])
    n_items = x.shape[1]
    params = ItemParameters.from_arrays(
        [f"i{j}" for j in range(n_items)], str(meta["model"]), cell["a"], cell["b"], cell["c"]
    )
    times = []
    res = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        res = eap_scores(params, x)
        times.append(time.perf_counter() - t0)
    assert res is not None
    theta = np.asarray(cell["theta"])
    return {
        "times_s": times,
        "first_s": times[0],
        "best_s": min(times),
        "median_s": statistics.median(times),
        "repeats": len(times),
        "r_theta": float(np.corrcoef(res.theta, theta)[0, 1]),
        "mean_se": float(np.mean(res.se)),
        "settings": "eap_scores(params, responses) defaults, true item parameters, input int8",
    }


def run_scoring(size: str, repeat: int, timeout_s: float) -> str:
    """Parent side: one process per scored file; records in ``bench/results/irt/score__*.json``."""
    lines = []
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    RECORDS_DIR.mkdir(parents=True, exist_ok=True)
    for model, missing in SCORE_CELLS:
        cell = Cell(model, size, missing)
        make_cell(cell)
        n, j = cell.shape
        out = WORK_DIR / f"score__{cell.key}"
        out.with_suffix(".json").unlink(missing_ok=True)
        proc = run_child(
            ["score", str(cell.path), str(repeat), str(out)], timeout_s, 16 * 1024, out.with_suffix(".log")
        )
        rec: dict[str, Any] = {
            "tool": "tandau-eap",
            "model": model,
            "size": size,
            "n_persons": n,
            "n_items": j,
            "missing": missing,
            "host": host_info(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **proc,
        }
        if proc["killed"] or proc["rc"] != 0 or not out.with_suffix(".json").exists():
            tail = (
                out.with_suffix(".log")
                .read_text(encoding="utf-8", errors="replace")
                .strip()
                .splitlines()[-1:]
            )
            rec["status"] = proc["killed"] or f"failed rc={proc['rc']}: {(tail or [''])[0][:160]}"
            lines.append(f"EAP {model} {n}x{j} miss={missing:.2f}: {rec['status']}")
        else:
            rec.update(json.loads(out.with_suffix(".json").read_text(encoding="utf-8")), status="ok")
            lines.append(
                f"EAP {model} {n}x{j} miss={missing:.2f}: best {rec['best_s']:.3f} s, "
                f"median {rec['median_s']:.3f} s, first {rec['first_s']:.3f} s, "
                f"peak {rec['peak_rss_mb']:.0f} MB, r(theta) {rec['r_theta']:.4f}"
            )
        path = RECORDS_DIR / f"score__{cell.key}.json"
        path.write_text(json.dumps(rec, indent=1, default=float), encoding="utf-8")
    return "\n".join(lines)
