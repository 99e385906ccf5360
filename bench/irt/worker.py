"""Child process: one fit (or one scoring run) on one data file; writes ``OUT.json`` and ``OUT.npz``.

Run by the runner, never by hand: ``python -m bench.irt.worker fit TOOL DATA OUT``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def runtime_info(packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """Versions, BLAS kernel and threads, and the environment variables that change BLAS speed."""
    from threadpoolctl import threadpool_info

    blas = [
        {
            k: v
            for k, v in lib.items()
            if k in ("internal_api", "version", "num_threads", "architecture", "prefix")
        }
        for lib in threadpool_info()
    ]
    names = ("numpy", "scipy", "threadpoolctl", *packages)
    return {
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in dict.fromkeys(names)},
        "threadpools": blas,
        "env": {k: os.environ.get(k) for k in ENV_VARS},
    }


def _fit(tool_name: str, data: Path, out: Path) -> dict[str, Any]:
    from bench.irt.data import load_cell
    from bench.irt.tools import TOOLS

    tool = TOOLS[tool_name]
    cell = load_cell(data)
    meta = cell["meta"]
    assert isinstance(meta, dict)
    x = np.asarray(cell["X"])
    t0 = time.perf_counter()
    res = tool.fit(x, str(meta["model"]), int(meta["n_categories"]))  # type: ignore[call-overload]
    fit_call_s = time.perf_counter() - t0
    np.savez(out.with_suffix(".npz"), a=res.a, b=res.b, c=np.array([]) if res.c is None else res.c)
    return {
        "fit_s": res.fit_s,
        "adapter_s": fit_call_s,
        "n_iter": res.n_iter,
        "converged": res.converged,
        "settings": res.settings,
        **res.extra,
        **runtime_info(tool.packages),
    }


def main(argv: list[str]) -> int:
    task = argv[0]
    out = Path(argv[-1])
    started = time.perf_counter()
    if task == "fit":
        record = _fit(argv[1], Path(argv[2]), out)
    elif task == "score":
        from bench.irt.scoring import score_task

        record = score_task(Path(argv[1]), int(argv[2]))
        record.update(runtime_info())
    else:
        msg = f"task must be 'fit' or 'score', got {task!r}"
        raise SystemExit(msg)
    record["child_s"] = time.perf_counter() - started
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, default=float), encoding="utf-8")
    tmp.replace(out.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
