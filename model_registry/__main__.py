"""Entry point: ``python -m model_registry`` (see ``model_registry.cli``)."""

import sys

from model_registry.cli import main

if __name__ == "__main__":
    sys.exit(main())
