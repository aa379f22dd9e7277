"""Load the off-domain (non-essay) texts that drift tests send as clearly different traffic."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

OFF_DOMAIN_FILE = Path(__file__).with_name("off_domain_texts.jsonl")


@cache
def off_domain_texts() -> tuple[str, ...]:
    """Every text of ``off_domain_texts.jsonl`` (a few hundred chat/Q&A/news/review lines)."""
    with OFF_DOMAIN_FILE.open(encoding="utf-8") as fh:
        return tuple(json.loads(line)["text"] for line in fh if line.strip())
