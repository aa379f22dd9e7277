"""Texts the scope checks are tested and measured on: non-English prose written for this project
(``non_english_texts.jsonl``: two paragraphs per language, no downloads) and English texts whose
style is far from any training genre."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

NON_ENGLISH_FILE = Path(__file__).with_name("non_english_texts.jsonl")

#: English, long enough and full of function words, yet unlike essays, news, stories, reviews,
#: abstracts or encyclopedia text: a contract clause, shouting, and code read as prose.
UNUSUAL_ENGLISH_TEXTS = (
    "Section 4(b)(ii): The Licensee (as defined in Section 1.2) shall pay to the Licensor the "
    'fees set out in Schedule 3 (the "Fees") within 30 (thirty) days of the date of each invoice; '
    "provided that (i) any amount disputed in good faith under Section 9.4 may be withheld until "
    "resolved, and (ii) late amounts bear interest at 1.5% per month (or, if lower, the maximum "
    "rate permitted by law). Section 4(c): All Fees are exclusive of VAT (see Section 12.1), "
    "which shall be payable in addition at the rate in force from time to time; the Licensor "
    "shall issue a valid VAT invoice. Section 4(d): Payments shall be made in EUR to the account "
    "in Schedule 5.",
    "WOW!!! BEST DAY EVER!!! I CAN'T BELIEVE IT!!! WE WON THE CUP!!! THE WHOLE TOWN IS OUT IN "
    "THE STREETS!!! MY DAD IS CRYING, MY MOM IS SCREAMING, AND I AM JUST STANDING HERE WITH MY "
    "FLAG!!! WHAT A GAME!!! WHAT A GOAL IN THE LAST MINUTE!!! I WILL NEVER FORGET THIS NIGHT FOR "
    "THE REST OF MY LIFE!!! THANK YOU BOYS!!! THANK YOU!!! SEE YOU ALL AT THE PARADE TOMORROW!!! "
    "BRING YOUR FLAGS, YOUR KIDS AND YOUR VOICES!!! WE ARE THE CHAMPIONS!!!",
)


@cache
def non_english_texts() -> tuple[tuple[str, str], ...]:
    """``(language, text)`` for every line of ``non_english_texts.jsonl``."""
    with NON_ENGLISH_FILE.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return tuple((row["language"], row["text"]) for row in rows)
