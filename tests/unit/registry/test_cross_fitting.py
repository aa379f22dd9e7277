"""Cross-fitted scores: every training row scored once, by a model that saw neither it nor its
group, with the supervised blocks refitted without it, on the final model's (calibrated) scale."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from model_registry.cross_fitting import cross_fitted_scores, fold_indices, fold_strata


def _rows(n_groups: int = 60) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """Two rows a group (an original and its rewrite: a human and an AI text), two domains;
    column 0 is the row's index, column 1 a feature that separates the classes."""
    rng = np.random.default_rng(1)
    groups = [g for g in range(n_groups) for _ in range(2)]
    y = np.asarray([i % 2 for i in range(2 * n_groups)])
    domains = ["news" if g % 3 else "review" for g in groups]
    x = np.c_[np.arange(2 * n_groups), y + rng.normal(0, 0.8, 2 * n_groups)]
    return x, y, domains, groups


class _Recorder:
    """A classifier that remembers the row indices it was fitted on and scores 1.0 for a row it
    saw, 0.0 for one it did not (no linear weights: calibration leaves it as it is)."""

    def __init__(self, fits: list[set[int]]) -> None:
        self.fits = fits

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Recorder:
        self.seen = {int(i) for i in x[:, 0]}
        self.fits.append(self.seen)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.asarray([1.0 if int(i) in self.seen else 0.0 for i in x[:, 0]])
        return np.c_[1 - p, p]


def _cross_fit(
    fit: Any,
    rows: tuple[np.ndarray, np.ndarray, list[str], list[int]],
    folds: int,
    refit_parts: Any = None,
) -> np.ndarray | None:
    """``cross_fitted_scores`` of ``rows`` (``_rows``), calibrated on their first 100."""
    x, y, domains, groups = rows
    return cross_fitted_scores(
        fit,
        x,
        y,
        x[:100],
        y[:100],
        strata=fold_strata(domains, y),
        groups=groups,
        folds=folds,
        seed=7,
        refit_parts=refit_parts,
    )


def test_every_row_is_scored_once_by_a_model_that_saw_neither_it_nor_its_group() -> None:
    rows = _rows()
    _, y, domains, groups = rows
    fits: list[set[int]] = []
    scores = _cross_fit(lambda a, b: _Recorder(fits).fit(a, b), rows, folds=5)
    assert scores is not None and len(fits) == 5
    assert not np.isnan(scores).any()
    assert (scores == 0.0).all()  # no row scored by a model that was fitted on it
    held = fold_indices(fold_strata(domains, y), groups, 5, 7)
    assert held is not None
    assert sorted(np.concatenate(held).tolist()) == list(range(len(y)))
    for fold, seen in zip(held, fits, strict=True):
        held_groups = {groups[i] for i in fold}
        assert not held_groups & {groups[i] for i in seen}  # a rewrite never on the other side
        assert {domains[i] for i in fold} == {"news", "review"}  # stratified by domain
        assert {int(y[i]) for i in fold} == {0, 1}


def test_the_supervised_blocks_are_refitted_without_the_held_rows() -> None:
    rows = _rows()
    x, y = rows[0], rows[1]
    kept_masks: list[np.ndarray] = []

    def refit(keep: np.ndarray) -> list[Any]:
        kept_masks.append(keep.copy())
        marked = x.copy()
        marked[:, 1] = np.where(keep, marked[:, 1], 99.0)  # what a refit block gives held rows
        return [marked, x[:100], x[:100]]

    seen_features: list[np.ndarray] = []

    def fit(a: np.ndarray, b: np.ndarray) -> LogisticRegression:
        seen_features.append(a[:, 1])
        return LogisticRegression().fit(a, b)

    _cross_fit(fit, rows, folds=4, refit_parts=refit)
    assert len(kept_masks) == 4
    assert sum((~keep).sum() for keep in kept_masks) == len(y)  # each row held out once
    assert all((features != 99.0).all() for features in seen_features)  # fitted on kept rows


def test_scores_are_calibrated_on_validation_as_the_final_model_is() -> None:
    x, y, domains, groups = _rows(200)
    features = x[:, 1:]  # without the row index

    def plain(a: Any, b: Any) -> Any:
        return LogisticRegression().fit(a, b)

    def overconfident(a: Any, b: Any) -> Any:
        model = plain(a, b)
        model.coef_ = model.coef_ * 10  # a model ten times too sure of itself
        model.intercept_ = model.intercept_ * 10
        return model

    def scored(fit: Any) -> np.ndarray:
        scores = _cross_fit(fit, (features, y, domains, groups), folds=5)
        assert scores is not None
        return scores

    # Uncalibrated, the scale matters: ten times the log-odds moves probabilities a lot.
    raw_gap = (
        overconfident(features, y).predict_proba(features)[:, 1]
        - plain(features, y).predict_proba(features)[:, 1]
    )
    assert np.abs(raw_gap).max() > 0.2
    # Platt scaling on validation undoes it: both give the same probabilities.
    np.testing.assert_allclose(scored(overconfident), scored(plain), atol=1e-3)


@pytest.mark.parametrize(
    ("folds", "n_groups", "why"),
    [(1, 60, "one fold"), (5, 4, "fewer groups than folds")],
)
def test_no_scores_when_the_data_cannot_be_cross_fitted(
    folds: int, n_groups: int, why: str
) -> None:
    scores = _cross_fit(lambda a, b: LogisticRegression().fit(a, b), _rows(n_groups), folds)
    assert scores is None, why
