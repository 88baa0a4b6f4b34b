"""The admin API's request and answer shapes (pydantic v2): they check the requests and, through
``spec.document``, are the OpenAPI document's schemas. Bounds follow the services' (the services
still say what is wrong with a value that fits the shape: a taken name, an unknown store)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from idp.defaults import (
    API_MAX_PAGE_SIZE,
    API_PAGE_SIZE,
    MAX_BATCH,
    MAX_INQUIRY_WEIGHT,
    MAX_NICKNAME,
    MAX_NOTES,
)
from idp.services import routing

Text = Annotated[str, Field(max_length=300)]
Ident = Annotated[str, Field(min_length=1, max_length=120)]
StoreIdent = Annotated[str, Field(min_length=1, max_length=200)]
RoleRef = Annotated[int, Field(ge=0, le=2147483647)] | Annotated[str, Field(max_length=60)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class Body(BaseModel):
    """A request body: unknown fields are refused, not ignored (a typo must not pass)."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Page(Query):
    cursor: str | None = Field(
        None, max_length=200, description="next_cursor of the previous page; none for the first"
    )
    limit: int = Field(API_PAGE_SIZE, ge=1, le=API_MAX_PAGE_SIZE, description="Items per page")


# --- staff ----------------------------------------------------------------------------------


class Staff(BaseModel):
    id: str
    name: str
    login_name: str
    nickname: str | None
    email: str | None
    phone: str | None
    gender: str | None
    notes: str | None
    status: Literal["active", "departed", "pending"]
    departed_at: datetime | None
    must_change_password: bool
    second_factor: bool
    muted: bool
    roles: list[str]
    stores: list[str]
    default_store: str | None


class StaffList(BaseModel):
    items: list[Staff]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null at the end")


class StaffQuery(Page):
    status: Literal["active", "departed", "all"] = "all"
    search: str | None = Field(
        None, max_length=100, description="Part of a name, email or nickname"
    )
    role: int | None = Field(None, ge=0, le=2147483647, description="A role's id")
    store: str | None = Field(None, max_length=200, description="A store's id")
    group: int | None = Field(None, ge=0, le=2147483647, description="A staff group's id")
    muted: bool | None = None
    second_factor: bool | None = None


class StaffCreate(Body):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    password: Password | None = Field(
        None, description="None: one is generated and returned once in the answer"
    )
    email: Annotated[str, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    nickname: Annotated[str, Field(max_length=MAX_NICKNAME)] | None = None
    notes: Annotated[str, Field(max_length=MAX_NOTES)] | None = None
    roles: list[RoleRef] = Field(default_factory=list, max_length=100)
    stores: list[StoreIdent] = Field(
        default_factory=list, max_length=200, description="The first is the default store (R9)"
    )
    must_change_password: bool = True


class StaffEdit(Body):
    """Only the fields sent are changed (R18)."""

    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    nickname: Annotated[str, Field(max_length=MAX_NICKNAME)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    notes: Annotated[str, Field(max_length=MAX_NOTES)] | None = None
    gender: Annotated[str, Field(max_length=16)] | None = None
    roles: list[RoleRef] | None = Field(None, max_length=100)
    stores: list[StoreIdent] | None = Field(None, min_length=1, max_length=200)
    default_store: StoreIdent | None = None


class HandOver(Body):
    password: Password | None = Field(None, description="None: one is generated")
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    nickname: Annotated[str, Field(max_length=MAX_NICKNAME)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None


class PasswordReset(Body):
    password: Password | None = Field(None, description="None: one is generated")


class StaffWithPassword(BaseModel):
    staff: Staff
    password: str | None = Field(
        description="Shown once; null in a replayed answer (Idempotency-Key)"
    )


class SessionsEnded(BaseModel):
    staff: Staff
    sessions_ended: int


class Assignment(Body):
    """R11: for many staff at once, add, remove or reset to exactly these stores."""

    accounts: list[Ident] = Field(min_length=1, max_length=MAX_BATCH)
    stores: list[StoreIdent] = Field(min_length=1, max_length=200)
    mode: Literal["add", "remove", "reset"]


class AssignmentDone(BaseModel):
    staff: list[Staff]


# --- stores ---------------------------------------------------------------------------------


class StoreOut(BaseModel):
    id: str
    marketplace: str
    external_id: str
    name: str
    status: Literal["authorized", "deauthorized"]
    authorized_at: datetime
    deauthorized_at: datetime | None
    operation_mode: Literal["by_store", "by_product"]
    operators: list[str] = Field(description="Login names (R12)")
    holders: int = Field(description="Sub-accounts holding it, departed ones included")


class StoreList(BaseModel):
    items: list[StoreOut]


class StoreQuery(Query):
    include_deauthorized: bool = False


class StoreAuthorize(Body):
    marketplace: Annotated[str, Field(min_length=1, max_length=40)]
    external_id: Annotated[str, Field(min_length=1, max_length=80)]
    name: Annotated[str, Field(min_length=1, max_length=120)]


class DeauthorizationStep(BaseModel):
    account: str = Field(description="Login name")
    default_before: str | None
    default_after: str | None
    disabled: bool


class Deauthorization(BaseModel):
    store: StoreOut
    plan: list[DeauthorizationStep]


class Operators(Body):
    mode: Literal["by_store", "by_product"]
    operators: list[Ident] = Field(default_factory=list, max_length=MAX_BATCH)


# --- roles and groups -----------------------------------------------------------------------


class RoleOut(BaseModel):
    id: int
    name: str
    description: str | None
    permissions: list[str]
    builtin: bool
    holders: int


class RoleList(BaseModel):
    items: list[RoleOut]


class RoleCreate(Body):
    name: Annotated[str, Field(min_length=1, max_length=60)]
    permissions: list[Annotated[str, Field(max_length=80)]] = Field(max_length=100)
    description: Annotated[str, Field(max_length=255)] | None = None


class RoleEdit(Body):
    name: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    permissions: list[Annotated[str, Field(max_length=80)]] | None = Field(None, max_length=100)
    description: Annotated[str, Field(max_length=255)] | None = None


class GroupOut(BaseModel):
    id: int
    name: str
    store: str
    members: list[str] = Field(description="Login names")


class GroupList(BaseModel):
    items: list[GroupOut]


class GroupQuery(Query):
    store: str | None = Field(None, max_length=200, description="Only this store's groups")


class GroupCreate(Body):
    store: StoreIdent
    name: Annotated[str, Field(min_length=1, max_length=60)]


class GroupRename(Body):
    name: Annotated[str, Field(min_length=1, max_length=60)]


class Member(Body):
    account: Ident


# --- the audit log --------------------------------------------------------------------------


class AuditEntry(BaseModel):
    id: int
    time: datetime
    actor: str
    action: str
    what: str = Field(description="The kind of entry, in English")
    target_type: str | None
    target_id: str | None
    target_name: str | None
    details: dict
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


class AuditQuery(Query):
    cursor: str | None = Field(None, max_length=12, description="next_cursor of the previous page")
    limit: int = Field(API_PAGE_SIZE, ge=1, le=API_MAX_PAGE_SIZE)
    actor: str | None = Field(None, max_length=160, description="A login name, or cli: / api:")
    target: str | None = Field(None, max_length=160, description="An id, login or store name")
    action: str | None = Field(None, max_length=60, description="One kind (subaccount.created)")
    since: datetime | None = Field(None, description="From this moment (inclusive)")
    until: datetime | None = Field(None, description="Before this moment")


# --- the company ----------------------------------------------------------------------------


class CompanyOut(BaseModel):
    id: str
    name: str
    require_second_factor: bool
    language: str
    timezone: str | None
    sub_accounts_used: int
    sub_account_limit: int
    departed: int
    staff_without_second_factor: int
    wallet_password_set: bool


class SecondFactorPolicy(Body):
    required: bool


class Preferences(Body):
    language: Annotated[str, Field(min_length=1, max_length=20)]
    timezone: Annotated[str, Field(max_length=64)] = Field("", description="Empty: the language's")


class WalletPassword(Body):
    current_password: Password
    totp_code: Annotated[str, Field(max_length=64)] | None = None
    new_password: Password


class WalletDone(BaseModel):
    status: Literal["set", "changed"]
    wallet_password_set_at: datetime


# --- notification routing (R25) -------------------------------------------------------------

EventKind = Literal[routing.KINDS]  # the one list of kinds, in the service
RecipientChoice = Literal[routing.RECIPIENTS]


class RouteOut(BaseModel):
    kind: EventKind
    recipient: RecipientChoice
    accounts: list[str] = Field(description="Login names, when recipient is accounts")
    group: int | None = Field(description="The staff group's id, when recipient is group")
    default: bool = Field(description="true while the kind has R25's default recipient")


class RoutingTable(BaseModel):
    items: list[RouteOut]


class RouteIn(Body):
    recipient: RecipientChoice
    accounts: list[Ident] | None = Field(
        None, max_length=20, description="Sub-accounts (id or name), when recipient is accounts"
    )
    group: int | None = Field(None, ge=0, le=2147483647, description="A staff group's id")


class RoutingEdit(Body):
    """Only the kinds sent change; the others keep their recipients."""

    routes: dict[EventKind, RouteIn] = Field(min_length=1)


# --- inquiries (R24, issue 18) --------------------------------------------------------------


class StoreInquiries(BaseModel):
    store: str
    allocation: bool = Field(description="Whether the store's inquiries are allocated to staff")
    group: int | None = Field(description="The target staff group's id (R23); null: every holder")
    group_name: str | None


class StoreInquiriesEdit(Body):
    allocation: bool
    group: Annotated[int, Field(ge=0, le=2147483647)] | None = None


class StaffInquiries(BaseModel):
    staff: str
    receives: bool = Field(description="Whether inquiries are allocated to this member")
    weight: int = Field(description="Its share: twice the weight, twice the inquiries")
    manager: str | None = Field(description="The id of the sub-account it reports to")
    team: list[str] = Field(description="The ids of the sub-accounts reporting to it")


class StaffInquiriesEdit(Body):
    receives: bool | None = None
    weight: Annotated[int, Field(ge=1, le=MAX_INQUIRY_WEIGHT)] | None = None
    manager: Ident | None = Field(None, description="A sub-account's id or name; null: nobody")
