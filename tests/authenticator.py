"""A software WebAuthn authenticator for tests below the browser: it answers the options our
pages send as a browser and an authenticator would (packed "none" attestation, ES256), so the
service's refusals can be tested with real signatures. The browser tests use Chromium's own
virtual authenticator instead."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, AT, BE, BS = 0x01, 0x04, 0x40, 0x08, 0x10


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class Authenticator:
    origin: str
    user_verifying: bool = True
    synced: bool = False
    credentials: list[Credential] = field(default_factory=list)

    def create(self, options: dict, reuse: Credential | None = None) -> str:
        """The browser's JSON for ``navigator.credentials.create`` with these options (``reuse``:
        answer with an existing credential's id and key, as a cloned authenticator would)."""
        rp_id = options["rp"]["id"]
        if reuse is not None:
            cred = reuse
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            user = base64url_to_bytes(options["user"]["id"])
            cred = Credential(os.urandom(32), key, rp_id, user)
            self.credentials.append(cred)
        key = cred.key
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = bytes(16) + struct.pack(">H", len(cred.id)) + cred.id + cose
        auth_data = self._auth_data(rp_id, AT, 0) + attested
        client_data = self._client_data("webauthn.create", options["challenge"])
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": bytes_to_base64url(cred.id),
                "rawId": bytes_to_base64url(cred.id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "attestationObject": bytes_to_base64url(attestation),
                    "transports": ["internal"],
                },
            }
        )

    def get(self, options: dict, credential: Credential | None = None, **changes) -> str:
        """The browser's JSON for ``navigator.credentials.get``: the first allowed credential
        (or ``credential``). ``changes``: challenge, origin, sign_count, user_handle to forge."""
        allowed = {c["id"] for c in options.get("allowCredentials") or []}
        if credential is None:
            credential = next(
                c
                for c in self.credentials
                if c.rp_id == options["rpId"]
                and (not allowed or bytes_to_base64url(c.id) in allowed)
            )
        credential.sign_count += 1
        count = changes.get("sign_count", credential.sign_count)
        auth_data = self._auth_data(credential.rp_id, 0, count)
        client_data = self._client_data(
            "webauthn.get",
            changes.get("challenge", options["challenge"]),
            changes.get("origin", self.origin),
        )
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = changes.get("user_handle", credential.user_handle)
        return json.dumps(
            {
                "id": bytes_to_base64url(credential.id),
                "rawId": bytes_to_base64url(credential.id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "authenticatorData": bytes_to_base64url(auth_data),
                    "signature": bytes_to_base64url(signature),
                    **({"userHandle": bytes_to_base64url(handle)} if handle else {}),
                },
            }
        )

    def _auth_data(self, rp_id: str, extra_flags: int, count: int) -> bytes:
        flags = UP | extra_flags | (UV if self.user_verifying else 0)
        if self.synced:
            flags |= BE | BS
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", count)

    def _client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        ).encode()
