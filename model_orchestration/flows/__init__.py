"""Prefect flows of the platform: ``train``, ``ingest``, ``retrain`` and ``drift_check``."""
