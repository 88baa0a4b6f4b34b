"""What a SCIM write does (issue 19): each one runs through the console's own services
(``accounts``, ``groups``), so every change is one audit entry of its own, with the SCIM client
as the actor (``audit.bind_api_caller``), and all the changes of one request are one
transaction (``tx.atomic``): a request that fails half-way changes nothing.

The company's main account is never a SCIM user: only sub-accounts are listed, found and
written. Sub-accounts are never deleted (R4): ``DELETE`` disables."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from idp.defaults import MAX_ROW_ID
from idp.errors import InvalidInput, NotFound
from idp.extensions import db
from idp.i18n import _l
from idp.models import Account, ScimProfile, StaffGroup, Store
from idp.models.accounts import ACTIVE, DEPARTED, SUB
from idp.scim.resources import Enterprise, Seller, StaffUser
from idp.services import accounts, audit, groups, inquiries, stores, versions
from idp.services.authz import require_owner
from idp.services.tx import atomic

NO_USER = _l("No such user in your company")
NO_GROUP = _l("No such group in your company")
GROUP_CHANGED = _l("The group was changed since you read it")
PROFILE_FIELDS = (
    "external_id",
    "given_name",
    "family_name",
    "formatted_name",
    "employee_number",
    "department",
    "email_type",
    "phone_type",
    "email_primary",
    "phone_primary",
)


# --- finding --------------------------------------------------------------------------------


def staff(actor: Account) -> list[Account]:
    """Every sub-account of the actor's company, departed ones too (R4), oldest first."""
    require_owner(actor)
    return list(
        db.session.scalars(
            select(Account)
            .where(Account.company_id == actor.company_id, Account.kind == SUB)
            .order_by(Account.id)
        )
    )


def get_user(actor: Account, ident: str) -> Account:
    """A sub-account of the actor's company by its id (``acct_…``); anything else, another
    company's account or the main account included, is not found."""
    require_owner(actor)
    account = db.session.scalars(
        select(Account).where(
            Account.public_id == str(ident)[:64],
            Account.company_id == actor.company_id,
            Account.kind == SUB,
        )
    ).one_or_none()
    if account is None:
        raise NotFound(NO_USER)
    return account


def profile_of(account: Account) -> ScimProfile | None:
    return db.session.get(ScimProfile, account.id)


def version_of(account: Account) -> str:
    """The SCIM version (``ETag``): what the console edits (``accounts.edit_version``), what
    SCIM keeps beside it, and the groups. A console edit changes it, so a SCIM write made
    against the version it read before is refused (412), and the other way round."""
    profile = profile_of(account)
    return versions.fingerprint(
        {
            "account": accounts.edit_version(account),
            "profile": {f: getattr(profile, f) for f in PROFILE_FIELDS} if profile else None,
            "must_change": account.must_change_password,
            "groups": sorted(g.id for g in groups.groups_of(account)),
        }
    )


def version_of_group(group: StaffGroup) -> str:
    """The group's ``ETag``: the console's version (name, members) and the HR system's id."""
    return versions.fingerprint({"group": groups.edit_version(group), "ext": group.external_id})


def get_group(actor: Account, ident: str) -> StaffGroup:
    require_owner(actor)
    text = str(ident)
    digits = text[4:]  # ASCII digits only ("²" is a digit to str.isdigit), a row id's size
    if (
        not text.startswith("grp_")
        or not (digits.isascii() and digits.isdigit())
        or len(digits) > 10
        or not 0 < int(digits) <= MAX_ROW_ID
    ):
        raise NotFound(NO_GROUP)
    group = db.session.get(StaffGroup, int(text[4:]))
    if group is None or group.company_id != actor.company_id:
        raise NotFound(NO_GROUP)
    return group


def group_id(group: StaffGroup) -> str:
    return f"grp_{group.id}"


def list_groups(actor: Account) -> list[StaffGroup]:
    return groups.list_groups(actor)


# --- users ----------------------------------------------------------------------------------


def _chosen(values):
    """The primary item of a multi-valued attribute, else the first (we keep one)."""
    if not values:
        return None
    return next((v for v in values if v.primary), values[0])


def _first(values) -> str | None:
    chosen = _chosen(values)
    return str(chosen.value) if chosen is not None and chosen.value is not None else None


def _primary(values) -> bool | None:
    chosen = _chosen(values)
    return chosen.primary if chosen is not None and chosen.value is not None else None


def _type(values) -> str | None:
    chosen = _chosen(values)
    return str(chosen.type) if chosen is not None and chosen.type is not None else None


def _user_fields(user: StaffUser) -> dict:
    name = user.name
    enterprise = user[Enterprise]
    return {
        "external_id": user.external_id,
        "given_name": name.given_name if name else None,
        "family_name": name.family_name if name else None,
        "formatted_name": name.formatted if name else None,
        "employee_number": enterprise.employee_number if enterprise else None,
        "department": enterprise.department if enterprise else None,
        "email_type": _type(user.emails) if _first(user.emails) else None,
        "phone_type": _type(user.phone_numbers) if _first(user.phone_numbers) else None,
        "email_primary": _primary(user.emails),
        "phone_primary": _primary(user.phone_numbers),
    }


def _check_profile(fields: dict) -> None:
    limits = {
        "external_id": 255,
        "given_name": 120,
        "family_name": 120,
        "formatted_name": 255,
        "employee_number": 64,
        "department": 120,
        "email_type": 16,
        "phone_type": 16,
    }
    for field, limit in limits.items():
        value = fields.get(field)
        if value is not None and len(value) > limit:
            raise InvalidInput(
                _l("%(field)s has at most %(num)d characters", field=field, num=limit),
                field=field,
            )


def _write_profile(actor: Account, account: Account, fields: dict) -> None:
    """What SCIM keeps beside the console's fields; one audit entry when anything changed."""
    _check_profile(fields)
    profile = profile_of(account)
    before = (
        {f: getattr(profile, f) for f in PROFILE_FIELDS}
        if profile
        else dict.fromkeys(PROFILE_FIELDS)
    )
    if before == fields:
        return
    if profile is None:
        profile = ScimProfile(account_id=account.id, company_id=account.company_id)
        db.session.add(profile)
    for field, value in fields.items():
        setattr(profile, field, value)
    audit.record(
        actor,
        "scim.profile_updated",
        company_id=actor.company_id,
        target=account,
        changes={k: {"before": before[k], "after": v} for k, v in fields.items() if before[k] != v},
    )


def _seller(user: StaffUser) -> Seller | None:
    return user[Seller]


def _manager(actor: Account, user: StaffUser) -> Account | None:
    """The enterprise extension's ``manager`` (issue 18's team): another sub-account of the
    company by its SCIM id, or None. An unknown id, another company's, the main account's is a
    clear 400 (the cycle and self checks are the team's own, ``inquiries.set_member_rules``)."""
    enterprise = user[Enterprise]
    value = enterprise.manager.value if enterprise and enterprise.manager else None
    if not value:
        return None
    try:
        return get_user(actor, str(value))
    except NotFound:
        raise InvalidInput(
            _l("manager: no staff member of your company has the id %(id)s", id=str(value)[:80]),
            field="manager",
        ) from None


def _write_manager(actor: Account, account: Account, user: StaffUser) -> None:
    manager = _manager(actor, user)
    if (manager.id if manager else None) != account.manager_id:
        inquiries.set_member_rules(actor, account, manager=manager)


def create_user(actor: Account, user: StaffUser) -> Account:
    """R2 (the plan's limit), R3 (unique email and phone), R8/R9 (stores). Without a password
    one is generated and never shown: the owner resets it, or the identity platform sends one."""
    seller = _seller(user)
    with atomic():
        account = accounts.create_sub_account(
            actor,
            name=user.user_name or "",
            password=user.password or accounts.generate_password() + secrets.token_hex(4),
            email=_first(user.emails),
            phone=_first(user.phone_numbers),
            nickname=user.display_name,
            roles=(seller.roles or []) if seller else [],
            stores=[stores.get_store(actor, s) for s in (seller.stores or [])] if seller else [],
            must_change_password=bool(seller and seller.must_change_password),
        )
        if seller and seller.default_store:
            accounts.update_sub_account(actor, account, default_store=seller.default_store)
        _write_profile(actor, account, _user_fields(user))
        _write_manager(actor, account, user)
        if user.active is False:
            accounts.disable_sub_account(actor, account, reason="scim")
    return account


def replace_user(
    actor: Account, account: Account, user: StaffUser, expected: str | None = None
) -> Account:
    """RFC 7644 3.5.1: the account becomes what ``user`` says. Each kind of change is the
    console's service call (an edit, disabling or enabling), all in one transaction; the version
    is checked first with the row locked, so a console edit in between is never overwritten."""
    seller = _seller(user)
    with atomic():
        versions.check(account, expected, version_of, _l("The user was changed since you read it"))
        changes: dict = {}
        if user.user_name is not None and user.user_name != account.name:
            changes["name"] = user.user_name
        for field, value in (
            ("nickname", user.display_name),
            ("email", _first(user.emails)),
            ("phone", _first(user.phone_numbers)),
        ):
            if (value or None) != getattr(account, field):
                changes[field] = value
        if user.password:
            changes["password"] = user.password
        store_ids = None
        default = None
        if seller is not None:
            if seller.roles is not None and sorted(seller.roles) != sorted(
                r.name for r in account.roles
            ):
                changes["roles"] = seller.roles
            if seller.stores is not None and seller.stores != [s.public_id for s in account.stores]:
                store_ids = seller.stores
            held = account.default_store.public_id if account.default_store else None
            if seller.default_store and seller.default_store != held:
                default = seller.default_store
            if (
                seller.must_change_password is not None
                and seller.must_change_password != account.must_change_password
                and "password" not in changes
            ):
                account.must_change_password = seller.must_change_password
                audit.record(
                    actor,
                    "subaccount.updated",
                    company_id=actor.company_id,
                    target=account,
                    changes={"must_change_password": seller.must_change_password},
                )
        if changes or store_ids is not None or default is not None:
            accounts.update_sub_account(
                actor, account, stores=store_ids, default_store=default, **changes
            )
        _write_profile(actor, account, _user_fields(user))
        _write_manager(actor, account, user)
        if user.active is False and account.status == ACTIVE:
            accounts.disable_sub_account(actor, account, reason="scim")
        elif user.active is True and account.status == DEPARTED:
            accounts.enable_sub_account(actor, account)
    return account


def deactivate(actor: Account, account: Account, expected: str | None = None) -> Account:
    """``DELETE``: R4, never deleted: departed, and (R5) its sessions and tokens end at once."""
    with atomic():
        versions.check(account, expected, version_of, _l("The user was changed since you read it"))
        if account.status == ACTIVE:
            accounts.disable_sub_account(actor, account, reason="scim")
    return account


# --- groups (R23) ---------------------------------------------------------------------------


def group_store(actor: Account, display_name: str) -> tuple[Store, str]:
    """The store a new group belongs to and its name: ``<store>/<name>`` names the store
    (``st_…`` or ``marketplace/store-id``: the form tokens carry, R23); a plain name is a group
    of the company's only authorized store, and a company with several must name it."""
    store_part, _, name = display_name.rpartition("/")
    if store_part:
        try:
            return stores.get_store(actor, store_part), name
        except NotFound:
            pass
    authorized = [s for s in actor.company.stores if s.is_authorized]
    if len(authorized) != 1:
        raise InvalidInput(
            _l(
                "A staff group belongs to one store: name it before the group's name, "
                "as in st_…/Pre-sale or shopee-sg/1001/Pre-sale"
            ),
            field="displayName",
        )
    return authorized[0], display_name


def _set_members(actor: Account, group: StaffGroup, member_ids: list[str]) -> None:
    """Exactly these members. A new member who does not hold the group's store is given it
    first (the console's edit, audited), as the owner would before adding them (R23)."""
    wanted = [get_user(actor, ident) for ident in dict.fromkeys(member_ids)]
    for account in list(group.members):
        if account not in wanted:
            groups.remove_member(actor, group, account)
    for account in wanted:
        if account in group.members:
            continue
        held = [s.public_id for s in account.stores]
        if group.store.public_id not in held:
            accounts.update_sub_account(actor, account, stores=[*held, group.store.public_id])
        groups.add_member(actor, group, account)


def _set_external_id(actor: Account, group: StaffGroup, external_id: str | None) -> None:
    if external_id == group.external_id:
        return
    if external_id is not None and len(external_id) > 255:
        raise InvalidInput(
            _l("%(field)s has at most %(num)d characters", field="externalId", num=255),
            field="externalId",
        )
    audit.record(
        actor,
        "group.external_id_set",
        company_id=actor.company_id,
        group=group.name,
        store=group.store.public_id,
        before=group.external_id,
        after=external_id,
    )
    group.external_id = external_id


def create_group(
    actor: Account, display_name: str, external_id: str | None, member_ids: list[str]
) -> StaffGroup:
    with atomic():
        store, name = group_store(actor, display_name or "")
        group = groups.create_group(actor, store, name)
        _set_external_id(actor, group, external_id)
        _set_members(actor, group, member_ids)
    return group


def replace_group(
    actor: Account,
    group: StaffGroup,
    name: str,
    external_id: str | None,
    member_ids: list[str],
    expected: str | None = None,
) -> StaffGroup:
    with atomic():
        versions.check(
            group, expected, version_of_group, _l("The group was changed since you read it")
        )
        store_part, _, plain = (name or "").rpartition("/")
        if store_part in (
            group.store.public_id,
            group.store.marketplace_code + "/" + group.store.external_id,
        ):
            name = plain  # the store is the group's own: its name alone
        if name and name != group.name:
            groups.rename_group(actor, group, name)
        _set_external_id(actor, group, external_id)
        _set_members(actor, group, member_ids)
    return group


def delete_group(actor: Account, group: StaffGroup, expected: str | None = None) -> None:
    with atomic():
        versions.check(
            group, expected, version_of_group, _l("The group was changed since you read it")
        )
        groups.delete_group(actor, group)
