"""A fake of the serving API at the HTTP boundary (``httpx.MockTransport``) for frontend tests.

It answers like serving does (same routes, bodies and status codes) from a tiny deterministic
rule, records every request, and can be switched to "down" (connection refused) or "no model"
(503) and back, so tests can check what a person sees and that the page recovers.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

AI_MARKER = "additionally"
HUMAN_MARKER = "dont"
REJECT_MARKER = "REJECT-ME"
#: A text starting with one of these is out of the model's scope for that reason (``label``
#: "uncertain", ``in_scope`` false), as serving answers it (docs/CONTRACTS.md, "Scope").
OUT_OF_SCOPE_PREFIXES = {
    "SHORT:": "too_short",
    "FOREIGN:": "not_english",
    "ODD:": "unlike_training_data",
    "CLOSE:": "low_confidence",
}
#: The "too close to call" band's lower bound in the fake's answers (human below it).
HUMAN_BELOW = 0.05

#: ``evaluation`` of ``GET /v1/model`` in the shape of docs/CONTRACTS.md ("Per-domain evaluation").
SAMPLE_EVALUATION: dict[str, Any] = {
    "threshold": 0.73,
    "fpr_target": 0.01,
    "domains": {
        "news": {
            "n_human": 120,
            "n_ai": 118,
            "f1": 0.97,
            "roc_auc": 0.99,
            "fpr_human": 0.008,
            "fpr_human_upper95": 0.038921,
            "tpr_ai": 0.93,
            "brier": 0.03,
            "uncertain_share": 0.06,
            "answered_f1": 0.99,
        },
        "student_essay": {
            "n_human": 900,
            "n_ai": 880,
            "f1": 0.986,
            "roc_auc": 0.998,
            "fpr_human": 0.014,
            "tpr_ai": 0.98,
            "brier": 0.012,
            "uncertain_share": 0.02,
            "answered_f1": 0.991,
        },
    },
    "generators": {"gpt-4o": {"n_ai": 30, "tpr_ai": 0.9, "f1": 0.95, "roc_auc": 0.98}},
    "kept_wording": {
        "under_10pct": {"n_ai": 200, "tpr_ai": 0.95, "uncertain_share": 0.04},
        "50pct_or_more": {"n_ai": 20, "tpr_ai": 0.25, "uncertain_share": 0.35},
    },
    "leave_one_domain_out": {
        "domains": {
            "news": {"roc_auc": 0.9, "f1": 0.85, "fpr_human": 0.04},
            "wikipedia": {"roc_auc": 0.86, "f1": 0.8, "fpr_human": 0.07},
        },
        "mean_roc_auc": 0.92,
        "worst_roc_auc": 0.86,
        "worst_domain": "wikipedia",
    },
}


@dataclass
class FakeServing:
    """In-memory serving: state, stored predictions and feedback, and a request log."""

    state: Literal["ready", "no_model", "down"] = "ready"
    version: str = "7"
    threshold: float = 0.5
    evaluation: dict[str, Any] | None = field(default_factory=lambda: dict(SAMPLE_EVALUATION))
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    feedback: list[tuple[str, str]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def calls(self, method: str, path: str) -> list[Any]:
        """Bodies of the recorded requests to ``method path``."""
        return [body for m, p, body in self.requests if (m, p) == (method, path)]

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if self.state == "down":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        route = (request.method, request.url.path)
        if route == ("GET", "/healthz"):
            return httpx.Response(200, json={"status": "ok"})
        if self.state == "no_model":
            return _error(503, "model not available", "no champion registered yet")
        if route == ("GET", "/v1/model"):
            return httpx.Response(200, json=self.model_info())
        if route == ("POST", "/v1/predict"):
            return self._predict(body)
        if route == ("POST", "/v1/feedback"):
            return self._feedback(body)
        return _error(404, "Not Found")

    def model_info(self) -> dict[str, Any]:
        return {
            "name": "ai-text-detector",
            "alias": "champion",
            "version": self.version,
            "run_id": "0123456789abcdef",
            "threshold": self.threshold,
            "metrics": {"test_f1": 0.9612, "test_accuracy": 0.9587, "test_roc_auc": 0.993},
            "dataset_digest": "sha256:feedface",
            "loaded_at": "2026-11-23T08:00:00Z",
            "explain_method": "linear: coef * tfidf",
            "scoring": "compiled",
            "evaluation": self.evaluation,
        }

    def _predict(self, body: Any) -> httpx.Response:
        if isinstance(body, dict) and isinstance(body.get("texts"), list):
            texts = body["texts"]
            for index, text in enumerate(texts):
                if REJECT_MARKER in text:
                    return _too_long(f"texts[{index}]")
            return httpx.Response(
                200, json={"predictions": [self._one(text, explain=False) for text in texts]}
            )
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return _invalid("text", "Field required")
        if REJECT_MARKER in body["text"]:
            return _too_long("text")
        if not body["text"].strip():
            return _invalid("text", "text must not be empty")
        return httpx.Response(200, json=self._one(body["text"], explain=bool(body.get("explain"))))

    def _one(self, text: str, *, explain: bool) -> dict[str, Any]:
        probability = 0.91 if AI_MARKER in text.lower() else 0.12
        reason = next((r for p, r in OUT_OF_SCOPE_PREFIXES.items() if text.startswith(p)), None)
        prediction: dict[str, Any] = {
            "label": "ai" if probability >= self.threshold else "human",
            "probability_ai": probability,
            "threshold": self.threshold,
            "human_below": HUMAN_BELOW,
            "model_version": self.version,
            "prediction_id": uuid.uuid4().hex,
            "in_scope": reason is None,
            "scope_reason": reason,
        }
        if reason is not None:
            prediction["label"] = "uncertain"
        self.predictions[prediction["prediction_id"]] = prediction
        if explain:
            prediction["explanation"] = {
                "method": "linear: coef * tfidf",
                "towards_ai": [{"feature": AI_MARKER, "weight": 0.8}],
                "towards_human": [{"feature": HUMAN_MARKER, "weight": -0.5}],
            }
        return prediction

    def _feedback(self, body: Any) -> httpx.Response:
        prediction_id = body.get("prediction_id") if isinstance(body, dict) else None
        if prediction_id not in self.predictions:
            return _error(404, "unknown prediction_id", prediction_id)
        self.feedback.append((prediction_id, body["label"]))
        predicted = self.predictions[prediction_id]["label"]
        return httpx.Response(
            200,
            json={
                "prediction_id": prediction_id,
                "label": body["label"],
                "predicted_label": predicted,
                "correct": predicted == body["label"],
            },
        )


def _invalid(field_name: str, message: str) -> httpx.Response:
    """Serving's 422 shape for a body that fails validation."""
    detail = [{"loc": [field_name], "msg": message, "type": "value_error"}]
    return _error(422, "invalid request body", detail)


def _too_long(where: str) -> httpx.Response:
    return _error(422, f"{where} has 100001 characters; the limit is 100000")


def _error(status: int, error: str, detail: Any = None) -> httpx.Response:
    """Serving's error body: ``{"error": summary, "detail": specifics}``."""
    return httpx.Response(status, json={"error": error, "detail": detail})
