"""How the console names the permission catalogue (``idp.services.permissions``): each permission
in an area, derived from its prefix (``orders:ship`` is in "Orders and after-sales"), with a short
translated label. The catalogue's own English descriptions stay the stored data; the permission
strings themselves are what tokens carry and are never translated.

The main-only capabilities (R6) get labels too, to tell the owner what stays theirs, but they are
never offered in the picker (and ``roles.check_permissions`` refuses them anyway)."""

from __future__ import annotations

from dataclasses import dataclass

from idp.i18n import _l
from idp.services.permissions import MAIN_ONLY, PERMISSIONS, TEMPLATES

OTHER = "other"

# area key -> its label, in the order the picker shows them
AREAS = {
    "products": _l("Products and prices"),
    "orders": _l("Orders and after-sales"),
    "customers": _l("Customer service and inquiries"),
    "marketing": _l("Marketing and advertising"),
    "shop": _l("Shop decoration"),
    "finance": _l("Finance and reports"),
    OTHER: _l("Other"),
}

# permission prefix -> area key (a prefix not listed here lands in OTHER)
AREA_OF_PREFIX = {
    "products": "products",
    "prices": "products",
    "listings": "products",
    "orders": "orders",
    "refunds": "orders",
    "chat": "customers",
    "inquiries": "customers",
    "quotations": "customers",
    "marketing": "marketing",
    "ads": "marketing",
    "decoration": "shop",
    "finance": "finance",
    "reports": "finance",
}

LABELS = {
    "products:view": _l("See products"),
    "products:edit": _l("Edit products, product groups and the photo bank"),
    "products:list": _l("Put products on and off sale"),
    "prices:edit": _l("Change prices"),
    "listings:manage": _l("Manage listings and returned listings"),
    "orders:view": _l("See orders"),
    "orders:edit": _l("Change orders and addresses"),
    "orders:ship": _l("Ship orders and use logistics tools"),
    "refunds:handle": _l("Handle refunds and returns"),
    "chat:read": _l("Read customer chats"),
    "chat:send": _l("Send messages to customers"),
    "inquiries:own": _l("Handle their own inquiries and contacts"),
    "inquiries:team": _l("Handle their subordinates' inquiries and contacts"),
    "inquiries:all": _l("Handle every inquiry and contact of the company"),
    "quotations:submit": _l("Quote on buyer requests"),
    "marketing:manage": _l("Run promotions, bundles and vouchers"),
    "ads:manage": _l("Run advertising campaigns"),
    "decoration:edit": _l("Decorate the shop and its custom pages"),
    "finance:view": _l("See bills, statements and payouts"),
    "reports:view": _l("See performance reports"),
}

MAIN_ONLY_LABELS = {
    "subaccounts:manage": _l("Create and manage staff accounts"),
    "stores:authorize": _l("Authorize and de-authorize stores"),
    "stores:set_default": _l("Choose a staff member's default store"),
    "wallet:manage": _l("Set or change the wallet password"),
    "plans:purchase": _l("Buy plans"),
    "coupons:claim": _l("Claim coupons"),
    "consumer:signin": _l("Sign in to buyer apps"),
}

# The built-in roles' descriptions as seeded (their names: ``idp.web.display_names``; tokens
# carry the stored English names as they are)
TEMPLATE_DESCRIPTIONS = {
    "sales_assistant": _l(
        "Puts new products on display; manages products, product groups and the photo bank"
    ),
    "sales_representative": _l("Manages assigned products and own inquiries and contacts"),
    "sales_manager": _l("Manages their own and their subordinates' products and inquiries"),
    "customer_service": _l("Chats with buyers and handles refunds"),
    "operations": _l("Runs the store and its products"),
    "marketing": _l("Runs promotions, bundles and vouchers"),
    "logistics": _l("Manages orders, addresses and shipping"),
    "design": _l("Decorates the shop"),
    "finance": _l("Sees bills, statements and payouts"),
}


@dataclass(frozen=True)
class Area:
    key: str
    label: str
    permissions: list[tuple[str, str]]  # (permission, label)

    @property
    def options(self) -> list[tuple[str, str, str]]:
        """For ``ui.checkboxes``: the label, with the permission string apps see as its note."""
        return [(permission, label, permission) for permission, label in self.permissions]


def area_of(permission: str) -> str:
    return AREA_OF_PREFIX.get(permission.partition(":")[0], OTHER)


def label_of(permission: str) -> str:
    """The translated label; a permission added to the catalogue without one shows its English
    description, and an unknown one (a stale role) its string."""
    if permission in LABELS:
        return str(LABELS[permission])
    if permission in MAIN_ONLY_LABELS:
        return str(MAIN_ONLY_LABELS[permission])
    return PERMISSIONS.get(permission) or MAIN_ONLY.get(permission) or permission


def by_area(permissions) -> list[Area]:
    """``permissions`` sorted into areas (in the order of AREAS and of the catalogue), empty
    areas left out."""
    order = {p: i for i, p in enumerate(PERMISSIONS)}
    chosen = sorted(set(permissions), key=lambda p: (order.get(p, len(order)), p))
    return [
        Area(key, str(label), [(p, label_of(p)) for p in chosen if area_of(p) == key])
        for key, label in AREAS.items()
        if any(area_of(p) == key for p in chosen)
    ]


def picker() -> list[Area]:
    """What a role may be given, by area: the catalogue without the main-only capabilities (R6)."""
    return by_area(p for p in PERMISSIONS if p not in MAIN_ONLY)


def main_only() -> list[str]:
    """What stays with the main account whatever the role (R6), as labels."""
    return [label_of(p) for p in MAIN_ONLY]


def description_of(role) -> str:
    """A built-in role's description in the page's language while it is the seeded one; else
    what the owner wrote."""
    seeded = TEMPLATES.get(role.template or "")
    if seeded and role.description == seeded[1]:
        return str(TEMPLATE_DESCRIPTIONS.get(role.template, role.description))
    return role.description or ""
