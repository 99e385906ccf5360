"""Command line: ``python -m bench.http {run,table}``; see bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.http import prepare, report, server
from bench.http.profile import profile

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "http"


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    versions = {}
    for name in ("flask", "sqlalchemy", "gunicorn", "aiohttp", "psycopg"):
        try:
            versions[name] = version(name)
        except Exception:  # informative only
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
    }


def _run_load_generator(spec_path: Path, out_path: Path, *, timeout: float) -> float:
    """Run the load generator process to its end (killed at ``timeout``); returns its CPU seconds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.http.load", str(spec_path), str(out_path)], cwd=ROOT
    )
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"the load generator ran past {timeout:.0f} s and was killed")
        time.sleep(0.2)
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed with exit code {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace) -> dict[str, Any]:
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-", dir=args.workdir or None))
    url = args.database_url or prepare.sqlite_url(workdir / "bench.sqlite")
    print(f"set-up: {args.candidates} candidates in rooms of {args.room_size} on {url.split('@')[-1]}")
    prepared = prepare.prepare(
        url,
        workdir,
        candidates=args.candidates,
        room_size=args.room_size,
        sqlite_wal=args.sqlite_wal,
        calibrated=not args.uncalibrated_bank,
    )
    print(
        "set-up done in {total_s:.1f} s (migrate {migrate_s:.1f}, demo bank {demo_bank_s:.1f}, "
        "accounts+registration+admission {candidates_s:.1f}); argon2 time_cost=1, memory_cost=1 MiB "
        "for set-up speed".format(**prepared.timings),
        flush=True,
    )
    srv = server.start(
        prepared.database_url,
        workdir,
        workers=args.workers,
        threads=args.threads,
        redis_url=args.redis_url,
        experiment=args.experiment,
    )
    print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread) at {srv.url}", flush=True)
    spec = {
        "base_url": srv.url,
        "password": prepare.PASSWORD,
        "candidates": prepared.candidates,
        "proctors": prepared.proctors,
        "herd_spread": args.herd_spread,
        "duration": args.duration,
        "speedup": args.speedup,
        "save_min": args.save_interval[0],
        "save_max": args.save_interval[1],
        "heartbeat": args.heartbeat,
        "grid": args.grid,
        "seed": args.seed,
    }
    spec_path, out_path = workdir / "spec.json", workdir / "load.json"
    spec_path.write_text(json.dumps(spec))
    load_before = os.getloadavg()
    cpu_before = srv.cpu_seconds()
    t0 = time.perf_counter()
    try:
        client_cpu = _run_load_generator(spec_path, out_path, timeout=args.duration + 240)
    finally:
        wall = time.perf_counter() - t0
        server_cpu = srv.cpu_seconds() - cpu_before
        srv.stop()
    load = json.loads(out_path.read_text())
    ledger = load.pop("ledger")
    verification = prepare.verify(prepared.database_url, workdir, ledger, prepared.attempt_ids)
    server_errors = [
        line
        for line in srv.log.read_text(errors="replace").splitlines()
        if "Traceback" in line or "ERROR" in line
    ]
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "backend": prepared.backend,
        "database": prepared.database_url.split("@")[-1] if prepared.backend != "sqlite" else "sqlite file",
        "candidates": args.candidates,
        "room_size": args.room_size,
        "rooms": len(prepared.proctors),
        "section_items": prepared.section_items,
        "server": {
            "workers": args.workers,
            "threads": args.threads,
            "redis": bool(args.redis_url),
            "sqlite_wal": bool(args.sqlite_wal and prepared.backend == "sqlite"),
        },
        "experiment": args.experiment,
        "scenario": {
            k: v for k, v in spec.items() if k not in ("candidates", "proctors", "password", "base_url")
        },
        "setup": {**prepared.timings, "argon2": prepare.FAST_ARGON2},
        "cpu": {
            "wall_s": wall,
            "server_cpu_s": server_cpu,
            "client_cpu_s": client_cpu,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "phases": load["phases"],
        "ops": load["ops"],
        "verification": verification,
        "server_log_errors": len(server_errors),
        "server_log_sample": server_errors[:5],
    }
    if not args.no_profile:
        # a new small database (the same PostgreSQL one emptied again): statements per request
        profile_url = args.database_url or prepare.sqlite_url(workdir / "profile.sqlite")
        record["profile"] = profile(profile_url, workdir)
    record["targets"] = report.targets(record)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = results / f"{stamp}-{prepared.backend}-n{args.candidates}.json"
    path.write_text(json.dumps(record, indent=1))
    if not args.keep:
        for f in workdir.glob("*.sqlite*"):
            f.unlink()
    print(report.render(record))
    print(f"written {path}")
    return record


def _pair(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition("-")
    return float(lo), float(hi or lo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser(
        "run", help="set up, serve with gunicorn, run the herd and the steady state, verify"
    )
    p_run.add_argument("--candidates", type=int, default=200)
    p_run.add_argument("--room-size", type=int, default=200, help="candidates per session and proctor")
    p_run.add_argument(
        "--database-url",
        help="e.g. postgresql://postgres@127.0.0.1:5432/bench_http (created if absent, then emptied); "
        "a SQLite file by default",
    )
    p_run.add_argument(
        "--sqlite-wal", action="store_true", help="put the SQLite file in WAL mode (the app does not)"
    )
    p_run.add_argument(
        "--uncalibrated-bank", action="store_true", help="demo items without the pilot calibration (faster)"
    )
    p_run.add_argument("--redis-url", help="optional; with PostgreSQL it makes the app run as production")
    p_run.add_argument("--workers", type=int, default=4)
    p_run.add_argument("--threads", type=int, default=4)
    p_run.add_argument("--herd-spread", type=float, default=1.0, help="seconds over which everyone presses")
    p_run.add_argument("--duration", type=float, default=60.0, help="seconds of steady state")
    p_run.add_argument(
        "--save-interval", type=_pair, default=(10.0, 20.0), help="seconds between a candidate's saves"
    )
    p_run.add_argument("--heartbeat", type=float, default=5.0, help="sitting page refresh (0: none)")
    p_run.add_argument("--grid", type=float, default=3.0, help="proctor console poll, seconds (0: none)")
    p_run.add_argument("--speedup", type=float, default=1.0, help="divide save and heartbeat intervals")
    p_run.add_argument("--seed", type=int, default=20261124)
    p_run.add_argument(
        "--experiment",
        choices=["no-exposure-counts"],
        help="diagnosis: serve with a change to the app (recorded; not a figure for the README table)",
    )
    p_run.add_argument("--no-profile", action="store_true", help="skip counting statements per request")
    p_run.add_argument("--workdir", help="where the SQLite file and logs go (a new temporary folder)")
    p_run.add_argument("--keep", action="store_true", help="keep the SQLite file")
    p_run.add_argument("--results", default=str(RESULTS), help="folder for the JSON record")
    p_tab = sub.add_parser("table", help="print the table from bench/results/http/*.json")
    p_tab.add_argument("--markdown", action="store_true")
    p_tab.add_argument("--last", type=int, default=0, help="only the newest N records")
    p_tab.add_argument("--experiments", action="store_true", help="include --experiment runs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "run":
        record = run(args)
        return 0 if all(t["pass"] for t in record["targets"]) else 1
    records = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    records = [r for r in records if args.experiments or not r.get("experiment")]
    if args.last:
        records = records[-args.last :]
    print(report.table(records, markdown=args.markdown))
    return 0
