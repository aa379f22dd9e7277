"""A small typed HTTP client for the serving API: the only way the frontend reaches the model.

Every failure surfaces as one of the ``ServingError`` subclasses below, each carrying a one-line
message fit to show a person: serving unreachable, no model loaded yet (503), input rejected
(4xx, with the server's own explanation), or an answer the client could not understand.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

#: What a person can say a text is (feedback).
Label = Literal["ai", "human"]
#: What serving can answer: "uncertain" when the text is outside the model's scope.
Verdict = Literal["ai", "human", "uncertain"]


ModelT = TypeVar("ModelT", bound=BaseModel)


class ServingError(Exception):
    """Base class: something kept serving from answering the request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServingUnavailable(ServingError):
    """Serving could not be reached (refused, timed out, DNS) or failed with a 5xx."""


class NoModelYet(ServingError):
    """Serving is up but has no model loaded yet (HTTP 503)."""


class BadInput(ServingError):
    """Serving rejected the request (4xx); ``message`` is the server's explanation."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class PredictionNotFound(BadInput):
    """Feedback named a prediction id serving does not know (HTTP 404)."""


class UnexpectedResponse(ServingError):
    """Serving answered something this client does not understand."""


class _Lenient(BaseModel):
    """Responses may grow new fields; unknown ones are ignored, not an error."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class Contribution(_Lenient):
    """One feature (an n-gram) and its share of the decision (positive: towards AI)."""

    feature: str
    weight: float


class Explanation(_Lenient):
    """The features that pushed the decision most each way, and how they were weighed."""

    method: str | None = None
    towards_ai: list[Contribution] = Field(default_factory=list)
    towards_human: list[Contribution] = Field(default_factory=list)


class Prediction(_Lenient):
    """Serving's verdict on one text.

    Out of scope or too close to call (``in_scope`` false) the label is "uncertain" and
    ``scope_reason`` says why; ``probability_ai`` is still the model's raw probability, which is
    no verdict then.
    """

    label: Verdict
    probability_ai: float
    threshold: float
    #: Human below this, "uncertain" from it up to ``threshold``; ``None``: no such band.
    human_below: float | None = None
    model_version: str
    prediction_id: str
    #: The training domain whose threshold applied; ``None``: the global (strictest) one.
    threshold_domain: str | None = None
    in_scope: bool = True
    scope_reason: str | None = None
    explanation: Explanation | None = None

    @property
    def judged(self) -> bool:
        """Whether the model gave a verdict (AI or Human) at all."""
        return self.in_scope and self.label != "uncertain"


class FeedbackReceipt(_Lenient):
    """Serving's confirmation that a piece of feedback was stored."""

    prediction_id: str
    label: Label
    predicted_label: Verdict | None = None
    correct: bool | None = None


class DomainScores(_Lenient):
    """Evaluation of one domain (or one left-out domain) at the served threshold."""

    n_human: int | None = None
    n_ai: int | None = None
    f1: float | None = None
    roc_auc: float | None = None
    fpr_human: float | None = None
    #: The highest human FPR still consistent with the test texts at 95 % (few texts: wide).
    fpr_human_upper95: float | None = None
    tpr_ai: float | None = None
    brier: float | None = None
    #: What serving answers: the share too close to call, and the F1 of the rest.
    uncertain_share: float | None = None
    answered_f1: float | None = None


class LeaveOneDomainOut(_Lenient):
    """The unseen-genre estimate: each domain scored by a model trained without it."""

    domains: dict[str, DomainScores] = Field(default_factory=dict)
    mean_roc_auc: float | None = None
    worst_roc_auc: float | None = None
    worst_domain: str | None = None


class DomainThresholdInfo(_Lenient):
    """One genre's own decision threshold and what it achieved on validation."""

    threshold: float | None = None
    val_fpr_human: float | None = None
    val_tpr_ai: float | None = None
    #: The human texts it was chosen on: validation, and training texts scored cross-fitted.
    n_human: int | None = None
    cross_fitted_n_human: int | None = None


class OperatingThresholdsInfo(_Lenient):
    """The version's global threshold and the per-genre ones (texts routed by style)."""

    domains: dict[str, DomainThresholdInfo] = Field(default_factory=dict)


class Routing(_Lenient):
    """How often a genre's test texts were routed to its own threshold."""

    accuracy: float | None = None
    global_share: float | None = None


class Evaluation(_Lenient):
    """Per-domain / per-generator evaluation of the served version (``GET /v1/model``)."""

    threshold: float | None = None
    fpr_target: float | None = None
    #: Absent for versions evaluated at one global threshold.
    operating_thresholds: OperatingThresholdsInfo | None = None
    routing: dict[str, Routing] = Field(default_factory=dict)
    domains: dict[str, DomainScores] = Field(default_factory=dict)
    generators: dict[str, DomainScores] = Field(default_factory=dict)
    leave_one_domain_out: LeaveOneDomainOut | None = None
    #: AI rewrites of a person's text, by the share of its wording they keep (band -> scores).
    kept_wording: dict[str, DomainScores] = Field(default_factory=dict)


class ModelInfo(_Lenient):
    """What serving says about the model it is serving."""

    name: str
    alias: str | None = None
    version: str
    run_id: str | None = None
    threshold: float
    metrics: dict[str, float] = Field(default_factory=dict)
    dataset_digest: str | None = None
    loaded_at: datetime | None = None
    explain_method: str | None = None
    scoring: str | None = None
    #: ``None`` when the version was registered without a per-domain evaluation.
    evaluation: Evaluation | None = None


class ServingClient:
    """Typed calls to the serving API at ``base_url``.

    ``transport`` lets tests answer at the HTTP boundary (``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 2.0,
        request_timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            transport=transport,
            headers={"accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- API --------------------------------------------------------------------------------

    def predict(self, text: str, *, explain: bool = False) -> Prediction:
        """Classify one text, optionally with the n-grams that drove the decision."""
        body = self._call("POST", "/v1/predict", json={"text": text, "explain": explain})
        return _parse(Prediction, body)

    def predict_batch(self, texts: Sequence[str]) -> list[Prediction]:
        """Classify several texts in one request; answers come back in order."""
        body = self._call("POST", "/v1/predict", json={"texts": list(texts)})
        if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
            raise UnexpectedResponse("serving's batch answer has no 'predictions' list")
        predictions = [_parse(Prediction, item) for item in body["predictions"]]
        if len(predictions) != len(texts):
            raise UnexpectedResponse(
                f"serving answered {len(predictions)} predictions for {len(texts)} texts"
            )
        return predictions

    def send_feedback(self, prediction_id: str, label: Label) -> FeedbackReceipt:
        """Tell serving the true label of an earlier prediction."""
        body = self._call(
            "POST", "/v1/feedback", json={"prediction_id": prediction_id, "label": label}
        )
        if isinstance(body, dict):
            body = {"prediction_id": prediction_id, "label": label, **body}
        return _parse(FeedbackReceipt, body)

    def model_info(self) -> ModelInfo:
        """The model serving answers with (raises ``NoModelYet`` while there is none)."""
        return _parse(ModelInfo, self._call("GET", "/v1/model"))

    # --- plumbing -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise ServingUnavailable(
                f"serving at {self.base_url} did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise ServingUnavailable(f"cannot reach serving at {self.base_url}: {exc}") from exc
        status = response.status_code
        if status == 503 and path == "/v1/feedback":  # the prediction log is busy or down
            raise ServingUnavailable(_error_message(response) or "serving cannot store feedback")
        if status == 503:
            raise NoModelYet(_error_message(response) or "serving has no model loaded yet")
        if status == 404 and path == "/v1/feedback":
            raise PredictionNotFound(
                _error_message(response) or "unknown prediction id", status_code=status
            )
        if 400 <= status < 500:
            raise BadInput(
                _error_message(response) or f"request rejected (HTTP {status})", status_code=status
            )
        if status >= 500:
            logger.warning("serving %s %s answered %s: %s", method, path, status, response.text)
            raise ServingUnavailable(f"serving failed with HTTP {status}")
        try:
            return response.json()
        except ValueError as exc:
            raise UnexpectedResponse(f"serving answered {path} with non-JSON content") from exc


def _parse(model: type[ModelT], body: Any) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise UnexpectedResponse(
            f"serving's answer does not match {model.__name__}: {where}: {first['msg']}"
        ) from exc


def _error_message(response: httpx.Response) -> str:
    """The server's explanation of an error, flattened to one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0][:300] if response.text.strip() else ""
    return _flatten(body)[:500]


def _flatten(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(filter(None, (_flatten(item) for item in body)))
    if isinstance(body, dict):
        if "msg" in body:
            loc = [str(part) for part in body.get("loc", []) if part != "body"]
            return f"{'.'.join(loc)}: {body['msg']}" if loc else str(body["msg"])
        if "error" in body:  # serving's shape: {"error": summary, "detail": specifics}
            detail = _flatten(body.get("detail")) if body.get("detail") is not None else ""
            summary = _flatten(body["error"])
            return f"{summary}: {detail}" if detail and detail != summary else summary
        for key in ("detail", "message", "reason", "errors"):
            if key in body:
                return _flatten(body[key])
    return "" if body is None else str(body)
