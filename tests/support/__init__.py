"""Helpers the test tiers share: real servers started with deadlines (``servers``, ``*_servers``),
small trained models and corpora (``model_fixtures``, ``scoring_fixtures``).

Fixtures themselves live in the ``conftest.py`` files where pytest looks for them; this package
holds only plain functions and classes they and the tests import.
"""
