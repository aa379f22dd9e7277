"""End-to-end tests (a package, so tests/e2e/frontend never shadows the real frontend package)."""
