"""model_monitoring package."""
