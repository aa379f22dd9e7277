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


SECRETS_ENV = {
    "PROMETHEUS_PASSWORD": "prometheus-pass-123",
    "ALERTMANAGER_PASSWORD": "am-pass-12345",
    "ORCHESTRATION_WEBHOOK_TOKEN": "webhook-token-123456",
}


def _written(secrets_dir: Path) -> dict[str, dict[str, str]]:
    return {
        server.name: {path.name: path.read_text() for path in server.iterdir()}
        for server in secrets_dir.iterdir()
    }


def test_cli_writes_each_servers_own_secret_files(tmp_path: Path) -> None:
    """What compose mounts at /run/secrets of each server: its files only (Prometheus never
    holds the webhook token), readable by the server's other user, never writable."""
    secrets_dir = tmp_path / "secrets"
    assert (
        web_auth.main([str(tmp_path / "web"), "--secrets-dir", str(secrets_dir)], SECRETS_ENV) == 0
    )
    assert _written(secrets_dir) == {
        "prometheus": {
            "prometheus_password": "prometheus-pass-123",
            "alertmanager_password": "am-pass-12345",
        },
        "alertmanager": {
            "alertmanager_password": "am-pass-12345",
            "webhook_token": "webhook-token-123456",
        },
    }
    for path in secrets_dir.glob("*/*"):
        assert oct(path.stat().st_mode)[-3:] == "444", path


def test_a_changed_secret_replaces_the_read_only_file_at_the_next_start(tmp_path: Path) -> None:
    """The one-shot runs at every `up`: a rotated password reaches both servers' files (they are
    0444, so they are replaced whole; in a container the writer is not root and could not
    rewrite them in place)."""
    secrets_dir = tmp_path / "secrets"
    argv = [str(tmp_path / "web"), "--secrets-dir", str(secrets_dir)]
    assert web_auth.main(argv, SECRETS_ENV) == 0
    rotated = {**SECRETS_ENV, "ALERTMANAGER_PASSWORD": "rotated-pass-6789"}
    assert web_auth.main(argv, rotated) == 0
    written = _written(secrets_dir)
    assert written["prometheus"]["alertmanager_password"] == "rotated-pass-6789"
    assert written["alertmanager"]["alertmanager_password"] == "rotated-pass-6789"


def test_cli_refuses_a_missing_webhook_token_when_writing_secret_files(tmp_path: Path) -> None:
    env = {k: v for k, v in SECRETS_ENV.items() if k != "ORCHESTRATION_WEBHOOK_TOKEN"}
    argv = [str(tmp_path / "web"), "--secrets-dir", str(tmp_path / "secrets")]
    assert web_auth.main(argv, env) == 1
    assert not list(tmp_path.iterdir())


def test_an_empty_secret_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        web_auth.write_secret_file(tmp_path / "token", "")
    assert not list(tmp_path.iterdir())
