"""Command line: ``python -m bench.irt {simulate,run,score,table}``; see bench/README.md."""

from __future__ import annotations

import argparse
import os
import time

from bench.irt import report, runner
from bench.irt.data import MISSING_RATES, MODELS, SIZES, Cell, make_cell
from bench.irt.tools import DEFAULT_TOOLS, TOOLS


def _csv(choices: tuple[str, ...] | list[str]):  # type: ignore[no-untyped-def]
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad:
            msg = f"unknown {bad}; choose from {', '.join(choices)}"
            raise argparse.ArgumentTypeError(msg)
        return items

    return parse


def _sizes(text: str) -> list[str]:
    """Size names or N x J labels (``small`` or ``2000x40``)."""
    by_label = {f"{n}x{j}": name for name, (n, j) in SIZES.items()}
    out = []
    for t in (t.strip() for t in text.split(",") if t.strip()):
        name = by_label.get(t.replace(",", "").replace("_", ""), t)
        if name not in SIZES:
            msg = f"unknown size {t!r}; choose from {', '.join([*SIZES, *by_label])}"
            raise argparse.ArgumentTypeError(msg)
        out.append(name)
    return out


def _cells(sizes: list[str], models: list[str], missing: list[float]) -> list[Cell]:
    return [Cell(m, s, r) for s in sizes for m in models for r in missing]


def _warn_blas_env() -> None:
    set_vars = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.get(v)]
    if set_vars:
        print(
            f"warning: {', '.join(set_vars)} set; numpy may run a slower BLAS kernel. For the measurement "
            "run use `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.irt ...` "
            "(the kernel is recorded).",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.irt", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p_sim = sub.add_parser("simulate", help="write the .npz data sets (done by run when missing)")
    p_run = sub.add_parser(
        "run", help="simulate if needed, fit every (tool, model, size, missing), score, print"
    )
    for p in (p_sim, p_run):
        p.add_argument("--sizes", type=_csv(list(SIZES)), default=list(SIZES))
        p.add_argument("--models", type=_csv(MODELS), default=list(MODELS))
        p.add_argument(
            "--quick", action="store_true", help="2,000 x 40 only: a smoke check in about a minute"
        )
    p_run.add_argument("--tools", type=_csv(list(TOOLS)), default=list(DEFAULT_TOOLS))
    p_run.add_argument("--missing", type=_csv(("0", "0.1")), default=["0", "0.1"])
    p_run.add_argument("--timeout", type=float, default=600.0, help="seconds per fit (default 600)")
    p_run.add_argument("--mem-limit-gb", type=float, default=16.0, help="RSS ceiling per fit (default 16)")
    p_run.add_argument("--repeat", type=int, default=2, help="runs per Tandau fit, best kept (default 2)")
    p_run.add_argument(
        "--budget", type=float, default=4 * 3600.0, help="whole-run seconds; later fits skipped"
    )
    p_run.add_argument("--resume", action="store_true", help="keep existing ok records instead of re-running")
    p_run.add_argument("--no-score", action="store_true", help="skip the EAP scoring timing")

    p_score = sub.add_parser("score", help="time Tandau's EAP scoring (100,000 x 200 by default)")
    p_score.add_argument("--size", choices=list(SIZES), default="large")
    p_score.add_argument("--repeat", type=int, default=5)

    p_rep = sub.add_parser(
        "replicate", help="accuracy over R simulated replications per condition (paired ratios with CIs)"
    )
    p_rep.add_argument("--reps", type=int, default=5, help="replications per condition (default 5)")
    p_rep.add_argument(
        "--reps-small", type=int, default=None, help="replications at 2,000 x 40 (default: 2 x --reps)"
    )
    p_rep.add_argument("--sizes", type=_sizes, default=["small", "medium"], help="small,medium or 2000x40")
    p_rep.add_argument("--models", type=_csv(MODELS), default=["2pl", "grm", "3pl"])
    p_rep.add_argument("--missing", type=_csv(("0", "0.1")), default=["0", "0.1"])
    p_rep.add_argument(
        "--tools", type=_csv(list(TOOLS)), default=["tandau", "girth", "pymirt_q61", "rasch_irt"]
    )
    p_rep.add_argument("--timeout", type=float, default=600.0, help="seconds per fit (default 600)")
    p_rep.add_argument("--mem-limit-gb", type=float, default=16.0)
    p_rep.add_argument("--budget", type=float, default=4 * 3600.0, help="whole-run seconds (default 4 h)")
    p_rep.add_argument("--resume", action="store_true", help="keep fits already recorded as ok")
    p_rep.add_argument("--table-only", action="store_true", help="only print the table of stored records")
    p_rep.add_argument("--diagnostics", action="store_true", help="also show Tandau's diagnostic variants")
    p_rep.add_argument("--markdown", action="store_true", help="the README table and verdict only")

    p_tab = sub.add_parser("table", help="print the tables from bench/results/irt/*.json")
    p_tab.add_argument("--markdown", action="store_true", help="README tables: targets, accuracy, per model")

    args = parser.parse_args(argv)
    if args.cmd in ("simulate", "run") and args.quick:
        args.sizes = ["small"]

    if args.cmd == "simulate":
        for cell in _cells(args.sizes, args.models, list(MISSING_RATES)):
            t0 = time.perf_counter()
            path = make_cell(cell)
            print(f"{path}  ({time.perf_counter() - t0:.1f} s)")
        return 0

    if args.cmd == "run":
        _warn_blas_env()
        cells = _cells(args.sizes, args.models, [float(m) for m in args.missing])
        runner.run_all(
            cells,
            args.tools,
            timeout_s=args.timeout,
            mem_limit_mb=args.mem_limit_gb * 1024,
            repeat=args.repeat,
            budget_s=args.budget,
            resume=args.resume,
        )
        if "tandau" in args.tools and not args.no_score:
            from bench.irt.scoring import run_scoring

            size = "large" if "large" in args.sizes else args.sizes[-1]
            print(run_scoring(size, repeat=5, timeout_s=args.timeout), flush=True)
        _print_tables(markdown=False)
        return 0

    if args.cmd == "score":
        _warn_blas_env()
        from bench.irt.scoring import run_scoring

        print(run_scoring(args.size, repeat=args.repeat, timeout_s=600.0))
        return 0

    if args.cmd == "replicate":
        from bench.irt import replicate

        if not args.table_only:
            _warn_blas_env()
            small = args.reps_small if args.reps_small is not None else 2 * args.reps
            replicate.run_replications(
                replicate.conditions(args.sizes, args.models, [float(m) for m in args.missing]),
                args.tools,
                {s: (small if s == "small" else args.reps) for s in args.sizes},
                timeout_s=args.timeout,
                mem_limit_mb=args.mem_limit_gb * 1024,
                budget_s=args.budget,
                resume=args.resume,
            )
        summary = replicate.summarise(replicate.load_all())
        replicate.write_summary(summary)
        print(replicate.table(summary, diagnostics=args.diagnostics))
        print()
        print("accuracy over replications: " + replicate.verdict_line(summary))
        if not args.markdown:
            print(f"\n(records: {replicate.REP_DIR}/*.json; summary: {replicate.REP_SUMMARY})")
        return 0

    _print_tables(markdown=args.markdown)
    return 0


def _print_tables(markdown: bool) -> None:
    records, scores = report.load_records(), report.load_scores()
    path = report.write_summary(records, scores)
    if markdown:
        print(report.readme_markdown(records, scores))
        return
    print(report.machine_line(records))
    print()
    print(report.full_table(records))
    print()
    print(report.targets_table(records, scores))
    print(f"\n(records: {runner.RECORDS_DIR}/*.json; summary: {path})")
