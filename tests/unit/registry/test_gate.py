"""The gate rule, and promote / rollback bookkeeping against an in-memory registry double."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from model_registry import contract
from model_registry.errors import PromotionError
from model_registry.gate import PREVIOUS_CHAMPION_TAG, decide, promote, rollback, set_champion


@pytest.mark.parametrize(
    ("challenger", "behaviour", "champion", "margin", "promoted"),
    [
        (0.96, True, None, 0.0, True),  # no champion, above the floor
        (0.94, True, None, 0.0, False),  # no champion, below the floor
        (0.99, False, None, 0.0, False),  # behaviour failures block promotion
        (0.99, False, 0.90, 0.0, False),
        (0.985, True, 0.985, 0.0, True),  # at least as good
        (0.984, True, 0.985, 0.0, False),
        (0.984, True, 0.985, 0.002, True),  # within the margin
        (0.990, True, 0.985, 0.0, True),
    ],
)
def test_decide(
    challenger: float, behaviour: bool, champion: float | None, margin: float, promoted: bool
) -> None:
    result, reason = decide(challenger, behaviour, champion, floor=0.95, margin=margin)
    assert result is promoted
    assert reason and "\n" not in reason


@dataclass
class FakeVersion:
    version: str
    tags: dict[str, str] = field(default_factory=dict)


class FakeClient:
    """The MlflowClient calls the gate makes, kept in dictionaries."""

    def __init__(self, n_versions: int) -> None:
        self.versions = {str(i): FakeVersion(str(i)) for i in range(1, n_versions + 1)}
        self.aliases: dict[str, str] = {}
        self.model_tags: dict[str, str] = {}

    def get_model_version_by_alias(self, name: str, alias: str) -> FakeVersion:
        from mlflow.exceptions import MlflowException

        if alias not in self.aliases:
            raise MlflowException(f"no alias {alias}")
        return self.versions[self.aliases[alias]]

    def get_model_version(self, name: str, version: str) -> FakeVersion:
        from mlflow.exceptions import MlflowException

        if version not in self.versions:
            raise MlflowException(f"no version {version}")
        return self.versions[version]

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self.aliases[alias] = str(version)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.versions[str(version)].tags[key] = value

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.model_tags[key] = value


def champion(client: FakeClient) -> str:
    return client.aliases[contract.CHAMPION_ALIAS]


def test_promotions_record_history_and_rollback_walks_it_back() -> None:
    client = FakeClient(3)
    assert set_champion(client, "m", "1") is None
    assert promote(client, "m", "2") == "1"
    assert promote(client, "m", "3") == "2"
    assert client.versions["3"].tags[PREVIOUS_CHAMPION_TAG] == "2"
    assert client.model_tags[contract.ModelTag.PREVIOUS_CHAMPION] == "2"

    assert rollback(client, "m") == ("3", "2")
    assert champion(client) == "2"
    assert client.model_tags[contract.ModelTag.PREVIOUS_CHAMPION] == "1"
    assert rollback(client, "m") == ("2", "1")
    assert champion(client) == "1"
    with pytest.raises(PromotionError, match="no previous champion"):
        rollback(client, "m")


def test_promote_unknown_version_and_rollback_without_champion() -> None:
    client = FakeClient(1)
    with pytest.raises(PromotionError, match="no version 7"):
        promote(client, "m", "7")
    with pytest.raises(PromotionError, match="no champion"):
        rollback(client, "m")
