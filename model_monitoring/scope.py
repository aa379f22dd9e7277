"""Is a text inside what the model can judge? Cheap per-request checks behind "uncertain".

Four checks, in this order (the first that fails gives the reason, ``model_registry.contract.
ScopeReason``). The thresholds are measured by ``tests/data/measure_scope.py`` (figures in
``bench/results/scope.json`` and the README, "What the model can and cannot judge"; a unit test
keeps the defaults below equal to them):

1. ``not_english`` (script): most letters are not Latin letters (Cyrillic, CJK, Arabic, ...).
2. ``too_short``: fewer characters (whitespace runs counted once) than the minimum, 250: held-out
   texts cut shorter than that are misjudged too often by the served model (the champion
   candidate; the human false-positive rate at the threshold serving routes a text to and the
   ROC-AUC by length are in ``scope.json``).
3. ``not_english`` (words): too small a share of the words are common English function words
   ("the", "and", "of", ...): under 9 %. English prose of any genre is a large share of function
   words, non-English text almost none (per-genre quantiles and the fixtures' shares in
   ``scope.json``).
4. ``unlike_training_data`` (needs a ``ScopeReference``): the text's style profile (function-word
   share, word length, sentence length, punctuation and digit rates, pronoun use, ...) is far
   from every training domain's profile. The novelty score is the root-mean-square of the
   feature z-scores against the nearest domain (each z clipped, so one odd feature cannot decide
   alone). Threshold 1.76: the 99th percentile of held-out in-domain texts, each training domain
   in turn left out of the reference (which also gives the share of a left-out domain called
   unlike, in ``scope.json``).

An in-scope text's domain is also its route to a decision threshold (``ScopeVerdict.domain``,
read by ``model_registry.operating_thresholds``): the reference's word classifier's domain
(``domain_router``, fitted by training) when it has one, else the nearest style profile. When
the word classifier is unsure of every domain the text has no route, and it is judged at the
version's global, strictest threshold. So is a text shorter than ``DEFAULT_MIN_ROUTE_CHARS``
(750 characters, whitespace runs counted once): the genres' own thresholds are set on texts of
their usual length, and held-out texts cut to 250-500 characters and judged at them had 2.3-4.5 %
of their people called AI (at the global threshold: 0.18 % or less; ``scope.json``,
``length.min_route_chars``).

No downloads and no models: the checks read the first ``WINDOW_CHARS`` characters, a few bytes-
level counts and one small numpy product per text, because serving runs them on every request
(the CPU cost per text is measured in ``scope.json``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_monitoring.domain_router import DomainRouter
from model_registry.contract import ScopeReason

SCOPE_FORMAT_VERSION = 1

#: Measured minimum length in characters (whitespace runs count once); see the module docstring.
DEFAULT_MIN_CHARS = 250
#: Measured length (same count) from which on a text is routed to its genre's threshold: the
#: shortest cut length from which on the human false-positive rate at the routed thresholds stays
#: <= 2 %; shorter in-scope texts are judged at the global, strictest threshold.
DEFAULT_MIN_ROUTE_CHARS = 750
#: Measured novelty threshold (RMS of clipped z-scores against the nearest domain).
DEFAULT_NOVELTY_THRESHOLD = 1.76
#: Minimum share of word tokens that are English function words (measured on English corpora
#: of every domain vs. the non-English fixtures of tests/data).
DEFAULT_MIN_FUNCTION_WORD_SHARE = 0.09
#: Minimum share of letters that are Latin letters (ASCII or Latin-1 / Latin Extended-A/B).
DEFAULT_MIN_LATIN_LETTER_SHARE = 0.8
#: |z| above this counts as this much in the novelty score.
Z_CLIP = 6.0
#: Floor of a feature's standard deviation in a domain profile (avoids dividing by ~0).
MIN_FEATURE_SD = 1e-3

#: Common English function words. Words that are also frequent function words of other Latin-
#: script languages (a, in, an, is, was, die, so, also, on, de, of, man, will, do, no, ...) are
#: left out, so that the share stays low for French, German, Dutch, Spanish or Portuguese prose.
ENGLISH_FUNCTION_WORDS = frozenset(
    word.encode("ascii")
    for word in """the and to that it for with as be this are by not or but from they at have
    you his her she he we which their there been has were would can could should if when what
    who them than then these those its our your my him does did just about into over more most
    some any such only other each very all up out because while where how why am being both
    through after before under again further once here few own same too between during without
    within upon whether though although yet whose whom shall might must may it's i'm don't
    doesn't didn't can't won't isn't aren't wasn't i""".split()  # noqa: SIM905
)
_FIRST_PERSON = frozenset(
    w.encode("ascii")
    for w in ("i", "me", "my", "mine", "we", "us", "our", "ours", "myself", "ourselves", "i'm")
)
_SECOND_PERSON = frozenset(
    w.encode("ascii") for w in ("you", "your", "yours", "yourself", "yourselves", "you're")
)

#: The checks read at most this many leading characters of a text (the length check reads the
#: whole text when they are too few): a bounded prefix keeps the cost per request bounded. 500
#: costs less than 1,000 and left-out genres are refused at about the same rates (both measured
#: by tests/data/measure_scope.py, figures in bench/results/scope.json).
WINDOW_CHARS = 500

#: Names of the style features, in the order of ``style_features``' result.
FEATURE_NAMES = (
    "function_word_share",
    "the_share",
    "first_person_share",
    "second_person_share",
    "mean_word_length",
    "type_token_ratio_100",
    "words_per_sentence",
    "commas_per_word",
    "quotes_per_word",
    "parentheses_per_word",
    "apostrophes_per_word",
    "colons_semicolons_per_word",
    "dashes_per_word",
    "questions_exclamations_per_sentence",
    "digit_share",
    "uppercase_share",
)
_TTR_WINDOW = 100
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz'")
#: Every byte that cannot be part of a word becomes a space; non-ASCII characters were replaced
#: by "?" before, so accented words fall apart into fragments that are no English words.
_TO_WORD_CHUNKS = bytes(c if c in _WORD_BYTES else ord(" ") for c in range(256))
_ASCII_UPPERCASE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LETTERS = _ASCII_UPPERCASE + _ASCII_UPPERCASE.lower()
_DIGITS = b"0123456789"
#: The ASCII characters ``str.split`` splits on (what ``normalised_length`` counts once).
_ASCII_WHITESPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@dataclass(frozen=True)
class ScopeVerdict:
    """Whether one text is in scope; ``reason`` is a ``ScopeReason`` value when it is not.

    ``domain`` is the training domain the text is routed to, for in-scope texts judged with a
    reference (the reference's word classifier's domain, else the nearest style profile, the one
    the novelty score is measured against); ``None`` otherwise, and when the word classifier is
    not sure enough of any domain (``DomainRouter.min_confidence``) or the text is shorter than
    ``ScopeChecker.min_route_chars``. It is what
    ``model_registry.operating_thresholds`` routes a text's decision threshold by (``None``: the
    global, strictest one).
    """

    in_scope: bool
    reason: str | None
    novelty: float | None
    domain: str | None = None


@dataclass(frozen=True)
class DomainProfile:
    """Mean and standard deviation of every style feature over one training domain's texts."""

    n_texts: int
    mean: tuple[float, ...]
    sd: tuple[float, ...]


@dataclass(frozen=True)
class ScopeReference:
    """What serving needs to say whether a text is like the training data (run artifact
    ``monitoring/scope_reference.json``)."""

    domains: dict[str, DomainProfile]
    novelty_threshold: float = DEFAULT_NOVELTY_THRESHOLD
    feature_names: tuple[str, ...] = FEATURE_NAMES
    format_version: int = SCOPE_FORMAT_VERSION
    notes: dict[str, Any] = field(default_factory=dict)
    #: Routes a text to its domain (``ScopeVerdict.domain``); ``None``: the nearest profile.
    router: DomainRouter | None = None

    def to_dict(self) -> dict[str, Any]:
        document = {
            "format_version": self.format_version,
            "novelty_threshold": self.novelty_threshold,
            "feature_names": list(self.feature_names),
            "domains": {
                name: {"n_texts": p.n_texts, "mean": list(p.mean), "sd": list(p.sd)}
                for name, p in self.domains.items()
            },
            "notes": self.notes,
        }
        if self.router is not None:  # references without one keep their old document
            document["router"] = self.router.to_dict()
        return document

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScopeReference:
        if data.get("format_version") != SCOPE_FORMAT_VERSION:
            raise ValueError(f"unsupported scope reference format {data.get('format_version')!r}")
        names = tuple(data["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError("scope reference was built with other style features")
        domains = {
            name: DomainProfile(
                n_texts=int(p["n_texts"]),
                mean=tuple(float(x) for x in p["mean"]),
                sd=tuple(float(x) for x in p["sd"]),
            )
            for name, p in data["domains"].items()
        }
        if not domains:
            raise ValueError("scope reference has no domains")
        for name, profile in domains.items():
            if len(profile.mean) != len(names) or len(profile.sd) != len(names):
                raise ValueError(f"scope reference domain {name!r} has the wrong feature count")
        router = data.get("router")
        return cls(
            domains=domains,
            novelty_threshold=float(data["novelty_threshold"]),
            feature_names=names,
            notes=dict(data.get("notes", {})),
            router=None if router is None else DomainRouter.from_dict(router),
        )

    @classmethod
    def from_json(cls, text: str) -> ScopeReference:
        return cls.from_dict(json.loads(text))


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is slower, once per text
class _Window:
    """The leading ``WINDOW_CHARS`` characters of a text, prepared once for every check."""

    text: str
    #: ``text`` as ASCII, every non-ASCII character replaced by "?".
    ascii_bytes: bytes
    non_ascii: int
    tokens: list[bytes]
    function_words: int

    @classmethod
    def of(cls, text: str) -> _Window:
        window = text[:WINDOW_CHARS]
        ascii_bytes = window.encode("ascii", "replace")
        non_ascii = 0 if window.isascii() else len(window) - len(window.encode("ascii", "ignore"))
        tokens = ascii_bytes.lower().translate(_TO_WORD_CHUNKS).split()
        function_words = sum(map(ENGLISH_FUNCTION_WORDS.__contains__, tokens))
        return cls(window, ascii_bytes, non_ascii, tokens, function_words)

    @property
    def function_word_share(self) -> float:
        return self.function_words / len(self.tokens) if self.tokens else 0.0

    def at_least_chars(self, minimum: int) -> bool:
        """Whether the window is at least ``minimum`` characters long (``has_at_least_chars``)."""
        return has_at_least_chars(self.text, minimum, self.ascii_bytes)


def has_at_least_chars(text: str, minimum: int, ascii_bytes: bytes | None = None) -> bool:
    """Whether ``normalised_length(text) >= minimum``, cheaply: for ASCII text the characters
    that are not whitespace (a lower bound of the count) decide first, and the text is split only
    when they fall short. ``ascii_bytes``: ``text`` already encoded, when the caller has it."""
    if len(text) < minimum:
        return False
    # Non-ASCII text is split: its whitespace (NBSP, ...) is not in ``_ASCII_WHITESPACE``.
    if text.isascii():
        encoded = text.encode("ascii") if ascii_bytes is None else ascii_bytes
        if len(encoded.translate(None, _ASCII_WHITESPACE)) >= minimum:
            return True
    return normalised_length(text) >= minimum


def normalised_length(text: str) -> int:
    """Characters of ``text``, outer whitespace dropped and inner whitespace runs counted once."""
    pieces = text.split()
    return sum(map(len, pieces)) + max(len(pieces) - 1, 0)


def latin_letter_share(text: str) -> float:
    """Share of the letters of ``text`` that are Latin (1.0 for a text without letters)."""
    if text.isascii():
        return 1.0
    ascii_part = text.encode("ascii", "ignore")
    latin = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
    letters = latin
    for ch in _NON_ASCII.findall(text):
        if ch.isalpha():
            letters += 1
            latin += ch < "\u0250"
    return latin / letters if letters else 1.0


def function_word_share(text: str) -> float:
    """Share of the words of ``text``'s leading window that are English function words."""
    return _Window.of(text).function_word_share


def style_features(text: str) -> list[float]:
    """The style profile of the leading ``WINDOW_CHARS`` of one text (``FEATURE_NAMES`` order)."""
    return _style_features(_Window.of(text))


def _style_features(window: _Window) -> list[float]:
    text, raw, tokens = window.text, window.ascii_bytes, window.tokens
    n_words = max(len(tokens), 1)
    # Every non-ASCII character became a "?" in ``raw``.
    questions = raw.count(b"?") - window.non_ascii
    sentences = max(raw.count(b".") + raw.count(b"!") + questions, 1)
    letters = len(raw) - len(raw.translate(None, _ASCII_LETTERS))
    uppercase = len(raw) - len(raw.translate(None, _ASCII_UPPERCASE))
    digits = len(raw) - len(raw.translate(None, _DIGITS))
    first_tokens = tokens[:_TTR_WINDOW]
    return [
        window.function_words / n_words,
        tokens.count(b"the") / n_words,
        sum(map(_FIRST_PERSON.__contains__, tokens)) / n_words,
        sum(map(_SECOND_PERSON.__contains__, tokens)) / n_words,
        sum(map(len, tokens)) / n_words,
        len(set(first_tokens)) / max(len(first_tokens), 1),
        len(tokens) / sentences,
        raw.count(b",") / n_words,
        (raw.count(b'"') + text.count("\u201c") + text.count("\u201d")) / n_words,
        (raw.count(b"(") + raw.count(b")")) / n_words,
        (raw.count(b"'") + text.count("\u2019")) / n_words,
        (raw.count(b":") + raw.count(b";")) / n_words,
        (raw.count(b"-") + text.count("\u2013") + text.count("\u2014")) / n_words,
        (questions + raw.count(b"!")) / sentences,
        digits / max(len(raw), 1),
        uppercase / max(letters, 1),
    ]


def build_scope_reference(
    texts: Sequence[str],
    domains: Sequence[str],
    *,
    novelty_threshold: float = DEFAULT_NOVELTY_THRESHOLD,
    with_router: bool = False,
) -> ScopeReference:
    """Profile every domain of the training texts (mean and sd of each style feature); with
    ``with_router`` and at least two domains, also fit the word classifier that routes a text to
    its domain (``domain_router``; training does, about 10 s on the shipped corpora)."""
    if len(texts) != len(domains):
        raise ValueError("texts and domains differ in length")
    if not texts:
        raise ValueError("a scope reference needs at least one text")
    by_domain: dict[str, list[list[float]]] = {}
    windows = [_Window.of(text) for text in texts]
    for window, domain in zip(windows, domains, strict=True):
        by_domain.setdefault(str(domain), []).append(_style_features(window))
    profiles = {}
    for name, rows in sorted(by_domain.items()):
        matrix = np.asarray(rows, dtype=float)
        profiles[name] = DomainProfile(
            n_texts=len(rows),
            mean=tuple(float(x) for x in matrix.mean(axis=0)),
            sd=tuple(float(max(x, MIN_FEATURE_SD)) for x in matrix.std(axis=0)),
        )
    router = None
    if with_router and len(profiles) >= 2:
        router = DomainRouter.fit([w.tokens for w in windows], [str(d) for d in domains])
    return ScopeReference(
        domains=profiles, novelty_threshold=float(novelty_threshold), router=router
    )


class ScopeChecker:
    """Assesses texts against the language, length and (with a reference) novelty checks."""

    def __init__(
        self,
        reference: ScopeReference | None,
        *,
        min_chars: int = DEFAULT_MIN_CHARS,
        min_route_chars: int = DEFAULT_MIN_ROUTE_CHARS,
        min_function_word_share: float = DEFAULT_MIN_FUNCTION_WORD_SHARE,
        min_latin_letter_share: float = DEFAULT_MIN_LATIN_LETTER_SHARE,
        novelty_threshold: float | None = None,
    ) -> None:
        self.reference = reference
        self.min_chars = min_chars
        self.min_route_chars = min_route_chars
        self.min_function_word_share = min_function_word_share
        self.min_latin_letter_share = min_latin_letter_share
        self.novelty_threshold: float | None = None
        self._means: np.ndarray | None = None
        self._inverse_sds: np.ndarray | None = None
        self._domain_names: tuple[str, ...] = ()
        self._router = None if reference is None else reference.router
        if reference is not None:
            self.novelty_threshold = (
                reference.novelty_threshold if novelty_threshold is None else novelty_threshold
            )
            profiles = list(reference.domains.values())
            self._domain_names = tuple(reference.domains)
            self._means = np.asarray([p.mean for p in profiles], dtype=float)
            self._inverse_sds = 1.0 / np.asarray([p.sd for p in profiles], dtype=float)

    def novelty(self, text: str) -> float | None:
        """RMS of clipped z-scores of the text's style against the nearest training domain
        (``None`` without a reference)."""
        return self._novelty(_Window.of(text))

    def novelty_of_features(self, features: np.ndarray) -> np.ndarray:
        """Novelty of many style-feature rows (``style_features`` of each text) at once."""
        if self._means is None or self._inverse_sds is None:
            raise ValueError("novelty needs a scope reference")
        rows = np.atleast_2d(np.asarray(features, dtype=float))
        z = _clipped_z(rows, self._means, self._inverse_sds)
        novelty: np.ndarray = np.sqrt((z * z).mean(axis=2).min(axis=1))
        return novelty

    def route_of(self, text: str) -> str | None:
        """The domain serving would route ``text`` to if it passed every check
        (``ScopeVerdict.domain``), whatever its length: for measuring short texts."""
        window = _Window.of(text)
        return self._route(window, self._nearest(window)[1])

    def _route(self, window: _Window, nearest: str | None) -> str | None:
        """The word router's domain when the reference has one, else the nearest profile."""
        return self._router.route(window.tokens) if self._router is not None else nearest

    def _novelty(self, window: _Window) -> float | None:
        return self._nearest(window)[0]

    def _nearest(self, window: _Window) -> tuple[float | None, str | None]:
        """Novelty of the window and the training domain it is measured against (nearest)."""
        if self._means is None or self._inverse_sds is None:
            return None, None
        features = np.asarray(_style_features(window), dtype=float)
        return _nearest_of(_clipped_z(features, self._means, self._inverse_sds), self._domain_names)

    def assess_one(self, text: str) -> ScopeVerdict:
        """The verdict for one text (see the module docstring for the order of the checks)."""
        window = _Window.of(text)
        early = self._early_verdict(text, window)
        if early is not None:
            return early
        novelty, domain = self._nearest(window)
        return self._placed_verdict(window, novelty, domain, self._routable(text, window))

    def assess(self, texts: Sequence[str]) -> list[ScopeVerdict]:
        """One verdict per text, in order: ``assess_one``'s, with the novelty arithmetic of the
        texts that reach it done on all of them at once (the same values: elementwise the same
        operations, and each text's distances summed by the same ``einsum`` as one text's)."""
        verdicts: list[ScopeVerdict | None] = []
        pending: list[tuple[int, _Window, bool]] = []
        for index, text in enumerate(texts):
            window = _Window.of(text)
            early = self._early_verdict(text, window)
            verdicts.append(early)
            if early is None:
                pending.append((index, window, self._routable(text, window)))
        placed = self._nearest_all([window for _, window, _ in pending])
        for (index, window, routable), (novelty, domain) in zip(pending, placed, strict=True):
            verdicts[index] = self._placed_verdict(window, novelty, domain, routable)
        return [verdict for verdict in verdicts if verdict is not None]

    def _early_verdict(self, text: str, window: _Window) -> ScopeVerdict | None:
        """The script, length and function-word checks; ``None`` when the text passes them."""
        if latin_letter_share(window.text) < self.min_latin_letter_share:
            return ScopeVerdict(False, ScopeReason.NOT_ENGLISH, None)
        if not self._at_least_chars(text, window, self.min_chars):
            return ScopeVerdict(False, ScopeReason.TOO_SHORT, None)
        if window.function_word_share < self.min_function_word_share:
            return ScopeVerdict(False, ScopeReason.NOT_ENGLISH, None)
        return None

    def _routable(self, text: str, window: _Window) -> bool:
        """Whether ``text`` is long enough to be judged at its genre's threshold."""
        return self._at_least_chars(text, window, self.min_route_chars)

    @staticmethod
    def _at_least_chars(text: str, window: _Window, minimum: int) -> bool:
        """Whether the whole text is at least ``minimum`` characters long (whitespace runs
        counted once): its window first, the rest of it only when the window falls short."""
        if window.at_least_chars(minimum):
            return True
        return len(text) > WINDOW_CHARS and has_at_least_chars(text, minimum)

    def _placed_verdict(
        self, window: _Window, novelty: float | None, domain: str | None, routable: bool
    ) -> ScopeVerdict:
        """The novelty check, then the route of an in-scope text (none when it is too short to
        be judged at its genre's threshold, ``routable``)."""
        threshold = self.novelty_threshold
        if novelty is not None and threshold is not None and novelty > threshold:
            return ScopeVerdict(False, ScopeReason.UNLIKE_TRAINING_DATA, novelty)
        return ScopeVerdict(True, None, novelty, self._route(window, domain) if routable else None)

    def _nearest_all(self, windows: list[_Window]) -> list[tuple[float | None, str | None]]:
        """``_nearest`` of every window: the z-scores of all of them in one set of array
        operations, then each window's distances by the same ``einsum`` on its own rows."""
        if self._means is None or self._inverse_sds is None:
            return [(None, None)] * len(windows)
        if len(windows) <= 1:
            return [self._nearest(window) for window in windows]
        features = np.asarray([_style_features(window) for window in windows], dtype=float)
        z = _clipped_z(features, self._means, self._inverse_sds)
        return [_nearest_of(rows, self._domain_names) for rows in z]


def _clipped_z(features: np.ndarray, means: np.ndarray, inverse_sds: np.ndarray) -> np.ndarray:
    """|z| of style features (one text's ``(n,)`` or many ``(texts, n)``) against every domain's
    profile (``(domains, n)``), clipped at ``Z_CLIP``: ``(..., domains, n)``."""
    z: np.ndarray = np.minimum(np.abs((features[..., None, :] - means) * inverse_sds), Z_CLIP)
    return z


def _nearest_of(z: np.ndarray, domain_names: Sequence[str]) -> tuple[float, str]:
    """One text's novelty (RMS of its z-scores against the nearest domain) and that domain, from
    its ``(domains, n)`` clipped z-scores: the one computation ``assess`` and ``assess_one``
    share, so both give the same values."""
    distances = np.einsum("ij,ij->i", z, z)
    nearest = int(distances.argmin())
    return math.sqrt(float(distances[nearest]) / z.shape[1]), domain_names[nearest]
