"""All models, imported here so that Alembic and the app see one metadata."""

from idp.models.accounts import Account, Role, StoreAssignment, account_roles
from idp.models.audit import AuditEvent
from idp.models.avatars import Avatar, AvatarImage
from idp.models.companies import Company, Marketplace, Store, StoreOperator
from idp.models.groups import StaffGroup, group_members
from idp.models.notifications import NotificationEvent, NotificationRoute
from idp.models.oauth import (
    AuthorizationCode,
    Client,
    Consent,
    IssuedToken,
    LogoutDelivery,
    OutboxMessage,
    RecoveryCode,
    SessionClient,
    SigningKey,
    SsoSession,
    VerificationCode,
)
from idp.models.passkeys import Passkey
from idp.models.scim import ScimProfile

__all__ = [
    "Account",
    "AuthorizationCode",
    "Client",
    "Consent",
    "IssuedToken",
    "LogoutDelivery",
    "NotificationEvent",
    "NotificationRoute",
    "OutboxMessage",
    "Passkey",
    "RecoveryCode",
    "ScimProfile",
    "SessionClient",
    "SigningKey",
    "SsoSession",
    "VerificationCode",
    "AuditEvent",
    "Avatar",
    "AvatarImage",
    "Company",
    "Marketplace",
    "Role",
    "StaffGroup",
    "Store",
    "StoreAssignment",
    "StoreOperator",
    "account_roles",
    "group_members",
]
