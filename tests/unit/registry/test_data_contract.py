"""The optional columns of the data contract: validated, defaulted, stored, digested, split on."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from model_registry import contract
from model_registry.dataset_store import DatasetStore, dataset_digest
from model_registry.labelled_csv import load_corpus, with_defaults
from model_registry.settings import RegistrySettings
from model_registry.splits import SplitLeakage, Splits, check_no_leakage, make_splits
from model_registry.validation import validate
from tests.support.model_fixtures import sample

DATA = Path(__file__).resolve().parents[3] / "data"
LONG = "This text is long enough to pass the minimum length rule of the validator. "


@cache
def multidomain() -> pd.DataFrame:
    with gzip.open(DATA / "ai_human_multidomain.csv.gz", "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=object, keep_default_na=False)


def mixed_corpus(n_per_domain: int = 120, n_essays: int = 300) -> pd.DataFrame:
    """Essays (no optional columns) + whole groups of every other domain, validated."""
    md = multidomain()
    groups = md.groupby("domain")["group_id"].unique()
    parts = []
    for ids in groups:
        parts.append(md[md["group_id"].isin(set(ids[: n_per_domain // 2]))])
    essays = sample(n_essays).astype(object)
    report = validate(pd.concat([essays, *parts], ignore_index=True).fillna(""))
    assert report.usable
    return report.accepted


def test_missing_optional_columns_get_defaults() -> None:
    df = pd.DataFrame({"text": [f"{LONG}a", f"{LONG}b"], "generated": ["0", "1"]})
    accepted = validate(df).accepted
    assert accepted["domain"].tolist() == [contract.DEFAULT_DOMAIN] * 2
    assert accepted["generator"].tolist() == ["human", "unknown"]
    assert accepted["group_id"].str.startswith("text:").all()
    assert accepted["group_id"].nunique() == 2  # one group per row


def test_blank_optional_values_get_defaults_and_given_ones_are_kept() -> None:
    df = pd.DataFrame(
        {
            "text": [f"{LONG}a", f"{LONG}b"],
            "generated": ["0", "1"],
            "domain": ["", "news"],
            "generator": ["", "gpt-4o"],
            "group_id": ["g1", ""],
        }
    )
    accepted = validate(df).accepted
    assert accepted["domain"].tolist() == [contract.DEFAULT_DOMAIN, "news"]
    assert accepted["generator"].tolist() == ["human", "gpt-4o"]
    assert accepted["group_id"].iloc[0] == "g1"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("domain", "News Articles"),
        ("domain", "x" * 41),
        ("generator", "gpt 4"),
        ("group_id", "g" * 129),
        ("group_id", "a/b"),
    ],
)
def test_malformed_optional_values_are_rejected_by_name(column: str, value: str) -> None:
    rows = {"text": [f"{LONG}{i}" for i in range(4)], "generated": ["0", "1", "0", "1"]}
    df = pd.DataFrame({**rows, column: [value, "", "", ""]})
    report = validate(df)
    assert [(r.row, r.rule) for r in report.rejections] == [(0, f"{column}_format")]
    assert column in report.rejections[0].detail


def test_too_many_domains_is_a_dataset_error() -> None:
    n = 52
    df = pd.DataFrame(
        {
            "text": [f"{LONG}{i}" for i in range(n)],
            "generated": [str(i % 2) for i in range(n)],
            "domain": [f"d{i // 1}" for i in range(n)],
        }
    )
    assert [e.rule for e in validate(df).dataset_errors] == ["domain_count"]


def test_digest_of_plain_rows_unchanged_by_explicit_defaults() -> None:
    plain = sample(40)
    explicit = with_defaults(plain)
    assert dataset_digest(explicit) == dataset_digest(plain)
    relabelled = explicit.copy()
    relabelled.loc[0, "domain"] = "news"
    assert dataset_digest(relabelled) != dataset_digest(plain)
    regrouped = explicit.copy()
    regrouped.loc[0, "group_id"] = "g1"
    assert dataset_digest(regrouped) != dataset_digest(plain)


def test_store_keeps_optional_columns(tmp_path: Path) -> None:
    data = mixed_corpus(20, 20)
    store = DatasetStore.from_uri(str(tmp_path))
    digest = store.put(data)
    loaded = store.get(digest)
    assert loaded[["domain", "generator", "group_id"]].to_dict("list") == data[
        ["domain", "generator", "group_id"]
    ].to_dict("list")


def test_load_corpus_concatenates_files_with_and_without_optional_columns(tmp_path: Path) -> None:
    pd.DataFrame({"text": [f"{LONG}a"], "generated": [0]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"text": [f"{LONG}b"], "generated": [1], "domain": ["news"]}).to_csv(
        tmp_path / "b.csv", index=False
    )
    accepted = validate(load_corpus([tmp_path / "a.csv", tmp_path / "b.csv"])).accepted
    assert accepted["domain"].tolist() == [contract.DEFAULT_DOMAIN, "news"]


def test_settings_default_to_both_shipped_files_and_split_commas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert [p.name for p in RegistrySettings().data_path] == [
        "ai_human_essays.csv.gz",
        "ai_human_multidomain.csv.gz",
    ]
    monkeypatch.setenv("REGISTRY_DATA_PATH", "/x/a.csv, /x/b.csv.gz")
    assert [str(p) for p in RegistrySettings().data_path] == ["/x/a.csv", "/x/b.csv.gz"]


def test_groups_never_cross_splits_and_every_domain_is_in_test() -> None:
    data = mixed_corpus()
    splits = make_splits(data, seed=3)
    groups = {name: set(part["group_id"]) for name, part in splits_parts(splits).items()}
    assert not groups["train"] & groups["test"]
    assert not groups["train"] & groups["validation"]
    assert not groups["validation"] & groups["test"]
    assert set(splits.test.domains) == set(data["domain"])
    assert set(splits.validation.domains) == set(data["domain"])
    assert len(splits.train.texts) == len(splits.train.domains) == len(splits.train)
    assert sum(splits.sizes().values()) == len(data)


def test_leak_check_names_a_shared_group() -> None:
    df = with_defaults(sample(20)).assign(group_id="g")
    with pytest.raises(SplitLeakage, match="groups in both train and test"):
        check_no_leakage(Splits(train=df.head(10), validation=df.iloc[:0], test=df.tail(10)))


def test_frozen_split_without_a_domain_is_extended_and_keeps_what_it_held() -> None:
    data = mixed_corpus()
    essays_only = data[data["domain"] == contract.DEFAULT_DOMAIN]
    frozen = make_splits(essays_only, seed=3).test
    splits = make_splits(data, frozen, seed=3)
    assert set(splits.added_test_domains) == set(data["domain"]) - {contract.DEFAULT_DOMAIN}
    assert set(splits.test.domains) == set(data["domain"])
    assert set(frozen["text"]) <= set(splits.test.texts)
    check_no_leakage(splits)
    again = make_splits(data, splits.test, seed=3)  # complete now: reused as is
    assert again.added_test_domains == ()
    assert dataset_digest(again.test) == dataset_digest(splits.test)


def splits_parts(splits: Splits) -> dict[str, pd.DataFrame]:
    return {"train": splits.train, "validation": splits.validation, "test": splits.test}
