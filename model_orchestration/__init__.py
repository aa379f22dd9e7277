"""model_orchestration package."""
