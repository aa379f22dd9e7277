"""Names every service agrees on: the registered model, its aliases and the tags of a version.

Standard library only, so that serving, monitoring, orchestration and the frontend can import it
without pulling in the training dependencies.
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_NAME = "ai-text-detector"
EXPERIMENT_NAME = "ai-text-detector"
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
MODEL_ARTIFACT_PATH = "model"
#: Run artifact (on the run that logged the model) holding the training-time reference profile.
REFERENCE_PROFILE_ARTIFACT = "monitoring/reference_profile.json"
#: Run artifact holding what serving needs to say whether a text is in the model's scope
#: (``model_monitoring.scope.ScopeReference`` as JSON).
SCOPE_REFERENCE_ARTIFACT = "monitoring/scope_reference.json"
#: Run artifact holding the per-domain / per-generator / leave-one-domain-out evaluation
#: (schema in docs/CONTRACTS.md, "Per-domain evaluation").
EVALUATION_BY_DOMAIN_ARTIFACT = "evaluation/by_domain.json"

#: Domain given to rows that carry none (the seed essay corpus).
DEFAULT_DOMAIN = "student_essay"

#: Label encoding of the corpus: column ``generated``.
LABEL_HUMAN = 0
LABEL_AI = 1
LABEL_NAMES = {LABEL_HUMAN: "human", LABEL_AI: "ai"}
#: Verdict given by the API (never by the model) when the model cannot judge the text.
VERDICT_UNCERTAIN = "uncertain"


class ScopeReason:
    """Why the model cannot judge a text (``scope_reason`` in the API, ``reason`` label of
    metrics). The first three come from the scope checks, before the model scores the text;
    ``LOW_CONFIDENCE`` from its score: too close to its routed threshold to call
    (``operating_thresholds.served_verdict``)."""

    TOO_SHORT = "too_short"
    NOT_ENGLISH = "not_english"
    UNLIKE_TRAINING_DATA = "unlike_training_data"
    LOW_CONFIDENCE = "low_confidence"
    #: The reasons of the scope checks (what the texts are), without ``LOW_CONFIDENCE``.
    CHECKS = (TOO_SHORT, NOT_ENGLISH, UNLIKE_TRAINING_DATA)
    ALL = (*CHECKS, LOW_CONFIDENCE)


class VersionTag:
    """Tag keys set on every registered model version."""

    THRESHOLD = "threshold"
    DATASET_DIGEST = "dataset_digest"
    TEST_SPLIT_DIGEST = "test_split_digest"
    CANDIDATE = "candidate"
    GIT_COMMIT = "git_commit"
    #: SHA-256 (hex) of the model's serialized file (``model_artifact_sha256``), recorded at the
    #: gate; serving refuses a version whose artifact does not match it.
    MODEL_SHA256 = "model_sha256"
    GATE_DECISION = "gate_decision"  # "promoted" | "rejected"
    GATE_REASON = "gate_reason"
    GATE_CHALLENGER_F1 = "gate_challenger_f1"
    GATE_CHAMPION_F1 = "gate_champion_f1"
    BEHAVIOUR_TESTS = "behaviour_tests"  # "passed" | "failed"
    #: The operating point: FPR target on human text, and the rates achieved on validation (at
    #: the thresholds the router picks for each text).
    FPR_TARGET = "fpr_target"
    #: JSON of ``model_registry.operating_thresholds.OperatingThresholds``: the global threshold
    #: (= ``threshold``) and one per domain, with their validation rates. Versions without it
    #: apply ``threshold`` to every text.
    OPERATING_THRESHOLDS = "operating_thresholds"
    VAL_FPR_HUMAN = "val_fpr_human"
    VAL_TPR_AI = "val_tpr_ai"
    #: Leave-one-domain-out (unseen-genre) estimate.
    LODO_MEAN_ROC_AUC = "lodo_mean_roc_auc"
    LODO_WORST_ROC_AUC = "lodo_worst_roc_auc"
    LODO_WORST_DOMAIN = "lodo_worst_domain"
    GATE_WORST_DOMAIN = "gate_worst_domain"
    #: Test metrics are tagged ``test_<metric>``: accuracy, precision, recall, f1, roc_auc, pr_auc.
    TEST_METRIC_PREFIX = "test_"


class ModelTag:
    """Tag keys set on the registered model itself."""

    FROZEN_TEST_SPLIT = "frozen_test_split_digest"
    PREVIOUS_CHAMPION = "previous_champion_version"


#: The serialized model inside a logged model's folder (MLflow's sklearn flavour: cloudpickle or
#: pickle -> ``model.pkl``, skops -> ``model.skops``). Loading it runs code, so it is what the
#: ``model_sha256`` tag pins.
MODEL_DATA_FILES = ("model.pkl", "model.skops")


def model_artifact_sha256(model_dir: Path) -> str:
    """SHA-256 (hex) of the serialized model in a logged model's local folder."""
    import hashlib

    for name in MODEL_DATA_FILES:
        path = Path(model_dir) / name
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()
    raise FileNotFoundError(f"no {' or '.join(MODEL_DATA_FILES)} in {model_dir}")


def project_root() -> Path:
    """The repository root (embedded-mode state lives under ``.local/`` there)."""
    return Path(os.environ.get("PLATFORM_HOME", Path(__file__).resolve().parents[1]))


def local_state_dir() -> Path:
    """Where the embedded mode keeps its databases and artifacts (not created here)."""
    return project_root() / ".local"


def default_tracking_uri() -> str:
    """The embedded default when ``MLFLOW_TRACKING_URI`` is not set: SQLite under ``.local/``."""
    return f"sqlite:///{local_state_dir() / 'mlflow' / 'mlflow.db'}"


def default_artifact_location() -> str:
    """Artifact folder used for the experiment when running on the embedded default."""
    return (local_state_dir() / "mlflow" / "artifacts").as_uri()


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the embedded SQLite default."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
