"""Text normalisation used to find duplicates (validation) and keep them out of split boundaries."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, whitespace runs collapsed to one space, stripped, lower-cased."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def normalised_key(text: str) -> str:
    """A short stable key of the normalised text (SHA-1; not for security)."""
    data = normalise(text).encode("utf-8", errors="surrogatepass")
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()
