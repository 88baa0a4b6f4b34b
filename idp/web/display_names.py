"""How pages name the system's own data in the reader's language: the built-in roles (while the
owner keeps the seeded name) and the marketplace catalogue (seeded by migration 0001).

Pages alone. What apps see never changes with a language: tokens (``roles``, ``marketplace``),
the admin API and SCIM carry the stored English role names and the marketplace codes. What
owners typed (their own roles, a built-in role they renamed, store names) is shown as typed."""

from __future__ import annotations

from idp.i18n import _l
from idp.services.permissions import TEMPLATES

# Built-in role template -> its name as pages show it (the stored name is ``TEMPLATES[key][0]``).
ROLE_NAMES = {
    "sales_assistant": _l("Sales Assistant"),
    "sales_representative": _l("Sales Representative"),
    "sales_manager": _l("Sales Manager"),
    "customer_service": _l("Customer Service"),
    "operations": _l("Operations"),
    "marketing": _l("Marketing"),
    "logistics": _l("Logistics"),
    "design": _l("Design"),
    "finance": _l("Finance"),
}

# Marketplace code -> its name as pages show it (the catalogue's stored name is English).
MARKETPLACE_NAMES = {
    "shopee-sg": _l("Shopee Singapore"),
    "shopee-my": _l("Shopee Malaysia"),
    "shopee-tw": _l("Shopee Taiwan"),
    "shopee-th": _l("Shopee Thailand"),
    "shopee-ph": _l("Shopee Philippines"),
    "shopee-vn": _l("Shopee Vietnam"),
    "shopee-id": _l("Shopee Indonesia"),
    "shopee-br": _l("Shopee Brazil"),
    "lazada-sg": _l("Lazada Singapore"),
    "lazada-my": _l("Lazada Malaysia"),
    "lazada-th": _l("Lazada Thailand"),
    "lazada-ph": _l("Lazada Philippines"),
    "lazada-vn": _l("Lazada Vietnam"),
    "lazada-id": _l("Lazada Indonesia"),
    "taobao-cn": _l("Taobao"),
    "tmall-cn": _l("Tmall"),
    "alibaba-global": _l("Alibaba.com"),
    "amazon-us": _l("Amazon United States"),
    "amazon-uk": _l("Amazon United Kingdom"),
    "amazon-de": _l("Amazon Germany"),
    "amazon-jp": _l("Amazon Japan"),
    "tiktok-sg": _l("TikTok Shop Singapore"),
    "tiktok-my": _l("TikTok Shop Malaysia"),
}


def role_name(role) -> str:
    """A built-in role's name in the page's language while it is the seeded one; else the
    name as the owner wrote it."""
    seeded = TEMPLATES.get(role.template or "")
    if seeded and role.name == seeded[0] and role.template in ROLE_NAMES:
        return str(ROLE_NAMES[role.template])
    return role.name


def role_names(roles) -> list[str]:
    return [role_name(role) for role in roles]


def marketplace_name(marketplace) -> str:
    """A marketplace (a row, or its code) by name in the page's language; one missing here
    (added to the catalogue later) by its stored name, or its code."""
    code = getattr(marketplace, "code", marketplace)
    if code in MARKETPLACE_NAMES:
        return str(MARKETPLACE_NAMES[code])
    return getattr(marketplace, "name", None) or str(code)


def init_app(app) -> None:
    app.jinja_env.filters["role_name"] = role_name
    app.jinja_env.filters["role_names"] = role_names
    app.jinja_env.filters["marketplace_name"] = marketplace_name
