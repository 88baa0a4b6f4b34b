"""Settings are read once from ``IDP_*`` variables: development runs on embedded defaults persisted
in the instance folder; production refuses every development default and names what is missing."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from idp.settings import PRODUCTION_REQUIRED, Settings, SettingsError

IDP = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "idp"
PRODUCTION = {
    "IDP_ENV": "production",
    "IDP_DATABASE_URL": "postgresql://idp@db.internal/idp",
    "IDP_SECRET_KEY": "s" * 32,
    "IDP_ISSUER": "https://login.example.com/",
    "IDP_KEY_ENCRYPTION_KEY": "k" * 44,
    "IDP_SMTP_HOST": "smtp.example.com",
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_development_defaults_live_in_the_instance_folder(tmp_path):
    instance = tmp_path / "instance"
    settings = Settings.from_env({"IDP_INSTANCE_PATH": str(instance)})

    assert settings.env == "development" and not settings.is_production
    assert settings.instance_path == instance.resolve()
    assert settings.database_url == f"sqlite:///{instance.resolve() / 'idp.sqlite3'}"
    assert settings.issuer == "http://127.0.0.1:5000"
    assert settings.port == 5000 and settings.default_sub_account_limit == 99
    assert settings.secure_cookies is False
    secret, kek = instance / "secret_key", instance / "key_encryption_key"
    assert secret.read_text() == settings.secret_key and len(settings.secret_key) >= 32
    assert kek.read_text() == settings.key_encryption_key and len(settings.key_encryption_key) >= 32
    assert settings.secret_key != settings.key_encryption_key
    assert _mode(secret) == 0o600 and _mode(kek) == 0o600


def test_persisted_secrets_are_reused_on_the_next_read(tmp_path):
    environ = {"IDP_INSTANCE_PATH": str(tmp_path)}
    first, second = Settings.from_env(environ), Settings.from_env(environ)
    assert (first.secret_key, first.key_encryption_key) == (
        second.secret_key,
        second.key_encryption_key,
    )


def test_given_values_win_over_development_defaults(tmp_path):
    settings = Settings.from_env(
        {
            "IDP_INSTANCE_PATH": str(tmp_path),
            "IDP_DATABASE_URL": "postgresql://localhost/idp",
            "IDP_SECRET_KEY": "given-secret",
            "IDP_KEY_ENCRYPTION_KEY": "given-kek",
            "IDP_PORT": "8080",
            "IDP_SECURE_COOKIES": "yes",
        }
    )
    assert settings.database_url == "postgresql://localhost/idp"
    assert (settings.secret_key, settings.key_encryption_key) == ("given-secret", "given-kek")
    assert (settings.port, settings.secure_cookies) == (8080, True)
    assert not (tmp_path / "secret_key").exists()
    assert not (tmp_path / "key_encryption_key").exists()


def test_production_with_nothing_set_names_every_missing_variable():
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"IDP_ENV": "production"})
    for name in PRODUCTION_REQUIRED:
        assert name in str(err.value)
    assert set(PRODUCTION_REQUIRED) == {
        "IDP_DATABASE_URL",
        "IDP_SECRET_KEY",
        "IDP_ISSUER",
        "IDP_KEY_ENCRYPTION_KEY",
        "IDP_SMTP_HOST",  # else activation and reset links would be printed, none sent
    }


def test_production_names_only_what_is_missing():
    environ = {k: v for k, v in PRODUCTION.items() if k not in ("IDP_ISSUER", "IDP_SECRET_KEY")}
    with pytest.raises(SettingsError) as err:
        Settings.from_env(environ)
    message = str(err.value)
    assert "IDP_ISSUER" in message and "IDP_SECRET_KEY" in message
    assert "IDP_DATABASE_URL" not in message and "IDP_KEY_ENCRYPTION_KEY" not in message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"IDP_ISSUER": "http://login.example.com"}, "https://"),
        ({"IDP_SECRET_KEY": "s" * 31}, "at least 32 characters"),
    ],
)
def test_production_refuses_weak_values(override, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**PRODUCTION, **override})


def test_production_with_everything_set_writes_nothing_to_the_instance(tmp_path):
    settings = Settings.from_env({**PRODUCTION, "IDP_INSTANCE_PATH": str(tmp_path / "i")})
    assert settings.is_production and settings.secure_cookies is True
    assert settings.issuer == "https://login.example.com"
    assert settings.secret_key == "s" * 32
    assert not (tmp_path / "i").exists()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"IDP_PORT": "http"}, "IDP_PORT must be a whole number, got 'http'"),
        ({"IDP_ENV": "staging"}, "IDP_ENV must be development, production or test, got 'staging'"),
        ({"IDP_DEFAULT_SUB_ACCOUNT_LIMIT": "lots"}, "IDP_DEFAULT_SUB_ACCOUNT_LIMIT"),
        ({"IDP_PORT": "70000"}, "IDP_PORT"),  # not a TCP port
        ({"IDP_SECURE_COOKIES": "maybe"}, "IDP_SECURE_COOKIES"),
    ],
    ids=[
        "port-not-a-number",
        "unknown-env",
        "limit-not-a-number",
        "port-out-of-range",
        "cookies-not-a-boolean",
    ],
)
def test_bad_values_get_a_message_naming_the_variable(tmp_path, environ, message):
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"IDP_INSTANCE_PATH": str(tmp_path), **environ})
    assert message in str(err.value)


def test_the_console_script_refuses_production_without_settings(tmp_path):
    result = subprocess.run(
        [str(IDP), "staff", "list", "acme"],
        env={"IDP_ENV": "production"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    for name in PRODUCTION_REQUIRED:
        assert name in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().count("\n") == 0  # one line
    assert not (tmp_path / "instance").exists()


def test_development_issuer_follows_idp_port_unless_idp_issuer_is_set(tmp_path):
    """Issue 12: on IDP_PORT=8000 the banner, discovery and the demo app said :5000."""
    moved = Settings.from_env({"IDP_INSTANCE_PATH": str(tmp_path), "IDP_PORT": "8000"})
    assert moved.issuer == "http://127.0.0.1:8000" and moved.port == 8000
    named = Settings.from_env(
        {
            "IDP_INSTANCE_PATH": str(tmp_path),
            "IDP_PORT": "8000",
            "IDP_ISSUER": "http://localhost:9000/",
        }
    )
    assert named.issuer == "http://localhost:9000"
