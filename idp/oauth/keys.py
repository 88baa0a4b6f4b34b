"""Signing keys: generated on first start, private parts encrypted at rest under
``IDP_KEY_ENCRYPTION_KEY``, rotated with ``idp keys rotate``. ES256 signs by default; RS256 is
available per client. Keys are loaded once per process and cached; the cache is refreshed when a
token names an unknown ``kid``, or every ``REFRESH_SECONDS`` (another instance may rotate).

A refresh reads which keys exist (kid, algorithm, state, public JWK) and decrypts and imports
only a ``kid`` it has not seen: a key's private part never changes, and importing both keys anew
took ~38 ms (the RSA key's checks most of it), a stall of every request on the process every 30
seconds. One thread refreshes while the others go on with the keys they have."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from flask import current_app
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select

from idp.defaults import KEY_REFRESH_SECONDS
from idp.extensions import db
from idp.models import SigningKey
from idp.models.base import utcnow
from idp.oauth.config import DEFAULT_ALG, KEY_RETIRE_AFTER, SIGNING_ALGS

REFRESH_SECONDS = KEY_REFRESH_SECONDS


def _fernet() -> Fernet:
    kek = current_app.extensions["idp.settings"].key_encryption_key
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(kek.encode()).digest()))


def _generate_pem(alg: str) -> bytes:
    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _import(alg: str, pem: bytes, kid: str):
    cls = ECKey if alg == "ES256" else RSAKey
    return cls.import_key(pem, {"kid": kid, "alg": alg, "use": "sig"})


def create_key(alg: str) -> SigningKey:
    kid = f"{alg.lower()}-{time.strftime('%Y%m%d')}-{secrets.token_hex(4)}"
    pem = _generate_pem(alg)
    public = _import(alg, pem, kid).as_dict(private=False)
    key = SigningKey(
        kid=kid, alg=alg, private_key_encrypted=_fernet().encrypt(pem).decode(), public_jwk=public
    )
    db.session.add(key)
    return key


def ensure_keys() -> None:
    """First start: one signing key per supported algorithm."""
    existing = {
        k.alg for k in db.session.query(SigningKey).filter(SigningKey.superseded_at.is_(None))
    }
    created = [create_key(alg) for alg in SIGNING_ALGS if alg not in existing]
    if created:
        db.session.commit()
        keyring().invalidate()


def rotate() -> list[SigningKey]:
    """A new key per algorithm signs from now on; the old ones stay published until every token
    they signed has expired."""
    now = utcnow()
    old = db.session.query(SigningKey).filter(SigningKey.superseded_at.is_(None)).all()
    for key in old:
        key.superseded_at = now
        key.retire_after = now + timedelta(seconds=KEY_RETIRE_AFTER)
    new = [create_key(alg) for alg in SIGNING_ALGS]
    db.session.commit()
    keyring().invalidate()
    return new


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class _Signer:
    """Signs compact JWS (RFC 7515 7.1) with one key: ES256 (RFC 7518 3.4, the signature as
    R || S) or RS256 (RFC 7518 3.3). Written here rather than by joserfc, which costs twice the
    signature itself (about 60 µs a token on the token endpoint); what we sign is verified with
    joserfc, by us and by the interop tests."""

    def __init__(self, alg: str, kid: str, key) -> None:
        self.alg, self.kid, self._key = alg, kid, key.private_key
        self._headers: dict[str, bytes] = {}

    def _header(self, typ: str) -> bytes:
        header = self._headers.get(typ)
        if header is None:
            document = {"typ": typ, "alg": self.alg, "kid": self.kid}
            header = self._headers[typ] = _b64(json.dumps(document).encode())
        return header

    def _signature(self, data: bytes) -> bytes:
        if self.alg == "ES256":
            r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def sign(self, claims: dict, typ: str) -> str:
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        signing_input = self._header(typ) + b"." + _b64(payload)
        return (signing_input + b"." + _b64(self._signature(signing_input))).decode("ascii")


@dataclass(frozen=True)
class _Loaded:
    signing: dict  # alg -> private joserfc key
    signers: dict  # alg -> _Signer of that key
    verifying: dict  # kid -> public/private joserfc key
    jwks: dict
    jwks_json: bytes  # the JWKS document, serialized once per load


class KeyRing:
    """Per-process cache of decrypted keys."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._loaded_at = 0.0
        self._forced_at = 0.0
        self._imported: dict[str, tuple] = {}  # kid -> (joserfc key, _Signer): never change

    def invalidate(self) -> None:
        self._loaded = None

    def _load(self) -> _Loaded:
        now = utcnow()
        rows = db.session.execute(
            select(
                SigningKey.kid,
                SigningKey.alg,
                SigningKey.public_jwk,
                SigningKey.superseded_at,
                SigningKey.retire_after,
            ).order_by(SigningKey.id)
        ).all()
        live = [row for row in rows if row.retire_after is None or row.retire_after > now]
        self._imported = {
            row.kid: self._imported[row.kid] for row in live if row.kid in self._imported
        }
        self._import_new([row for row in live if row.kid not in self._imported])
        signing, signers, verifying, published = {}, {}, {}, []
        for row in live:
            key, signer = self._imported[row.kid]
            verifying[row.kid] = key
            published.append(row.public_jwk)
            if row.superseded_at is None:  # newest active key per algorithm
                signing[row.alg], signers[row.alg] = key, signer
        document = {"keys": published}
        return _Loaded(signing, signers, verifying, document, json.dumps(document).encode())

    def _import_new(self, rows: list) -> None:
        if not rows:
            return
        fernet = _fernet()
        encrypted = dict(
            db.session.execute(
                select(SigningKey.kid, SigningKey.private_key_encrypted).where(
                    SigningKey.kid.in_([row.kid for row in rows])
                )
            ).all()
        )
        for row in rows:
            key = _import(row.alg, fernet.decrypt(encrypted[row.kid].encode()), row.kid)
            self._imported[row.kid] = (key, _Signer(row.alg, row.kid, key))

    def _get(self, *, force: bool = False) -> _Loaded:
        loaded = self._loaded
        if loaded is not None and not force:
            if time.monotonic() - self._loaded_at <= REFRESH_SECONDS:
                return loaded
            if not self._lock.acquire(blocking=False):
                return loaded  # another thread is refreshing: these keys serve meanwhile
        else:
            self._lock.acquire()
        try:
            if not force and self._loaded is not None and self._loaded is not loaded:
                return self._loaded  # refreshed by the thread this one waited for
            loaded = self._load()
            if not loaded.signing:
                ensure_keys()
                loaded = self._load()
            self._loaded, self._loaded_at = loaded, time.monotonic()
            return loaded
        finally:
            self._lock.release()

    def signing_key(self, alg: str):
        return self._get().signing[alg]

    def sign(self, claims: dict, *, typ: str, alg: str = DEFAULT_ALG) -> str:
        """A compact JWS of ``claims`` with the current key for ``alg`` (its ``kid`` in the
        header)."""
        return self._get().signers[alg].sign(claims, typ)

    def verifying_key(self, kid: str | None):
        loaded = self._get()
        if kid not in loaded.verifying and time.monotonic() - self._forced_at > 5:
            self._forced_at = time.monotonic()  # at most one forced reload per 5 s per process
            loaded = self._get(force=True)  # maybe rotated by another instance
        return loaded.verifying.get(kid)

    def jwks(self) -> dict:
        return self._get().jwks

    def jwks_json(self) -> bytes:
        return self._get().jwks_json


def keyring() -> KeyRing:
    """The app's key ring (one per app: each app may use another database)."""
    return current_app.extensions["idp.keyring"]
