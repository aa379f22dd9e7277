"""The exceptions the registry raises, each mapped to its own CLI exit code.

Callers (the CLI, Prefect tasks) catch ``RegistryError`` and read ``exit_code`` / ``str(exc)``
for a one-line reason; the more specific classes say which kind of failure it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_registry.gate import GateDecision
    from model_registry.validation import ValidationReport


class RegistryError(Exception):
    """Base class: a failure with a one-line reason and a CLI exit code."""

    exit_code = 1


class DataValidationError(RegistryError):
    """The labelled data is unreadable or breaks validation rules (carries the report)."""

    exit_code = 3

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class RegistryUnavailable(RegistryError):
    """The MLflow tracking server or the dataset store cannot be reached."""

    exit_code = 4


class ChallengerRejected(RegistryError):
    """The promotion gate kept the current champion (the challenger is registered, not served)."""

    exit_code = 5

    def __init__(self, message: str, decision: GateDecision | None = None) -> None:
        super().__init__(message)
        self.decision = decision


class PromotionError(RegistryError):
    """A manual promote/rollback is impossible (unknown version, no previous champion...)."""

    exit_code = 6
