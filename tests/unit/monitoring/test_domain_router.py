"""The word classifier that routes a text to its training domain (its threshold's domain)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_monitoring.domain_router import DEFAULT_MIN_CONFIDENCE, DomainRouter
from model_monitoring.scope import ScopeChecker, ScopeReference, build_scope_reference

#: Each genre's own words, inside the same everyday English.
GENRE_WORDS = {
    "abstract": "we propose a novel method and our results show significant improvements",
    "news": "officials said on tuesday that the government would announce the budget",
    "review": "i loved this movie and the acting was great but the ending was boring",
}
FILLER = (
    "It was clear to all of them that there would be more to say about it later, and that "
    "the people who had been there since the start of the year were not yet done with it. "
)


def genre_text(genre: str, variant: int) -> str:
    words = GENRE_WORDS[genre].split()
    rotated = " ".join(words[variant % len(words) :] + words[: variant % len(words)])
    return f"{rotated.capitalize()}. {FILLER}{FILLER}"


def corpus(n: int) -> tuple[list[str], list[str]]:
    texts, domains = [], []
    for genre in GENRE_WORDS:
        for variant in range(n):
            texts.append(genre_text(genre, variant))
            domains.append(genre)
    return texts, domains


@pytest.fixture(scope="module")
def reference() -> ScopeReference:
    texts, domains = corpus(12)
    return build_scope_reference(texts, domains, with_router=True)


def test_a_text_is_routed_by_its_words(reference: ScopeReference) -> None:
    assert reference.router is not None
    checker = ScopeChecker(reference, min_chars=100, min_route_chars=100)
    for genre in GENRE_WORDS:
        verdict = checker.assess_one(genre_text(genre, 5))
        assert verdict.in_scope and verdict.domain == genre, (genre, verdict)


def test_the_router_not_the_style_profile_decides_the_domain(reference: ScopeReference) -> None:
    news = genre_text("news", 3)
    profile_only = ScopeReference(domains=reference.domains, novelty_threshold=10.0)
    assert (
        ScopeChecker(profile_only, min_chars=100, min_route_chars=100).assess_one(news).domain
        == "news"
    )
    # A router that sends every text with "officials" to the reviews: it is what decides.
    contrary = DomainRouter(
        vocabulary=("officials",),
        domains=("abstract", "news", "review"),
        coef=np.array([[0.0], [0.0], [5.0]]),
        intercept=np.zeros(3),
    )
    routed = ScopeReference(domains=reference.domains, novelty_threshold=10.0, router=contrary)
    verdict = ScopeChecker(routed, min_chars=100, min_route_chars=100).assess_one(news)
    assert verdict.in_scope and verdict.domain == "review"
    # The novelty score is still measured against the nearest profile.
    assert verdict.novelty == ScopeChecker(
        profile_only, min_chars=100, min_route_chars=100
    ).novelty(news)


def test_the_reference_round_trips_with_its_router(reference: ScopeReference) -> None:
    loaded = ScopeReference.from_json(reference.to_json())
    assert loaded == reference
    assert loaded.router is not None and loaded.router.domains == tuple(sorted(GENRE_WORDS))
    document = json.loads(reference.to_json())
    assert len(document["router"]["vocabulary"]) == len(document["router"]["coef"][0])


def test_references_without_a_router_keep_their_document() -> None:
    texts, domains = corpus(4)
    plain = build_scope_reference(texts, domains)
    assert plain.router is None and "router" not in plain.to_dict()
    # One domain: nothing to route between, so no router even when asked for.
    assert build_scope_reference(texts[:4], domains[:4], with_router=True).router is None


def test_a_window_without_known_words_gets_the_intercepts_domain() -> None:
    router = DomainRouter(
        vocabulary=("movie",),
        domains=("news", "review"),
        coef=np.array([[-1.0], [2.0]]),
        intercept=np.array([0.5, 0.0]),
    )
    assert router.route([b"nothing", b"known"]) == "news"
    assert router.route([b"movie", b"movie"]) == "review"  # 0.5 - 1 < 0 + 2


def unsure_router(min_confidence: float) -> DomainRouter:
    """The word "movie" makes a review likelier than news, but only 2:1 (probability 2/3)."""
    return DomainRouter(
        vocabulary=("movie",),
        domains=("news", "review"),
        coef=np.array([[0.0], [float(np.log(2.0))]]),
        intercept=np.zeros(2),
        min_confidence=min_confidence,
    )


def test_a_route_the_router_is_unsure_of_is_not_taken() -> None:
    # A text it cannot place gets no domain, hence the global (strictest) threshold.
    assert unsure_router(0.8).route([b"movie"]) is None
    assert unsure_router(0.6).route([b"movie"]) == "review"
    # Documents written before the setting existed always route, as they did.
    old = unsure_router(0.8).to_dict()
    del old["min_confidence"]
    assert DomainRouter.from_dict(old).route([b"movie"]) == "review"


def test_fitted_routers_keep_their_confidence_floor(reference: ScopeReference) -> None:
    assert reference.router is not None
    assert reference.router.min_confidence == DEFAULT_MIN_CONFIDENCE
    loaded = ScopeReference.from_json(reference.to_json())
    assert loaded.router is not None and loaded.router.min_confidence == DEFAULT_MIN_CONFIDENCE
    # A text with words of no genre: in scope, but with no route.
    unsure = ScopeReference(
        domains=reference.domains, novelty_threshold=10.0, router=unsure_router(0.8)
    )
    verdict = ScopeChecker(unsure, min_chars=100, min_route_chars=100).assess_one(
        genre_text("news", 1)
    )
    assert verdict.in_scope and verdict.domain is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"domains": ["news"], "coef": [[1.0]], "intercept": [0.0]}, "at least two domains"),
        ({"coef": [[1.0, 2.0], [0.0, 1.0]]}, "do not match"),
        ({"intercept": [0.0]}, "intercepts do not match"),
        ({"coef": [[float("nan")], [0.0]]}, "finite"),
        ({"min_confidence": 1.0}, "min_confidence"),
        ({"min_confidence": "high"}, "min_confidence"),
    ],
)
def test_a_broken_router_document_is_refused(change: dict[str, object], message: str) -> None:
    document: dict[str, object] = {
        "vocabulary": ["movie"],
        "domains": ["news", "review"],
        "coef": [[-1.0], [2.0]],
        "intercept": [0.5, 0.0],
    }
    document.update(change)
    with pytest.raises(ValueError, match=message):
        DomainRouter.from_dict(document)


#: Fits a router on windows whose words tie in document frequency at the vocabulary's cut-off and
#: prints its vocabulary (run in a subprocess: the hash seed of bytes is fixed per process).
FIT_WITH_TIES = """
import json
from model_monitoring.domain_router import DomainRouter
words = [f"w{i:03d}".encode() for i in range(200)]
windows = [[b"the", *words[i : i + 40]] for i in range(0, 200, 40)] * 2
domains = ["a", "b", "c", "a", "b"] * 2
print(json.dumps(list(DomainRouter.fit(windows, domains, vocabulary_size=50).vocabulary)))
"""


def test_the_same_windows_give_the_same_router_in_every_process() -> None:
    """Words tied in document frequency at the cut-off are kept by a fixed rule, not by the order
    a set of bytes happens to iterate in (which follows the per-process hash seed): otherwise
    two trainings on the same data route texts differently and pick other thresholds."""
    import os
    import subprocess
    import sys

    vocabularies = []
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", FIT_WITH_TIES],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        vocabularies.append(json.loads(done.stdout))
    assert vocabularies[0] == vocabularies[1] == vocabularies[2]
    assert vocabularies[0] == ["the"] + [f"w{i:03d}" for i in range(49)]  # ties: in byte order


def test_a_training_window_without_a_vocabulary_word_is_an_empty_row() -> None:
    """A window none of whose words made the vocabulary trains as an empty row (the intercepts,
    as ``route`` scores it) instead of failing the fit with a division by zero."""
    common = [b"the", b"of", b"and"]
    windows = [[*common, b"cat"], [*common, b"dog"], [b"zzz"], [*common, b"cat"]]
    router = DomainRouter.fit(windows, ["a", "b", "a", "b"], vocabulary_size=3)
    assert router.vocabulary == ("and", "of", "the")
    assert router.route([b"zzz"]) in {"a", "b", None}


def test_two_domains_route_with_the_binary_models_probability() -> None:
    """With two domains scikit-learn fits one row of weights; the router's softmax over both
    gives the same probabilities as that binary model, and routes by them."""
    from sklearn.linear_model import LogisticRegression

    from model_monitoring.domain_router import DEFAULT_C, _presence_matrix

    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}".encode() for i in range(30)]
    windows = [list(rng.choice(vocabulary[i % 2 * 10 :][:20], 8)) for i in range(60)]
    domains = ["news" if i % 2 else "review" for i in range(60)]
    router = DomainRouter.fit(windows, domains, min_confidence=0.0)
    assert router.domains == ("news", "review")
    assert router.coef.shape == (2, len(router.vocabulary))
    ids = {w.encode(): i for i, w in enumerate(router.vocabulary)}
    matrix = _presence_matrix(windows, ids)
    binary = LogisticRegression(C=DEFAULT_C, max_iter=3000, class_weight="balanced")
    binary.fit(matrix, domains)
    assert [router.route(w) for w in windows] == binary.predict(matrix).tolist()
    sure = DomainRouter.fit(windows, domains, min_confidence=0.9)
    confident = binary.predict_proba(matrix).max(axis=1) >= 0.9
    routed = [sure.route(w) is not None for w in windows]
    assert routed == confident.tolist()


def test_a_text_shorter_than_the_route_minimum_gets_no_route(reference: ScopeReference) -> None:
    """Genre thresholds are set on texts of the genre's usual length; a short in-scope text is
    judged at the global threshold (no route), counted like the length check (whitespace runs
    once), in ``assess_one`` and ``assess`` alike."""
    text = genre_text("news", 2)
    length = len(" ".join(text.split()))
    long_enough = ScopeChecker(reference, min_chars=100, min_route_chars=length)
    too_short = ScopeChecker(reference, min_chars=100, min_route_chars=length + 1)
    assert long_enough.assess_one(text).domain == "news"
    short_verdict = too_short.assess_one(text)
    assert short_verdict.in_scope and short_verdict.domain is None
    padded = text + " " * 600  # longer than the window, the same counted length
    assert too_short.assess([text, padded]) == [short_verdict, too_short.assess_one(padded)]
    assert all(v.domain is None for v in too_short.assess([text, padded]))
    assert long_enough.assess([text, padded])[1].domain == "news"
    # Past the window, the characters that are not whitespace decide first when they suffice.
    visible = len("".join(text.split()))
    assert visible < length
    assert ScopeChecker(reference, min_chars=100, min_route_chars=visible).assess_one(padded).domain
