"""model_serving package."""
