"""Request and response bodies of the HTTP API (they define the OpenAPI schema).

Types are strict: a number where a string is expected is an error, not coerced. The texts
themselves (empty, too long, too many, not encodable) are checked by
``request_parsing.check_texts``, with a message naming the limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

Label = Literal["ai", "human"]
#: What ``/v1/predict`` answers: the model's label, or "uncertain" when the text is out of scope.
Verdict = Literal["ai", "human", "uncertain"]
ScopeReasonName = Literal["too_short", "not_english", "unlike_training_data", "low_confidence"]


class PredictRequest(BaseModel):
    """Either one ``text`` or a batch of ``texts`` (not both)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "The mitochondria is the powerhouse of the cell."},
                {"texts": ["First essay...", "Second essay..."], "explain": True},
            ]
        },
    )

    text: StrictStr | None = Field(default=None, description="One text to classify.")
    texts: list[StrictStr] | None = Field(
        default=None, description="Several texts, answered in order.", min_length=1
    )
    explain: StrictBool = Field(
        default=False, description="Add the n-grams that pushed the decision most each way."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' (a string) or 'texts' (a list of strings)")
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class Contribution(BaseModel):
    feature: str
    weight: float


class ExplanationOut(BaseModel):
    method: str = Field(description="How weights were computed (see model_serving.explain).")
    towards_ai: list[Contribution]
    towards_human: list[Contribution]


class Prediction(BaseModel):
    label: Verdict = Field(
        description="'ai' or 'human' (the model's label at the threshold); 'uncertain' when the "
        "model cannot judge the text: out of its scope, or a score too close to the threshold "
        "to call (see scope_reason; probability_ai is still the model's)."
    )
    probability_ai: float = Field(ge=0.0, le=1.0)
    threshold: float = Field(
        description="The threshold this text was judged at: AI when probability_ai >= threshold "
        "(its routed domain's threshold, or the version's global one)."
    )
    human_below: float | None = Field(
        default=None,
        description="Human when probability_ai < human_below; in between the verdict is "
        "'uncertain' (scope_reason 'low_confidence'). Null for a version without that band: "
        "then human below the threshold.",
    )
    threshold_domain: str | None = Field(
        default=None,
        description="The training domain whose threshold applied (the domain the scope checks' "
        "router placed the text in); null when the global, strictest threshold applied (out of "
        "scope, a domain without a threshold of its own, or a version without per-domain "
        "thresholds).",
    )
    model_version: str = Field(description="The model version that answered.")
    prediction_id: str
    in_scope: bool = Field(
        description="Whether the model can judge this text (false: the label is 'uncertain')."
    )
    scope_reason: ScopeReasonName | None = Field(
        description="Why the model cannot judge the text: a scope check ('too_short', "
        "'not_english', 'unlike_training_data') or its score ('low_confidence'); null when "
        "in scope."
    )
    explanation: ExplanationOut | None = Field(default=None, exclude_if=lambda value: value is None)


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prediction_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    label: Label


class FeedbackResponse(BaseModel):
    prediction_id: str
    label: Label
    predicted_label: Label
    correct: bool


class ScopeInfo(BaseModel):
    """Which scope checks this version runs (``model_monitoring.scope``)."""

    reference: bool = Field(
        description="The version has a scope reference: texts unlike every training domain are "
        "out of scope. Without one only the length and language checks run."
    )
    min_chars: int
    min_route_chars: int = Field(
        description="Shorter in-scope texts are judged at the global threshold, not their "
        "genre's (characters, whitespace runs counted once)."
    )
    novelty_threshold: float | None


class ModelInfo(BaseModel):
    name: str
    alias: str
    version: str
    run_id: str
    threshold: float = Field(description="The global (fallback, strictest) threshold.")
    operating_thresholds: dict[str, Any] = Field(
        description="The global and per-domain thresholds with their validation rates "
        "(version tag operating_thresholds; only 'global' for versions recorded before it)."
    )
    metrics: dict[str, float] = Field(description="Test metrics from the version's tags.")
    dataset_digest: str | None
    loaded_at: datetime
    explain_method: str
    scoring: str = Field(
        description="How texts are scored: 'compiled' (the pipeline compiled to arrays, checked "
        "to give the pipeline's probabilities at load) or 'pipeline' (scikit-learn itself)."
    )
    scope: ScopeInfo
    evaluation: dict[str, Any] | None = Field(
        description="The version's per-domain evaluation (run artifact evaluation/by_domain.json, "
        "schema in docs/CONTRACTS.md); null when the version has none."
    )


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    model_version: str | None = None
    reason: str | None = None


class ReloadResponse(BaseModel):
    outcome: str
    version: str | None
    reason: str
    serving_version: str | None


class ErrorBody(BaseModel):
    error: str
    detail: Any = None


class InvocationsResponse(BaseModel):
    predictions: list[Any]
