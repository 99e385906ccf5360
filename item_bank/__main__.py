"""Command line: ``python -m item_bank`` (installed as ``tandau-irt``).

::

    python -m item_bank calibrate RESPONSES.csv --model 2pl --out PARAMS.csv [--fixed BANK.csv] [--json]
    python -m item_bank score RESPONSES.csv --params PARAMS.csv --method eap --out SCORES.csv
    python -m item_bank fit RESPONSES.csv --params PARAMS.csv --out FIT.csv
    python -m item_bank simulate-test PARAMS.csv --design DESIGN.json --candidates 2000 [--seed S] [--json]

File formats are described in :mod:`item_bank.formats.responses_csv` and :mod:`item_bank.formats.params_csv`;
DESIGN.json (sections, blueprints, categories, enemies, exposure control, stopping rules) in
:mod:`item_bank.assembly.design`. ``simulate-test`` prints a report per section (table, or JSON with
``--json``).
Exit status: 0 on success, 2 for bad input (the message names the file, row and column; no output file is
written); an unexpected failure is a bug and ends with Python's traceback and status 1. Calibration prints one
progress line per EM iteration on stderr unless ``-q`` is given; ``--json`` prints the calibration summary as
JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

from item_bank.formats.params_csv import read_params, write_fit, write_params
from item_bank.formats.responses_csv import FormatError, ResponseTable, read_responses, write_scores
from item_bank.irt.calibration import Calibrator
from item_bank.irt.fit import rasch_fit, s_x2
from item_bank.irt.models import MODELS, ItemParameters
from item_bank.irt.scoring import SCORERS, score_responses

__all__ = ["EXIT_BAD_INPUT", "build_parser", "main"]

EXIT_BAD_INPUT = 2
RASCH_FAMILY = ("rasch", "1pl", "pcm")
"""Models whose items get infit/outfit columns in FIT.csv."""


class InputError(Exception):
    """Input that cannot be processed; the message is shown to the user as is."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a -q given before the command must survive the subcommand's own (absent) -q.
    common.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output on stderr"
    )
    parser = argparse.ArgumentParser(
        prog="tandau-irt", description="Calibrate, score and check IRT item banks.", parents=[common]
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{calibrate,score,fit,simulate-test}"
    )

    calibrate = commands.add_parser("calibrate", parents=[common], help="estimate item parameters (MML-EM)")
    calibrate.add_argument("responses", metavar="RESPONSES.csv")
    calibrate.add_argument("--model", required=True, choices=MODELS)
    calibrate.add_argument("--out", required=True, metavar="PARAMS.csv")
    calibrate.add_argument(
        "--fixed",
        metavar="BANK.csv",
        help="hold these items at their bank values (fixed-parameter calibration)",
    )
    calibrate.add_argument("--json", action="store_true", help="print the result summary as JSON on stdout")
    calibrate.add_argument("--max-iter", type=int, default=500, help="largest number of EM iterations")

    score = commands.add_parser("score", parents=[common], help="estimate each person's theta and SE")
    score.add_argument("responses", metavar="RESPONSES.csv")
    score.add_argument("--params", required=True, metavar="PARAMS.csv")
    score.add_argument("--method", default="eap", choices=sorted(SCORERS))
    score.add_argument("--out", required=True, metavar="SCORES.csv")
    _add_prior(score)

    fit = commands.add_parser("fit", parents=[common], help="item fit: S-X2 (and infit/outfit for Rasch)")
    fit.add_argument("responses", metavar="RESPONSES.csv")
    fit.add_argument("--params", required=True, metavar="PARAMS.csv")
    fit.add_argument("--out", required=True, metavar="FIT.csv")
    _add_prior(fit)

    simulate = commands.add_parser(
        "simulate-test",
        parents=[common],
        help="expected SE, reliability and item exposure of a test design over simulated candidates",
    )
    simulate.add_argument("params", metavar="PARAMS.csv")
    simulate.add_argument("--design", required=True, metavar="DESIGN.json")
    simulate.add_argument("--candidates", type=int, default=2000, help="simulated candidates (default 2000)")
    simulate.add_argument("--seed", type=int, default=None, help="random seed (default: fresh entropy)")
    simulate.add_argument("--json", action="store_true", help="print the reports as JSON on stdout")
    return parser


def _add_prior(command: argparse.ArgumentParser) -> None:
    # Rasch and PCM calibrations estimate the latent SD instead of fixing it at 1: `calibrate` reports it.
    command.add_argument(
        "--prior-mean",
        type=float,
        default=0.0,
        help="mean of the latent normal distribution (default 0; see calibrate's latent_mean)",
    )
    command.add_argument(
        "--prior-sd",
        type=float,
        default=1.0,
        help="SD of the latent normal distribution (default 1; see calibrate's latent_sd)",
    )


def _responses_for(path: str, params: ItemParameters) -> tuple[ResponseTable, ItemParameters]:
    """Responses checked against the parameters, and the parameters of the response columns in their order."""
    n_categories = {item: int(k) for item, k in zip(params.item_ids, params.n_categories, strict=True)}
    table = read_responses(path, n_categories=n_categories)
    return table, params.subset(list(table.item_ids))


def _calibrate(args: argparse.Namespace, err: TextIO, out: TextIO) -> None:
    table = read_responses(args.responses)
    fixed = read_params(args.fixed).params if args.fixed else None

    def progress(iteration: int, log_likelihood: float, max_change: float) -> None:
        print(
            f"EM iteration {iteration}: log-likelihood {log_likelihood:.4f}, max change {max_change:.2e}",
            file=err,
            flush=True,
        )

    calibrator = Calibrator(
        args.model, fixed=fixed, max_iter=args.max_iter, callback=None if args.quiet else progress
    )
    try:
        calibrator.fit(table.responses, list(table.item_ids))
    except ValueError as exc:
        raise InputError(f"{args.responses}: {exc}") from exc
    write_params(args.out, calibrator.params_, calibrator.se_)
    summary: dict[str, Any] = {
        "model": args.model,
        "n_persons": int(calibrator.n_persons_),
        "n_items": calibrator.params_.n_items,
        "log_likelihood": float(calibrator.log_likelihood_),
        "aic": float(calibrator.aic_),
        "bic": float(calibrator.bic_),
        "n_parameters": int(calibrator.n_parameters_),
        "iterations": int(calibrator.n_iter_),
        "converged": bool(calibrator.converged_),
        "warnings": list(calibrator.warnings_),
        "latent_mean": [float(v) for v in np.atleast_1d(calibrator.latent_mean_)],
        "latent_sd": [float(v) for v in np.atleast_1d(calibrator.latent_sd_)],
        "out": args.out,
    }
    if not args.quiet:
        for warning in calibrator.warnings_:
            print(f"warning: {warning}", file=err)
        mean, sd = summary["latent_mean"][0], summary["latent_sd"][0]
        if (mean, sd) != (0.0, 1.0):
            print(
                f"latent distribution N({mean:.4f}, {sd:.4f}^2): score and fit with --prior-mean {mean:.4f} "
                f"--prior-sd {sd:.4f}",
                file=err,
            )
    if args.json:
        print(json.dumps(summary, indent=2), file=out)


def _score(args: argparse.Namespace, err: TextIO, out: TextIO) -> None:
    params = read_params(args.params).params
    table, used = _responses_for(args.responses, params)
    try:
        result = score_responses(
            used, table.responses, args.method, prior_mean=args.prior_mean, prior_sd=args.prior_sd
        )
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    write_scores(args.out, table.person_ids, result.theta, result.se)
    if not args.quiet:
        print(
            f"scored {len(table.person_ids)} persons by {args.method}; {int(result.at_bound.sum())} at a "
            "bound",
            file=err,
        )


def _fit(args: argparse.Namespace, err: TextIO, out: TextIO) -> None:
    params = read_params(args.params).params
    table, used = _responses_for(args.responses, params)
    try:
        sx2 = s_x2(used, table.responses, prior_mean=args.prior_mean, prior_sd=args.prior_sd)
    except ValueError as exc:
        raise InputError(f"{args.responses}: {exc}") from exc
    rasch = rasch_fit(used, table.responses) if all(m in RASCH_FAMILY for m in used.model) else None
    write_fit(args.out, sx2, rasch)
    if not args.quiet:
        print(
            f"S-X2 from {sx2.n_persons} of {len(table.person_ids)} persons (forms of 100 or more); "
            f"{int(np.sum(sx2.p < 0.05))} of {used.n_items} items with p < .05",
            file=err,
        )


def _simulate_test(args: argparse.Namespace, err: TextIO, out: TextIO) -> None:
    # Imported here so that the other commands do not pay for the assembly package.
    from item_bank.assembly import AssemblyError, format_report, load_design, simulate_design

    params = read_params(args.params).params
    if args.candidates < 2:
        raise InputError(f"--candidates must be at least 2, got {args.candidates}")
    try:
        with open(args.design, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(f"{args.design}: not valid JSON: {exc}") from exc
    try:
        design = load_design(data, params)
    except AssemblyError as exc:
        raise InputError(f"{args.design}: {exc}") from exc
    # Without --seed a fresh seed is drawn and printed, so that any run can be repeated.
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
    rng = np.random.default_rng(seed)
    try:
        reports = [simulate_design(design.pool, section, args.candidates, rng) for section in design.sections]
    except AssemblyError as exc:  # e.g. enemies leave a LOFT category short after validation passed
        raise InputError(f"{args.design}: {exc}") from exc
    if args.json:
        summary = {
            "candidates": args.candidates,
            "seed": seed,
            "sections": [r.to_dict() for r in reports],
        }
        print(json.dumps(summary, indent=2), file=out)
    else:
        print(f"{args.candidates} simulated candidates per section, seed {seed}", file=out)
        for n, report in enumerate(reports, start=1):
            print(f"Section {n}: {format_report(report)}", file=out)


COMMANDS = {"calibrate": _calibrate, "score": _score, "fit": _fit, "simulate-test": _simulate_test}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports usage errors itself, with status 2
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    args.quiet = getattr(args, "quiet", False)  # absent when -q was given nowhere (default SUPPRESS)
    try:
        COMMANDS[args.command](args, sys.stderr, sys.stdout)
    except (FormatError, InputError, OSError) as exc:  # OSError: unreadable input, unwritable output
        print(f"tandau-irt: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
