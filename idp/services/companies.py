"""Companies and their main accounts."""

from __future__ import annotations

from flask import current_app

from idp.errors import Conflict, InvalidInput, NotFound
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, Company, Role
from idp.models.accounts import ACTIVE, MAIN, MAIN_NAME_KEY
from idp.services import audit, passwords
from idp.services.accounts import ensure_contact_free
from idp.services.names import normalize, normalize_email, normalize_phone, validate_company_name
from idp.services.permissions import TEMPLATES
from idp.services.tx import transaction

PLAN_LIMITS = {"standard": 99, "basic": 5}


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
