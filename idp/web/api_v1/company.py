"""The company's settings (R19, language and time zone), its audit log, and the wallet password
(R15: the owner's own token only)."""

from __future__ import annotations

from datetime import UTC, datetime

from idp.errors import MalformedRequest
from idp.i18n import english
from idp.models import Company
from idp.services import audit, companies, totp, wallet
from idp.web.api_v1 import models as m
from idp.web.api_v1 import registry
from idp.web.api_v1.access import Caller
from idp.web.api_v1.spec import Answer


def _company(caller: Caller) -> Answer:
    actor = caller.actor
    company: Company = actor.company
    quota = companies.quota(actor)
    return Answer(
        m.CompanyOut(
            id=company.public_id,
            name=company.name,
            require_second_factor=company.require_totp,
            language=company.language,
            timezone=company.timezone,
            sub_accounts_used=quota.used,
            sub_account_limit=quota.limit,
            departed=quota.departed,
            staff_without_second_factor=companies.staff_without_second_factor(actor),
            wallet_password_set=company.wallet_password_hash is not None,
        ),
        etag=companies.settings_version(company),
    )


@registry.route(
    "GET",
    "/company",
    summary="Get the company's settings",
    tag="company",
    answer=m.CompanyOut,
    etag=True,
)
def get_company(caller: Caller) -> Answer:
    """Two-step verification for staff (R19), language and time zone, and the plan's quota (R2:
    the operators change the limit)."""
    return _company(caller)


@registry.route(
    "PUT",
    "/company/second-factor",
    summary="Require two-step verification (R19)",
    tag="company",
    body=m.SecondFactorPolicy,
    answer=m.CompanyOut,
    etag=True,
    if_match=True,
)
def require_second_factor(caller: Caller, body: m.SecondFactorPolicy, expected: str | None):
    """On: staff without a second factor enrol at their next sign-in."""
    totp.set_required_for_staff(caller.actor, body.required, expected_version=expected)
    return _company(caller)


@registry.route(
    "PUT",
    "/company/preferences",
    summary="Set the company's language and zone",
    tag="company",
    body=m.Preferences,
    answer=m.CompanyOut,
    etag=True,
    if_match=True,
)
def set_preferences(caller: Caller, body: m.Preferences, expected: str | None) -> Answer:
    """The language of staff who chose none, and an IANA time zone (empty: the language's)."""
    companies.set_company_preferences(
        caller.actor, language=body.language, timezone=body.timezone, expected_version=expected
    )
    return _company(caller)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@registry.route(
    "GET",
    "/audit",
    summary="Read the audit log",
    tag="audit",
    query=m.AuditQuery,
    answer=m.AuditPage,
)
def audit_log(caller: Caller, query: m.AuditQuery) -> Answer:
    """Newest first, a page at a time (follow ``next_cursor``), with the console's filters:
    actor, target, kind (``action``) and a time range."""
    before = audit.cursor(query.cursor)
    if query.cursor and before is None:
        raise MalformedRequest("The cursor is not one this API gave", field="cursor")
    filters = audit.LogFilters(
        actor=query.actor or "",
        target=query.target or "",
        action=query.action or "",
        since=_utc(query.since),
        until=_utc(query.until),
    )
    page = audit.search(caller.actor, filters, before=before, limit=query.limit)
    items = [
        m.AuditEntry(
            id=e.id,
            time=e.created_at,
            actor=e.actor,
            action=e.action,
            what=english(audit.ACTION_LABELS.get(e.action, e.action)),
            target_type=e.target_type,
            target_id=e.target_id,
            target_name=page.names.get(e.target_id) if e.target_id else None,
            details=e.details if isinstance(e.details, dict) else {},
            request_id=e.request_id,
        )
        for e in page.entries
    ]
    return Answer(m.AuditPage(items=items, next_cursor=str(page.older) if page.older else None))


@registry.route(
    "POST",
    "/wallet/password",
    summary="Set or change the wallet password (R15)",
    tag="wallet",
    body=m.WalletPassword,
    answer=m.WalletDone,
    owner_token=True,
)
def wallet_password(caller: Caller, body: m.WalletPassword) -> Answer:
    """R15: the owner's own token only (never a company API client's), with the owner's login
    password again and, when it has a second factor, an authenticator or recovery code
    (``totp_code``; a passkey answers on the console's page). It must differ from the login
    password."""
    first = caller.actor.company.wallet_password_hash is None
    company = wallet.set_wallet_password(
        caller.actor,
        current_password=body.current_password,
        totp_code=body.totp_code,
        new_password=body.new_password,
    )
    return Answer(
        m.WalletDone(
            status="set" if first else "changed",
            wallet_password_set_at=company.wallet_password_set_at,
        )
    )
