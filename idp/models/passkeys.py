"""R19 and issue 17: passkeys (WebAuthn credentials), a second factor or a passwordless sign-in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime, new_public_id, utcnow

SINGLE_DEVICE = "single_device"  # the key never leaves the authenticator: RFC 8176 "hwk"
MULTI_DEVICE = "multi_device"  # a synced passkey (a password manager's, a phone's): "swk"


class Passkey(db.Model):
    """One WebAuthn credential of one account. The credential id is unique across every account
    (WebAuthn Level 2, 7.1 step 22: a registration that repeats one is refused); the public key
    is the COSE key the authenticator gave at registration. ``sign_count`` is the authenticator's
    counter as last seen: a later use must raise it (a cloned authenticator would not)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(  # in the pages' URLs; never the credential id
        String(40), unique=True, default=lambda: new_public_id("pk")
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # base64url, as the browser sends it (WebAuthn allows up to 1023 bytes: 1364 characters)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)  # an unsigned 32-bit counter
    name: Mapped[str] = mapped_column(String(60))
    device_type: Mapped[str] = mapped_column(String(16), default=SINGLE_DEVICE)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    aaguid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def amr(self) -> str:
        """RFC 8176: proof of possession of a hardware-secured key, or of a software-secured one
        (a passkey that is synced between devices leaves the hardware that made it)."""
        return "swk" if self.device_type == MULTI_DEVICE else "hwk"
