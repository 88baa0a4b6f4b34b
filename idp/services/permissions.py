"""The permission catalogue, the built-in role templates (from the seeds) and the capabilities
that belong to the main account alone (R6) and that no role can grant."""

from __future__ import annotations

from idp.defaults import MAX_CUSTOM_ROLES  # noqa: F401  (re-exported: the console shows it)

PERMISSIONS: dict[str, str] = {
    "products:view": "See products and product groups",
    "products:edit": "Create and edit products, product groups and the photo bank",
    "products:list": "Put products on and off sale",
    "prices:edit": "Change prices",
    "listings:manage": "Manage listings and respond to returned listings",
    "orders:view": "See orders",
    "orders:edit": "Change orders and addresses",
    "orders:ship": "Ship orders and use logistics tools",
    "refunds:handle": "Handle refunds and returns",
    "marketing:manage": "Run promotions, bundles and vouchers",
    "ads:manage": "Run advertising campaigns",
    "chat:read": "Read customer chats",
    "chat:send": "Send messages to customers",
    "inquiries:own": "Handle own inquiries and customer contacts",
    "inquiries:team": "Handle the inquiries and contacts of subordinates",
    "inquiries:all": "Handle every inquiry and contact of the company",
    "decoration:edit": "Decorate the shop and its custom pages",
    "finance:view": "See bills, statements and payouts",
    "reports:view": "See performance reports",
    "quotations:submit": "Submit quotations to buyer requests",
}

# R6: never granted by any role; checked by account type alone.
MAIN_ONLY: dict[str, str] = {
    "subaccounts:manage": "Create and manage sub-accounts",
    "plans:purchase": "Purchase plans",
    "coupons:claim": "Claim coupons",
    "wallet:manage": "Set or change the wallet password",
    "stores:set_default": "Choose a sub-account's default store",
    "stores:authorize": "Authorize and de-authorize stores",
    "consumer:signin": "Sign in to consumer (buyer) apps",
}

# Built-in role templates. Alibaba.com's account types, Taobao's staff functions, and finance.
TEMPLATES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "sales_assistant": (
        "Sales Assistant",
        "Displays new products, manages products, product groups and the photo bank",
        ("products:view", "products:edit", "products:list"),
    ),
    "sales_representative": (
        "Sales Representative",
        "Manages assigned products and own inquiries and customer contacts",
        (
            "products:view",
            "products:edit",
            "products:list",
            "inquiries:own",
            "chat:read",
            "chat:send",
            "quotations:submit",
        ),
    ),
    "sales_manager": (
        "Sales Manager",
        "Manages own and subordinates' products, inquiries and customer contacts",
        (
            "products:view",
            "products:edit",
            "products:list",
            "inquiries:own",
            "inquiries:team",
            "chat:read",
            "chat:send",
            "quotations:submit",
            "reports:view",
        ),
    ),
    "customer_service": (
        "Customer Service",
        "Chats with buyers and handles refunds (Taobao 客服)",
        ("chat:read", "chat:send", "orders:view", "refunds:handle", "inquiries:own"),
    ),
    "operations": (
        "Operations",
        "Runs the store and its products (Taobao 运营)",
        (
            "products:view",
            "products:edit",
            "products:list",
            "prices:edit",
            "listings:manage",
            "orders:view",
            "ads:manage",
            "reports:view",
        ),
    ),
    "marketing": (
        "Marketing",
        "Runs promotions, bundles and coupons (Taobao 营销)",
        ("products:view", "marketing:manage", "ads:manage", "reports:view"),
    ),
    "logistics": (
        "Logistics",
        "Manages orders, addresses and shipping (Taobao 物流)",
        ("orders:view", "orders:edit", "orders:ship"),
    ),
    "design": (
        "Design",
        "Decorates the shop (Taobao 美工)",
        ("products:view", "decoration:edit"),
    ),
    "finance": (
        "Finance",
        "Sees bills, statements and payouts",
        ("finance:view", "orders:view", "reports:view"),
    ),
}


def all_main_permissions() -> list[str]:
    """What the main account's tokens carry: every permission and every main-only capability."""
    return sorted(PERMISSIONS) + sorted(MAIN_ONLY)
