"""Email subscriptions (R22, issue 17 section 4): which notification emails an account receives.

:data:`KINDS` is the one registry of every kind of email the provider sends: its group, its
label, who can receive it, and whether it is *always sent*. Security notices (a password changed
or reset, a new sign-in, a second factor added or removed, the email or mobile changed, the
wallet password changed or locked) and the messages a person asks for (an activation link, a
verification code) are always sent and carry no unsubscribe link; every other kind respects the
account's opt-outs (``Account.email_opt_out``, a list of kind ids, so a kind added later is
received until the person turns it off) and carries an RFC 8058 one-click unsubscribe link.

The link holds a token signed with the app's secret under its own salt, naming the account and
one kind or one group: it works without signing in, it cannot be turned into another kind of
link (an activation or password-reset link is signed under another salt), and using it twice
changes nothing more (unsubscribing is idempotent). It does not expire: an email read months later
must still be able to stop the next one (RFC 8058 section 3.1 expects the URI to keep working)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import LazyString
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select

from idp import i18n
from idp.defaults import MAX_LINK_TOKEN_LENGTH
from idp.errors import InvalidInput, LinkRefused
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account
from idp.services import audit
from idp.services.tx import transaction

# Who can receive a kind: the wallet and the emailed password-reset link are the main account's
# alone (R6, R15, R17); an owner's reset of a password reaches staff only.
ANYONE, MAIN_ONLY, SUB_ONLY = "anyone", "main", "sub"


@dataclass(frozen=True)
class Group:
    id: str
    label: LazyString
    lead: LazyString
    always_sent: bool = False


@dataclass(frozen=True)
class Kind:
    """One kind of email: ``id`` is the outbox's ``kind`` and the template's name."""

    id: str
    group: str
    label: LazyString
    audience: str = ANYONE

    @property
    def always_sent(self) -> bool:
        """Sent whatever the subscriptions say, without an unsubscribe link (R22)."""
        return GROUPS[self.group].always_sent

    def reaches(self, account: Account) -> bool:
        if self.audience == MAIN_ONLY:
            return account.is_main
        if self.audience == SUB_ONLY:
            return not account.is_main
        return True


SECURITY, REQUESTED = "security", "requested"
GROUPS: dict[str, Group] = {
    group.id: group
    for group in (
        Group(
            SECURITY,
            _l("Security notices"),
            _l(
                "Sent whenever something changes that could mean someone else is in your "
                "account. They cannot be turned off."
            ),
            always_sent=True,
        ),
        Group(
            REQUESTED,
            _l("Links and codes you ask for"),
            _l("Activation links and verification codes: sent only when you ask for them."),
            always_sent=True,
        ),
        Group(
            "account",
            _l("Your account"),
            _l("News about your own account."),
        ),
        Group(
            "listings",
            _l("Products and buyer requests"),
            _l("Listings returned for changes, buyer requests matched to you, quotations."),
        ),
        Group(
            "disputes",
            _l("Complaints and disputes"),
            _l("Fraud, trade and infringement complaints about your company's stores."),
        ),
    )
}

KINDS: dict[str, Kind] = {
    kind.id: kind
    for kind in (
        # security notices (R22)
        Kind("password_changed", SECURITY, _l("Your password was changed or reset")),
        Kind(
            "password_reset_by_owner",
            SECURITY,
            _l("The owner reset your password"),
            audience=SUB_ONLY,
        ),
        Kind(
            "password_reset_link",
            SECURITY,
            _l("A password-reset link you asked for"),
            audience=MAIN_ONLY,
        ),
        Kind("new_sign_in", SECURITY, _l("A sign-in from a new device")),
        Kind("second_factor_added", SECURITY, _l("A second factor was added")),
        Kind("second_factor_removed", SECURITY, _l("A second factor was removed")),
        Kind("contact_changed", SECURITY, _l("Your email address or mobile number was changed")),
        Kind(
            "wallet_changed",
            SECURITY,
            _l("The wallet password was set or changed"),
            audience=MAIN_ONLY,
        ),
        Kind(
            "wallet_locked",
            SECURITY,
            _l("The wallet was locked after wrong passwords"),
            audience=MAIN_ONLY,
        ),
        # what the person asked for
        Kind("activation", REQUESTED, _l("Account activation link"), audience=MAIN_ONLY),
        Kind("verification_code", REQUESTED, _l("Verification codes")),
        # notifications (R22: each can be turned off); R25's store events are emailed as
        # ``event_<kind>`` (idp/services/routing.py, NOTIFICATION_EMAIL_KINDS)
        Kind("avatar_reviewed", "account", _l("Your photo was approved or rejected")),
        Kind("event_listing_returned", "listings", _l("A listing was returned for changes")),
        Kind("event_rfq_matched", "listings", _l("You were matched to a buyer's request")),
        Kind("event_quotation_reviewed", "listings", _l("A quotation was approved or returned")),
        Kind("event_fraud_complaint", "disputes", _l("A fraud complaint")),
        Kind("event_trade_dispute", "disputes", _l("A trade dispute")),
        Kind("event_infringement_complaint", "disputes", _l("An infringement complaint")),
    )
}

# R22: the kinds sent whatever the account's subscriptions say.
ALWAYS_SENT = frozenset(kind.id for kind in KINDS.values() if kind.always_sent)
OPTIONAL = frozenset(KINDS) - ALWAYS_SENT


class UnknownKind(LookupError):
    """A kind of email missing from :data:`KINDS`: a programming error, refused loudly so that
    no email escapes the subscription rules."""


def kind(kind_id: str) -> Kind:
    try:
        return KINDS[kind_id]
    except KeyError:
        raise UnknownKind(
            f"unknown kind of email {kind_id!r}: register it in idp.services.subscriptions.KINDS"
        ) from None


def wants(account: Account | None, kind_id: str) -> bool:
    """Whether an email of this kind goes to the account (R22). Raises ``UnknownKind``."""
    if kind(kind_id).always_sent or account is None:
        return True
    return kind_id not in (account.email_opt_out or [])


# --- the account's page --------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    kind: Kind
    on: bool


@dataclass(frozen=True)
class Section:
    group: Group
    choices: list[Choice]


def sections_for(account: Account) -> list[Section]:
    """The groups and kinds the account can receive, in registry order; optional groups first
    (what the person can change), then what is always sent. A sub-account never sees the
    wallet's notices (R6)."""
    opted_out = set(account.email_opt_out or [])
    found: dict[str, list[Choice]] = {}
    for item in KINDS.values():
        if item.reaches(account):
            on = item.always_sent or item.id not in opted_out
            found.setdefault(item.group, []).append(Choice(item, on))
    ordered = sorted(GROUPS.values(), key=lambda g: g.always_sent)  # stable: registry order
    return [Section(group, found[group.id]) for group in ordered if group.id in found]


@transaction
def set_subscriptions(account: Account, wanted: Iterable[str]) -> bool:
    """Receive exactly the optional kinds in ``wanted`` (kind ids); security notices stay on
    whatever is asked. Refuses an id that is not an optional kind. Audited when something
    changed; returns whether it did."""
    wanted = set(wanted)
    _lock(account)  # a one-click at the same moment is kept
    unknown = wanted - OPTIONAL - ALWAYS_SENT
    if unknown:
        raise InvalidInput(_l("Choose among the emails listed on the page"), field="kind")
    reachable = {k for k in OPTIONAL if KINDS[k].reaches(account)}
    kept = set(account.email_opt_out or []) - reachable  # e.g. an owner's choice before a hand-over
    return _opt_out(account, kept | (reachable - wanted), via="page")


def _lock(account: Account) -> None:
    """Lock the account's row (PostgreSQL; SQLite writes one at a time anyway) and read its
    opt-outs anew. The row alone: FOR UPDATE cannot reach the outer joins an account loads."""
    db.session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    db.session.refresh(account, ["email_opt_out"])


def _opt_out(account: Account, opted_out: set[str], *, via: str, actor: Account | None = None):
    before = sorted(account.email_opt_out or [])
    after = sorted(opted_out - ALWAYS_SENT)
    if after == before:
        return False
    account.email_opt_out = after
    audit.record(
        actor or account,
        "account.subscriptions_changed",
        company_id=account.company_id,
        target=account,
        before=before,
        after=after,
        via=via,
    )
    return True


# --- RFC 8058 one-click unsubscribe ------------------------------------------------------------

SALT = "idp.unsubscribe"
INVALID_LINK = _l(
    "This unsubscribe link is not valid. It may have been cut short when it was copied: open it "
    "from the email again, or sign in and choose your emails under Email subscriptions."
)


ADDRESS_CHANGED = _l(
    "This unsubscribe link was sent to an email address the account no longer uses. Sign in and "
    "choose your emails under Email subscriptions."
)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _address(account: Account) -> str:
    """Which address a link was sent to, in the token: a link stops working once the account's
    email changes (R4's hand-over to a new holder, or the holder's own change), so a departed
    holder's old email cannot turn off the new holder's notices, nor show their address. Keyed
    (the token is signed, not encrypted: an unkeyed hash would let anyone who sees the link test
    a guessed address against it)."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    message = f"{SALT}:{account.email_key or ''}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def unsubscribe_token(account: Account, *, kind_id: str | None = None, group: str | None = None):
    """A token that stops one optional kind, or every kind of one optional group, for the
    account at its current email address. Deterministic (same account, address and scope,
    same token)."""
    if (kind_id is None) == (group is None):
        raise ValueError("name one kind or one group")
    if kind_id is not None:
        if kind(kind_id).always_sent:
            raise ValueError(f"{kind_id!r} is always sent: it has no unsubscribe link")
        return _serializer().dumps({"a": account.public_id, "k": kind_id, "e": _address(account)})
    if group not in GROUPS or GROUPS[group].always_sent:
        raise ValueError(f"{group!r} is not a group one can unsubscribe from")
    return _serializer().dumps({"a": account.public_id, "g": group, "e": _address(account)})


def unsubscribe_url(account: Account, kind_id: str) -> str:
    """The absolute one-click URL for an email of ``kind_id`` to the account; in its language,
    as the other emailed links are."""
    issuer = current_app.extensions["idp.settings"].issuer.rstrip("/")
    link = f"{issuer}/unsubscribe/{unsubscribe_token(account, kind_id=kind_id)}"
    if account.language and account.language != i18n.DEFAULT_LOCALE:
        link += f"?ui_locales={i18n.tag(account.language)}"
    return link


@dataclass(frozen=True)
class Unsubscription:
    """What a valid token stops: for the confirmation page and the one-click POST."""

    account: Account
    kinds: tuple[Kind, ...]
    label: Any  # the kind's or the group's label

    @property
    def done(self) -> bool:
        return all(k.id in (self.account.email_opt_out or []) for k in self.kinds)


def read_token(token: Any) -> Unsubscription:
    """What the token stops, or ``LinkRefused``: damaged, signed for another purpose, naming a
    kind that is always sent or an account that does not exist, or sent to an email address
    the account no longer has."""
    refused = LinkRefused(INVALID_LINK, purpose="unsubscribe", reason="invalid")
    if not isinstance(token, str) or not token or len(token) > MAX_LINK_TOKEN_LENGTH:
        raise refused
    try:
        data: Any = _serializer().loads(token)
    except BadData:
        raise refused from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("a"), str)
        or not isinstance(data.get("e"), str)
        or len(data) != 3
    ):
        raise refused
    if isinstance(data.get("k"), str) and data["k"] in OPTIONAL:
        kinds, label = (KINDS[data["k"]],), KINDS[data["k"]].label
    elif isinstance(data.get("g"), str) and data["g"] in GROUPS:
        group = GROUPS[data["g"]]
        kinds = tuple(k for k in KINDS.values() if k.group == group.id and not k.always_sent)
        if not kinds:
            raise refused
        label = group.label
    else:
        raise refused
    account = db.session.query(Account).filter_by(public_id=data["a"]).one_or_none()
    if account is None:
        raise refused
    if not hmac.compare_digest(data["e"], _address(account)):
        raise LinkRefused(ADDRESS_CHANGED, purpose="unsubscribe", reason="replaced")
    return Unsubscription(account, kinds, label)


@transaction
def unsubscribe(token: Any) -> Unsubscription:
    """RFC 8058: the one-click POST. Idempotent: a second use changes nothing and is not
    audited again."""
    found = read_token(token)
    account = found.account
    _lock(account)  # two clicks at once: one read-modify-write after the other
    wanted_off = set(account.email_opt_out or []) | {k.id for k in found.kinds}
    _opt_out(account, wanted_off, via="unsubscribe_link")
    return found


def masked_email(address: str | None) -> str:
    """``al…@example.test``: enough for the person to recognise the address, little for anyone
    else who holds the link."""
    if not address or "@" not in address:
        return ""
    local, _, domain = address.rpartition("@")
    return f"{local[:2]}…@{domain}"
