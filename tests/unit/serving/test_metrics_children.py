"""The cached metric children are prometheus_client's own: the same series, the same values."""

from __future__ import annotations

from model_serving.metrics import ServingMetrics


def test_cached_children_count_into_the_labelled_series() -> None:
    metrics = ServingMetrics()
    metrics.predictions_of("ai", "3").inc(2)
    metrics.predictions_of("ai", "3").inc()
    metrics.out_of_scope_of("too_short").inc(4)
    metrics.http_request_done("/v1/predict", "POST", "200", 0.003)
    metrics.http_request_done("/v1/predict", "POST", "200", 0.02)
    assert metrics.predictions_of("ai", "3") is metrics.predictions.labels("ai", "3")
    text = metrics.render().decode()
    assert 'detector_predictions_total{label="ai",model_version="3"} 3.0' in text
    assert 'detector_out_of_scope_total{reason="too_short"} 4.0' in text
    assert (
        'detector_http_requests_total{method="POST",route="/v1/predict",status="200"} 2.0' in text
    )
    assert 'detector_http_request_duration_seconds_count{route="/v1/predict"} 2.0' in text
    assert (
        'detector_http_request_duration_seconds_bucket{le="0.005",route="/v1/predict"} 1.0' in text
    )
