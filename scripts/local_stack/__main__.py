"""``python -m scripts.local_stack`` (what ``make local`` runs)."""

import sys

from scripts.local_stack.cli import main

sys.exit(main())
