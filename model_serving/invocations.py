"""The MLflow scoring protocol (``POST /invocations``), so ``mlflow models serve`` clients work.

Accepted bodies (JSON): ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``,
``{"dataframe_records": [{"text": ...}, ...]}``, ``{"inputs": [...]}`` / ``{"instances": [...]}``
(a list of strings, a list of one-key records, or ``{"text": [...]}``). The text column is taken
by this module -- column ``text``, or the only column -- and the pipeline gets a plain list of
strings: no DataFrame reaches the vectorizer. (A DataFrame handed to a ``TfidfVectorizer``
is iterated over its column names: every row would silently be scored as the word "text".)

The answer is ``{"predictions": [...]}`` shaped like the version's pyfunc output: labels
(0 human / 1 AI, each at the threshold ``/v1/predict`` applies to that text: its routed domain's,
else the global one) for models logged with the default ``predict``, or
``[P(human), P(AI)]`` rows for models logged with ``pyfunc_predict_fn="predict_proba"``. A
``"params": {"predict_fn": "predict" | "predict_proba"}`` entry overrides it.
"""

from __future__ import annotations

from typing import Any

from model_serving.errors import RequestInvalid
from model_serving.request_parsing import decode_json

TEXT_COLUMN = "text"
PREDICT_FNS = ("predict", "predict_proba")


class InvocationError(RequestInvalid):
    """The body does not follow the scoring protocol (400); the message says how."""

    status_code = 400


def parse_invocation(raw: bytes) -> tuple[list[Any], str | None]:
    """Return the raw text column (values not yet validated) and the requested predict_fn."""
    body = decode_json(raw, invalid_status=400)
    if not isinstance(body, dict):
        raise InvocationError(
            "expected a JSON object with one of dataframe_split, dataframe_records, inputs"
        )
    predict_fn = _predict_fn(body.get("params"))
    keys = [k for k in ("dataframe_split", "dataframe_records", "inputs", "instances") if k in body]
    if len(keys) != 1:
        raise InvocationError(
            "give exactly one of dataframe_split, dataframe_records, inputs or instances"
        )
    key = keys[0]
    if key == "dataframe_split":
        return _from_split(body[key]), predict_fn
    if key == "dataframe_records":
        return _from_records(body[key], key), predict_fn
    return _from_inputs(body[key], key), predict_fn


def _predict_fn(params: Any) -> str | None:
    if params is None:
        return None
    if not isinstance(params, dict):
        raise InvocationError("params must be an object")
    value = params.get("predict_fn")
    if value is None:
        return None
    if value not in PREDICT_FNS:
        raise InvocationError(f"params.predict_fn must be one of {list(PREDICT_FNS)}")
    return str(value)


def _column_index(columns: list[Any]) -> int:
    if TEXT_COLUMN in columns:
        return columns.index(TEXT_COLUMN)
    if len(columns) == 1:
        return 0
    raise InvocationError(f"no '{TEXT_COLUMN}' column among {columns[:20]!r}")


def _from_split(split: Any) -> list[Any]:
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise InvocationError("dataframe_split must be an object with a 'data' list")
    columns = split.get("columns", [TEXT_COLUMN])
    if not isinstance(columns, list) or not columns:
        raise InvocationError("dataframe_split.columns must be a non-empty list")
    index = _column_index(columns)
    values = []
    for position, row in enumerate(split["data"]):
        if isinstance(row, list):
            if len(row) != len(columns):
                raise InvocationError(
                    f"dataframe_split.data[{position}] has {len(row)} values "
                    f"for {len(columns)} columns"
                )
            values.append(row[index])
        elif len(columns) == 1:
            values.append(row)
        else:
            raise InvocationError(f"dataframe_split.data[{position}] must be a list")
    return values


def _from_records(records: Any, key: str) -> list[Any]:
    if not isinstance(records, list):
        raise InvocationError(f"{key} must be a list of objects")
    values = []
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvocationError(f"{key}[{position}] must be an object")
        columns = list(record)
        if not columns:
            raise InvocationError(f"{key}[{position}] is empty")
        values.append(record[columns[_column_index(columns)]])
    return values


def _from_inputs(inputs: Any, key: str) -> list[Any]:
    if isinstance(inputs, dict):
        columns = list(inputs)
        if not columns:
            raise InvocationError(f"{key} is an empty object")
        column = inputs[columns[_column_index(columns)]]
        return column if isinstance(column, list) else [column]
    if isinstance(inputs, list):
        if inputs and all(isinstance(item, dict) for item in inputs):
            return _from_records(inputs, key)
        flattened = []
        for item in inputs:
            # [["text"], ...] (one-column rows) is accepted like ["text", ...]
            flattened.append(item[0] if isinstance(item, list) and len(item) == 1 else item)
        return flattened
    if isinstance(inputs, str):
        return [inputs]
    raise InvocationError(f"{key} must be a list of strings or an object of columns")


def format_predictions(
    probabilities: list[float], thresholds: list[float], predict_fn: str
) -> list[Any]:
    """The ``predictions`` list in the shape ``predict_fn`` gives with ``mlflow models serve``
    (``thresholds``: one per text; probabilities are never changed)."""
    if predict_fn == "predict_proba":
        return [[1.0 - p, p] for p in probabilities]
    return [1 if p >= t else 0 for p, t in zip(probabilities, thresholds, strict=True)]
