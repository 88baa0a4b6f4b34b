"""Typed settings, read once from ``IDP_*`` environment variables.

Nothing else in the code reads ``os.environ``. With no variables at all the provider runs on the
embedded development defaults: SQLite in the instance folder and a secret generated and persisted
there. With ``IDP_ENV=production`` it refuses to start on any development default and names the
missing settings.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from idp.defaults import PRESENCE_TTL

AVATAR_STORAGES = ("db", "folder", "s3")
# IDP_SMTP_HOST too: without it emails are printed and kept as files (development), which in
# production would put activation and reset links in the process log and send none of them.
PRODUCTION_REQUIRED = (
    "IDP_DATABASE_URL",
    "IDP_SECRET_KEY",
    "IDP_ISSUER",
    "IDP_KEY_ENCRYPTION_KEY",
    "IDP_SMTP_HOST",
)


class SettingsError(RuntimeError):
    """The environment does not describe a runnable provider; the message says what is missing."""


def _bool(name: str, value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def _int(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {number}")
    return number


def _choice(name: str, value: str | None, default: str, allowed: tuple[str, ...]) -> str:
    if value is None or value == "":
        return default
    if value.lower() not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value.lower()


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    instance_path: Path = field(default_factory=lambda: Path.cwd() / "instance")
    database_url: str = ""
    secret_key: str = ""
    key_encryption_key: str = ""
    issuer: str = "http://127.0.0.1:5000"
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 5000
    default_sub_account_limit: int = 99
    secure_cookies: bool = False
    # Reverse proxies in front (TLS terminators, load balancers) whose X-Forwarded-For and
    # X-Forwarded-Proto are trusted: the client's address for per-IP sign-in limits and logs.
    proxy_hops: int = 0
    log_level: str = "INFO"
    log_format: str = "text"  # "json" in production: one JSON object per line
    access_log: bool = False
    # Email: with no SMTP host, emails are printed to the console and kept as .eml files in the
    # instance folder (development).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # none, starttls or tls
    smtp_username: str = ""
    smtp_password: str = ""
    mail_from: str = "Seller IdP <no-reply@localhost>"
    # SMS: a webhook that receives {"to": ..., "text": ...} as JSON (with a bearer token); with
    # none, texts go to the console and the outbox (development).
    sms_webhook_url: str = ""
    sms_webhook_token: str = ""
    # Avatars (R20): where the photos are kept (db, folder or s3), the folder, and the bucket.
    # And whether a main account's photo waits for the operator's review too (it has no owner
    # above it: by default it is approved at once).
    avatar_storage: str = "db"
    avatar_folder: Path | None = None
    avatar_s3_bucket: str = ""
    avatar_s3_endpoint_url: str = ""
    avatar_s3_region: str = ""
    avatar_s3_access_key_id: str = ""
    avatar_s3_secret_access_key: str = ""
    avatar_review_main: bool = False
    # Passkeys (WebAuthn): the relying party id, a registrable suffix of the issuer's host (e.g.
    # "example.com" for https://id.example.com, so that passkeys outlive a move of the provider
    # within the domain). Empty: the issuer's host. Passkeys are bound to it: changing it later
    # makes every registered passkey useless.
    webauthn_rp_id: str = ""
    # R24: a chat app's heartbeat keeps a member online this long (seconds).
    presence_ttl: int = PRESENCE_TTL

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``IDP_*`` variables; fill development defaults, or refuse them in production."""
        env = os.environ if environ is None else environ
        mode = env.get("IDP_ENV", "development").strip().lower()
        if mode not in {"development", "production", "test"}:
            raise SettingsError(f"IDP_ENV must be development, production or test, got {mode!r}")
        if mode == "production":
            missing = [name for name in PRODUCTION_REQUIRED if not env.get(name)]
            if missing:
                raise SettingsError(
                    "IDP_ENV=production refuses development defaults; set " + ", ".join(missing)
                )
            if not env["IDP_ISSUER"].startswith("https://"):
                raise SettingsError("IDP_ISSUER must be an https:// URL in production")
            if len(env["IDP_SECRET_KEY"]) < 32:
                raise SettingsError("IDP_SECRET_KEY must be at least 32 characters in production")
        instance = Path(env.get("IDP_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
        port = _int("IDP_PORT", env.get("IDP_PORT"), 5000, 1, 65535)
        # Development serves where IDP_PORT says, and the issuer (discovery, tokens, the demo
        # app's redirect URI) follows it unless IDP_ISSUER names another address.
        issuer = env.get("IDP_ISSUER") or f"http://127.0.0.1:{port}"
        settings = cls(
            env=mode,
            instance_path=instance,
            database_url=env.get("IDP_DATABASE_URL", ""),
            secret_key=env.get("IDP_SECRET_KEY", ""),
            key_encryption_key=env.get("IDP_KEY_ENCRYPTION_KEY", ""),
            issuer=issuer.rstrip("/"),
            redis_url=env.get("IDP_REDIS_URL", ""),
            host=env.get("IDP_HOST", "127.0.0.1"),
            port=port,
            default_sub_account_limit=_int(
                "IDP_DEFAULT_SUB_ACCOUNT_LIMIT",
                env.get("IDP_DEFAULT_SUB_ACCOUNT_LIMIT"),
                99,
                0,
                10_000,
            ),
            secure_cookies=_bool(
                "IDP_SECURE_COOKIES", env.get("IDP_SECURE_COOKIES"), mode == "production"
            ),
            proxy_hops=_int("IDP_PROXY_HOPS", env.get("IDP_PROXY_HOPS"), 0, 0, 5),
            log_level=env.get("IDP_LOG_LEVEL", "INFO").upper(),
            log_format=_choice(
                "IDP_LOG_FORMAT",
                env.get("IDP_LOG_FORMAT"),
                "json" if mode == "production" else "text",
                ("json", "text"),
            ),
            access_log=_bool("IDP_ACCESS_LOG", env.get("IDP_ACCESS_LOG"), mode == "production"),
            smtp_host=env.get("IDP_SMTP_HOST", ""),
            smtp_port=_int("IDP_SMTP_PORT", env.get("IDP_SMTP_PORT"), 587, 1, 65535),
            smtp_security=_choice(
                "IDP_SMTP_SECURITY",
                env.get("IDP_SMTP_SECURITY"),
                "starttls",
                ("none", "starttls", "tls"),
            ),
            smtp_username=env.get("IDP_SMTP_USERNAME", ""),
            smtp_password=env.get("IDP_SMTP_PASSWORD", ""),
            mail_from=env.get("IDP_MAIL_FROM", "Seller IdP <no-reply@localhost>"),
            sms_webhook_url=env.get("IDP_SMS_WEBHOOK_URL", ""),
            sms_webhook_token=env.get("IDP_SMS_WEBHOOK_TOKEN", ""),
            avatar_storage=_choice(
                "IDP_AVATAR_STORAGE", env.get("IDP_AVATAR_STORAGE"), "db", AVATAR_STORAGES
            ),
            avatar_folder=(
                Path(env["IDP_AVATAR_FOLDER"]).resolve() if env.get("IDP_AVATAR_FOLDER") else None
            ),
            avatar_s3_bucket=env.get("IDP_AVATAR_S3_BUCKET", ""),
            avatar_s3_endpoint_url=env.get("IDP_AVATAR_S3_ENDPOINT_URL", ""),
            avatar_s3_region=env.get("IDP_AVATAR_S3_REGION", ""),
            avatar_s3_access_key_id=env.get("IDP_AVATAR_S3_ACCESS_KEY_ID", ""),
            avatar_s3_secret_access_key=env.get("IDP_AVATAR_S3_SECRET_ACCESS_KEY", ""),
            avatar_review_main=_bool(
                "IDP_AVATAR_REVIEW_MAIN", env.get("IDP_AVATAR_REVIEW_MAIN"), False
            ),
            webauthn_rp_id=_rp_id(env.get("IDP_WEBAUTHN_RP_ID", ""), issuer),
            presence_ttl=_int(
                "IDP_PRESENCE_TTL", env.get("IDP_PRESENCE_TTL"), PRESENCE_TTL, 10, 3600
            ),
        )
        if settings.avatar_storage == "s3" and not settings.avatar_s3_bucket:
            raise SettingsError("IDP_AVATAR_STORAGE=s3 needs IDP_AVATAR_S3_BUCKET")
        return settings.with_development_defaults()

    def with_development_defaults(self) -> Settings:
        """Fill what development may leave empty: SQLite and secrets persisted in the instance."""
        if self.is_production:
            return self
        self.instance_path.mkdir(parents=True, exist_ok=True)
        database_url = self.database_url or f"sqlite:///{self.instance_path / 'idp.sqlite3'}"
        secret_key = self.secret_key or _persisted_secret(self.instance_path / "secret_key")
        kek = self.key_encryption_key or _persisted_secret(
            self.instance_path / "key_encryption_key"
        )
        return replace(
            self, database_url=database_url, secret_key=secret_key, key_encryption_key=kek
        )

    @property
    def avatar_path(self) -> Path:
        """The folder of ``IDP_AVATAR_STORAGE=folder``: ``IDP_AVATAR_FOLDER``, else
        ``avatars/`` in the instance folder."""
        return self.avatar_folder or self.instance_path / "avatars"


def _rp_id(value: str, issuer: str) -> str:
    """IDP_WEBAUTHN_RP_ID must be the issuer's host or a parent domain of it (WebAuthn 5.1.3:
    the browser refuses any other)."""
    value = value.strip().lower().rstrip(".")
    if not value:
        return ""
    from urllib.parse import urlsplit

    host = (urlsplit(issuer).hostname or "").lower()
    if host != value and not host.endswith("." + value):
        raise SettingsError(
            f"IDP_WEBAUTHN_RP_ID must be the issuer's host ({host}) or a domain above it, "
            f"got {value!r}"
        )
    return value


def _persisted_secret(path: Path) -> str:
    """A random secret generated on first start and kept (mode 0600) for the next ones."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
