"""model_monitoring.web_auth: the Prometheus/Alertmanager web configs made at start."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
import yaml

from model_monitoring import web_auth


def test_web_config_holds_a_bcrypt_hash_of_the_password_only(tmp_path: Path) -> None:
    path = web_auth.write_web_config(tmp_path / "web.yml", "a-long-password-123")
    text = path.read_text()
    assert "a-long-password-123" not in text
    users = yaml.safe_load(text)["basic_auth_users"]
    assert list(users) == [web_auth.USERNAME]
    assert bcrypt.checkpw(b"a-long-password-123", users["admin"].encode())
    assert not bcrypt.checkpw(b"another-password", users["admin"].encode())
    assert oct(path.stat().st_mode)[-3:] == "644"  # the server runs as another user


def test_each_run_salts_anew(tmp_path: Path) -> None:
    first = web_auth.web_config("same-password-1234")["basic_auth_users"]["admin"]
    second = web_auth.web_config("same-password-1234")["basic_auth_users"]["admin"]
    assert first != second


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        web_auth.web_config("")


def test_cli_writes_one_config_per_server(tmp_path: Path) -> None:
    env = {"PROMETHEUS_PASSWORD": "prometheus-pass-123", "ALERTMANAGER_PASSWORD": "am-pass-12345"}
    assert web_auth.main([str(tmp_path)], env) == 0
    for server, variable in web_auth.PASSWORD_VARIABLES.items():
        users = yaml.safe_load((tmp_path / f"{server}-web.yml").read_text())["basic_auth_users"]
        assert bcrypt.checkpw(env[variable].encode(), users["admin"].encode())


def test_cli_refuses_a_missing_password(tmp_path: Path) -> None:
    assert web_auth.main([str(tmp_path)], {"PROMETHEUS_PASSWORD": "prometheus-pass-123"}) == 1
    assert not list(tmp_path.iterdir())
