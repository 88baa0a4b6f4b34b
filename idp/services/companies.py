"""Companies and their main accounts."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from idp import i18n
from idp.defaults import PLAN_LIMITS
from idp.errors import Conflict, InvalidInput, NotFound
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, Company, Role
from idp.models.accounts import ACTIVE, DEPARTED, MAIN, MAIN_NAME_KEY, SUB
from idp.services import audit, passwords, versions
from idp.services.accounts import ensure_contact_free
from idp.services.authz import require_owner
from idp.services.names import normalize, normalize_email, normalize_phone, validate_company_name
from idp.services.permissions import TEMPLATES
from idp.services.tx import transaction


def company_by_name(name: str) -> Company:
    company = db.session.query(Company).filter_by(name_key=normalize(name.strip())).one_or_none()
    if company is None:
        raise NotFound(_l("No company named '%(name)s'", name=name))
    return company


def is_company_name_available(name: str) -> bool:
    validate_company_name(name)
    return db.session.query(Company.id).filter_by(name_key=normalize(name)).first() is None


def build_company(
    name: str,
    *,
    email: str,
    password: str,
    phone: str | None = None,
    nickname: str | None = None,
    sub_account_limit: int | None = None,
    status: str = ACTIVE,
) -> Account:
    """Create a company, its main account and its built-in roles in the caller's transaction
    (``create_company`` commits). Returns the main account.
    The sub-account limit defaults to ``IDP_DEFAULT_SUB_ACCOUNT_LIMIT`` (99, R2)."""
    if sub_account_limit is None:
        sub_account_limit = current_app.extensions["idp.settings"].default_sub_account_limit
    validate_company_name(name)
    passwords.check_policy(password)
    email_display, email_key = normalize_email(email)
    if email_key is None:
        raise InvalidInput(_l("The main account needs an email address"), field="email")
    phone_display, phone_key = normalize_phone(phone)
    _check_limit(sub_account_limit)
    if not is_company_name_available(name):
        raise Conflict(_l("The company name '%(name)s' is taken", name=name), field="company_name")
    ensure_contact_free(email_key, phone_key)
    company = Company(name=name, name_key=normalize(name), sub_account_limit=sub_account_limit)
    main = Account(
        company=company,
        kind=MAIN,
        name=name,
        name_key=MAIN_NAME_KEY,
        nickname=nickname,
        email=email_display,
        email_key=email_key,
        phone=phone_display,
        phone_key=phone_key,
        password_hash=passwords.hash_password(password),
        status=status,
    )
    db.session.add_all([company, main])
    db.session.flush()
    for template, (role_name, description, perms) in TEMPLATES.items():
        db.session.add(
            Role(
                company_id=company.id,
                name=role_name,
                name_key=normalize(role_name),
                description=description,
                template=template,
                permissions=list(perms),
            )
        )
    audit.record(None, "company.created", company_id=company.id, target=company, name=name)
    return main


def _check_limit(limit: int) -> int:
    if not isinstance(limit, int) or not 0 <= limit <= 10_000:
        raise InvalidInput(_l("The sub-account limit is a whole number from 0 to 10000"))
    return limit


# The committing form, for callers whose whole change this is (the CLI, the demo).
create_company = transaction(build_company)


@transaction
def set_sub_account_limit(company: Company, limit: int) -> Company:
    """R2: the plan's limit, set per company by the operator (5 basic, 99 standard)."""
    _check_limit(limit)
    before = company.sub_account_limit
    company.sub_account_limit = limit
    audit.record(
        None,
        "company.limit_changed",
        company_id=company.id,
        target=company,
        before=before,
        after=limit,
    )
    return company


# --- the owner console's company page (issue 15) ----------------------------------------------


@dataclass(frozen=True)
class Quota:
    """R2 as the owner sees it: ``used`` counts every sub-account ever created, departed ones
    (``departed``) included; ``plan`` is the PLAN_LIMITS name of the limit, None for a limit of
    its own."""

    used: int
    limit: int
    departed: int
    plan: str | None

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)


def quota(actor: Account) -> Quota:
    require_owner(actor)
    company = actor.company
    departed = db.session.scalar(
        select(func.count(Account.id)).where(
            Account.company_id == company.id, Account.kind == SUB, Account.status == DEPARTED
        )
    )
    plan = next((n for n, limit in PLAN_LIMITS.items() if limit == company.sub_account_limit), None)
    return Quota(company.sub_account_count, company.sub_account_limit, departed or 0, plan)


def staff_without_second_factor(actor: Account) -> int:
    """Enabled staff with no second factor: those a company requiring one (R19) sends to enrol
    at their next sign-in."""
    from idp.services.second_factors import has_any_clause

    require_owner(actor)
    return db.session.scalar(
        select(func.count(Account.id)).where(
            Account.company_id == actor.company_id,
            Account.kind == SUB,
            Account.status == ACTIVE,
            ~has_any_clause(),  # neither an authenticator app nor a passkey
        )
    )


def settings_version(company: Company) -> str:
    """The version of the settings the owner edits (R19's requirement, language, time zone):
    the admin API's ``ETag`` of the company's settings (``versions``)."""
    return versions.fingerprint(
        {
            "require_totp": company.require_totp,
            "language": company.language,
            "timezone": company.timezone,
        }
    )


def check_settings_version(company: Company, expected: str | None) -> None:
    versions.check(
        company,
        expected,
        settings_version,
        _l(
            "The company's settings were changed by someone else since you read them; "
            "make your change again."
        ),
    )


@transaction
def set_company_preferences(
    actor: Account, *, language: str, timezone: str, expected_version: str | None = None
) -> Company:
    """The company's language (the emails of staff who chose none, and the default zone: UTC+8
    for Chinese) and time zone (an IANA zone, or empty for the language's default). Checked as
    an account's own preferences are; audited with before and after when something changed.
    ``expected_version``: ``settings_version`` as the caller read it."""
    require_owner(actor)
    check_settings_version(actor.company, expected_version)
    locale = i18n.match(language) if language else None
    if locale is None:
        raise InvalidInput(_l("Choose one of the languages offered"), field="language")
    zone = (timezone or "").strip()
    if zone and zone not in i18n.zones():
        raise InvalidInput(
            _l("'%(zone)s' is not a time zone (for example Asia/Shanghai)", zone=zone[:60]),
            field="timezone",
        )
    company = actor.company
    before = {"language": company.language, "timezone": company.timezone}
    company.language, company.timezone = locale, zone or None
    after = {"language": company.language, "timezone": company.timezone}
    if after != before:
        audit.record(
            actor,
            "company.preferences_changed",
            company_id=company.id,
            target=company,
            before=before,
            after=after,
        )
    return company
