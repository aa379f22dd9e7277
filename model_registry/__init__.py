"""model_registry package."""
