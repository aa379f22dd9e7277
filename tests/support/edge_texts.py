"""Texts at the edges of the feature blocks' tokenisers, for the tests that pin their values.

Sentence ends next to white space of every kind, contractions of every suffix and case, letters
that match ``[A-Za-z]`` only case-insensitively (Kelvin sign, long s, dotted I), apostrophes where
no contraction is, empty and blank texts.
"""

from __future__ import annotations

EDGE_TEXTS = [
    "",
    "   \n ",
    "I'd say it's fine. Don't! We'll see? Rock'n'roll y'all'd KELVIN'S \u017ftyle's "
    "\u0130t'S 3don't _can't they've I'M YOU'RE she'LL",
    "no sentence end here and no capitals",
    'Mr. Smith went to Washington. He said: "Yes!" (Really?) 42 times... OK.',
    "a'd'd a'b'c 'tis o' the '90s",
    "End.\u00a0Next.\u2003Then!\tAgain?\n\nFin. 7 more. ( quoted",
    "one.  two. Three.   Four!",
    "\u00e9t\u00e9 na\u00efve caf\u00e9 -- \u201cquoted\u201d text\u2026 Don\u2019t.",
]
