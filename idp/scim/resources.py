"""The SCIM resources this provider serves (RFC 7643), with the attributes it keeps and no
other: what ``/Schemas`` publishes is what a client can write and read back.

- ``User`` is a sub-account: ``userName`` its sub-name (the login name is ``company:userName``),
  ``displayName`` its nickname, ``emails``/``phoneNumbers`` its one email and one phone (R3),
  ``active`` enabled or departed (R4, R5), ``password`` write-only (R4: a new password hands the
  account over), ``groups`` its staff groups (read only, R23). The enterprise extension keeps
  ``employeeNumber`` and ``department``; the seller extension ``roles``, ``stores``,
  ``defaultStore`` (R9) and ``mustChangePassword`` (R16's policy).
- ``Group`` is a staff group of one store (R23); the seller group extension names the store.
  Tokens carry it as ``<store id>/<displayName>``."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import AfterValidator
from scim2_models import (
    AnyExtension,
    CaseExact,
    ComplexAttribute,
    Email,
    Extension,
    GroupMember,
    GroupMembership,
    Manager,
    Mutability,
    PhoneNumber,
    Required,
    Resource,
    Returned,
    Uniqueness,
)
from scim2_models.urn import URN

from idp.services.names import is_email

SELLER_USER = "urn:seller-idp:params:scim:schemas:extension:seller:2.0:User"
SELLER_GROUP = "urn:seller-idp:params:scim:schemas:extension:seller:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class StaffName(ComplexAttribute):
    """The parts of the name kept (no middle name, no honorifics)."""

    formatted: str | None = None
    family_name: str | None = None
    given_name: str | None = None


def _email(value: str) -> str:
    if not is_email(value):
        raise ValueError("value is not an email address")
    return value


# The services' rule (``idp.services.names``), not email-validator's: that one refuses reserved
# domains such as ``.local`` that companies use and the rest of the service accepts, so one such
# address would fail the whole listing.
EmailAddress = Annotated[str, AfterValidator(_email)]


class StaffEmail(ComplexAttribute):
    """A sub-account has one email (R3); its type is kept, a ``display`` is not."""

    value: EmailAddress | None = None
    type: Email.Type | None = None
    primary: bool | None = None


class StaffPhone(ComplexAttribute):
    """A sub-account has one phone (R3); its type is kept, a ``display`` is not."""

    value: str | None = None
    type: PhoneNumber.Type | None = None
    primary: bool | None = None


class Enterprise(Extension):
    """RFC 7643 4.3, the parts kept. ``manager`` is whom the sub-account reports to (issue 18's
    team, ``Account.manager_id``): another sub-account of the company, by its SCIM id."""

    __schema__ = URN(ENTERPRISE_USER)

    employee_number: str | None = None
    department: str | None = None
    manager: Manager | None = None


class Seller(Extension):
    """What a sub-account holds here: roles by name, stores by id (``st_…``), the default
    store (one of them, R9), and whether a new password must be chosen at next sign-in."""

    __schema__ = URN(SELLER_USER)

    roles: list[str] | None = None
    stores: list[str] | None = None
    default_store: str | None = None
    must_change_password: bool | None = None


class StaffUserResource(Resource[AnyExtension]):
    """The bare User resource; ``StaffUser`` binds the extensions."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    name: StaffName | None = None
    Name: ClassVar[type] = StaffName
    display_name: str | None = None
    active: bool | None = None
    password: Annotated[str | None, Mutability.write_only, Returned.never, CaseExact.true] = None
    emails: list[StaffEmail] | None = None
    Emails: ClassVar[type] = StaffEmail
    phone_numbers: list[StaffPhone] | None = None
    PhoneNumbers: ClassVar[type] = StaffPhone
    groups: Annotated[list[GroupMembership] | None, Mutability.read_only] = None


class SellerGroup(Extension):
    """The store the staff group belongs to (its ``st_…`` id). Set when the group is made: from
    a ``displayName`` of the form ``<store>/<name>`` (``st_…`` or ``marketplace/store-id``),
    else the company's only authorized store."""

    __schema__ = URN(SELLER_GROUP)

    store: Annotated[str | None, Mutability.read_only] = None


class StaffGroupResource(Resource[AnyExtension]):
    """The bare Group resource; ``StaffGroup`` binds the seller group extension."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")

    display_name: Annotated[str | None, Required.true] = None
    members: list[GroupMember] | None = None


StaffUser = StaffUserResource[Union[Enterprise, Seller]]  # noqa: UP007 (scim2-models reads Union)
StaffGroup = StaffGroupResource[SellerGroup]

RESOURCES: tuple[type[Resource[Any]], ...] = (StaffUser, StaffGroup)
