"""``python -m model_registry {train, validate, promote, rollback}``.

Exit codes (also in model_registry/README.md):

== =====================================================================
0  success (train: the challenger was promoted; validate: data is valid)
1  unexpected error
2  usage error (bad arguments or settings)
3  bad data: validation failed (the report names rows and rules)
4  MLflow tracking server or dataset store unreachable
5  challenger rejected by the promotion gate (the champion stays)
6  promote / rollback impossible (unknown version, no previous champion)
== =====================================================================
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from model_registry import contract
from model_registry.errors import (
    ChallengerRejected,
    DataValidationError,
    RegistryError,
    RegistryUnavailable,
)

if TYPE_CHECKING:  # the training code is imported only when a command needs it
    from model_registry.workflow import TrainOutcome

log = logging.getLogger("model_registry")

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_registry",
        description="Train, validate and promote the ai-text-detector model.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train candidates, register the best, run the gate")
    train.add_argument(
        "--data",
        help="labelled CSV(s), comma-separated (text,generated[,domain,generator,group_id]); "
        "default REGISTRY_DATA_PATH (the shipped essays + multi-domain corpus)",
    )
    train.add_argument(
        "--summary-json",
        metavar="PATH",
        help="also write the summary (every candidate's metrics, gate, timings) as JSON",
    )

    validate = commands.add_parser("validate", help="validate a labelled CSV and print a report")
    validate.add_argument("path")
    validate.add_argument("--json", action="store_true", help="print the full report as JSON")

    promote = commands.add_parser("promote", help="move @champion to a given version")
    promote.add_argument("--version", required=True)

    commands.add_parser("rollback", help="move @champion back to the previous champion")
    return parser


def _configure_logging(verbose: bool) -> None:
    from platform_processes.logging_config import configure_logging

    # stderr: stdout carries the command's result (the summary table, JSON).
    configure_logging("debug" if verbose else "info", stream=sys.stderr)
    # MLflow's hints about dataset-source guessing and integer schema columns do not apply here.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_validate(args: argparse.Namespace) -> int:
    from model_registry.labelled_csv import load_labelled_csv
    from model_registry.settings import RegistrySettings
    from model_registry.validation import validate

    settings = RegistrySettings()
    report = validate(
        load_labelled_csv(args.path),
        min_chars=settings.min_text_chars,
        max_chars=settings.max_text_chars,
        min_class_share=settings.min_class_share,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    if not report.ok:
        raise DataValidationError(report.summary_line(), report)
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    from model_registry.settings import RegistrySettings
    from model_registry.validation import ValidationReport
    from model_registry.workflow import train

    settings = RegistrySettings()
    try:
        outcome = train(settings, data=args.data, progress=_progress)
    except DataValidationError as exc:
        if isinstance(exc.report, ValidationReport):
            print(exc.report.to_text(), file=sys.stderr)
        raise
    print(summary_table(outcome))
    if args.summary_json:
        path = Path(args.summary_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(outcome.to_dict(), indent=2) + "\n")
    if not outcome.decision.promoted:
        raise ChallengerRejected(
            f"challenger version {outcome.registered_version} rejected: {outcome.decision.reason}",
            outcome.decision,
        )
    return EXIT_OK


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def summary_table(outcome: TrainOutcome) -> str:
    """The end-of-training table: one row per candidate, then the gate decision."""
    o = outcome
    header = (
        f"{'candidate':<20} {'trials':>6} {'thr':>6} {'val_f1':>7} {'test_f1':>7} "
        f"{'test_acc':>8} {'roc_auc':>7} {'pr_auc':>7} {'behav':>6} {'train_s':>7} "
        f"{'log_s':>6} {'load_s':>6} {'size_MB':>7} {'lodo_mean':>9} {'lodo_worst':>10}"
    )
    lines = [
        f"dataset {o.dataset_digest[:12]}  test split {o.test_split_digest[:12]}  "
        f"splits {o.split_sizes}",
        header,
        "-" * len(header),
    ]
    for r in o.results:
        marker = "*" if r is o.best else " "
        lines.append(
            f"{marker}{r.name:<19} {r.n_trials:>6} {r.threshold:>6.3f} "
            f"{r.validation_metrics['f1']:>7.4f} {r.test_metrics['f1']:>7.4f} "
            f"{r.test_metrics['accuracy']:>8.4f} {r.test_metrics['roc_auc']:>7.4f} "
            f"{r.test_metrics['pr_auc']:>7.4f} {'ok' if r.behaviour.passed else 'FAIL':>6} "
            f"{r.train_seconds:>7.1f} {r.log_seconds:>6.1f} {r.load_seconds:>6.1f} "
            f"{r.model_size_bytes / 1e6:>7.1f} {_figure(r.lodo.get('mean_roc_auc')):>9} "
            f"{_figure(r.lodo.get('worst_roc_auc'))} {r.lodo.get('worst_domain') or ''}"
        )
    d = o.decision
    champion = "none" if d.champion_f1 is None else f"v{d.champion_version} F1 {d.champion_f1:.4f}"
    lines += [
        f"registered {o.model_name} version {o.registered_version} "
        f"(* {o.best.name}) as @{contract.CHALLENGER_ALIAS}",
        f"gate: {'PROMOTED to @champion' if d.promoted else 'REJECTED'}; challenger F1 "
        f"{d.challenger_f1:.4f}, champion {champion}; {d.reason}",
        "time: " + ", ".join(f"{k} {v:.0f}s" for k, v in o.seconds.items()),
    ]
    return "\n".join(lines)


def _cmd_promote(args: argparse.Namespace) -> int:
    from model_registry.gate import promote
    from model_registry.settings import RegistrySettings
    from model_registry.tracking import registry_client

    settings = RegistrySettings()
    previous = promote(registry_client(), settings.model_name, args.version)
    print(f"{settings.model_name}@champion: version {args.version} (was {previous or 'none'})")
    return EXIT_OK


def _cmd_rollback(args: argparse.Namespace) -> int:
    from model_registry.gate import rollback
    from model_registry.settings import RegistrySettings
    from model_registry.tracking import registry_client

    settings = RegistrySettings()
    old, new = rollback(registry_client(), settings.model_name)
    print(f"{settings.model_name}@champion: rolled back from version {old} to version {new}")
    return EXIT_OK


COMMANDS = {
    "train": _cmd_train,
    "validate": _cmd_validate,
    "promote": _cmd_promote,
    "rollback": _cmd_rollback,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except RegistryError as exc:
        print(f"error ({type(exc).__name__}): {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:  # settings validation (pydantic) and bad arguments
        first = str(exc).strip().splitlines()
        print(f"error (usage): {' '.join(first[:3])}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_UNEXPECTED
    except Exception as exc:
        from model_registry.tracking import lost_connection

        reason = lost_connection(exc)
        if reason is None:
            raise
        # MLflow or the dataset store went away during the run: nothing was registered.
        print(f"error (RegistryUnavailable): connection lost: {reason}", file=sys.stderr)
        return RegistryUnavailable.exit_code
