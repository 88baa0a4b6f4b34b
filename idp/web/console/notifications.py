"""R25: the notification routing table. One form per kind of event: who is emailed (the main
account, named sub-accounts, a staff group, the product's owner, the submitter), each form
carrying the table's version so that two owners' edits never silently overwrite each other."""

from __future__ import annotations

from flask import render_template

from idp.errors import DomainError
from idp.i18n import _
from idp.services import accounts, routing
from idp.services import groups as group_service
from idp.web.console import bp, done, form_list, form_text, owner


def _page(*, failed: str | None = None, error=None, field=None, status: int = 200):
    actor = owner()
    staff = accounts.list_staff(actor)
    return render_template(
        "console/notifications.html",
        owner=actor,
        routes=routing.table(actor),
        version=routing.table_version(actor),
        kind_labels=routing.KIND_LABELS,
        defaults=routing.DEFAULTS,
        choices=[(value, routing.RECIPIENT_LABELS[value]) for value in routing.RECIPIENTS],
        choice_labels=routing.RECIPIENT_LABELS,
        staff_options=[(a.public_id, a.login_name) for a in staff],
        group_options=[
            (str(g.id), f"{g.name} ({g.store.name})") for g in group_service.list_groups(actor)
        ],
        failed=failed,
        typed={
            "recipient": form_text("recipient", 20),
            "accounts": form_list("accounts", 40),
            "group": form_text("group", 20),
        }
        if failed
        else None,
        error=error,
        field=field,
        section="notifications",
    ), status


@bp.get("/notifications")
def notifications():
    return _page()


@bp.post("/notifications/<kind>")
def notification_route(kind: str):
    recipient = form_text("recipient", 20)
    try:
        routing.set_route(
            owner(),
            kind,
            recipient,
            accounts_=form_list("accounts", 40) if recipient == routing.ACCOUNTS else None,
            group_id=form_text("group", 20) or None if recipient == routing.GROUP else None,
            expected_version=form_text("version", 40) or None,
        )
    except DomainError as exc:
        return _page(failed=kind, error=exc.message, field=exc.field, status=exc.status)
    return done(
        _(
            "Saved: who is emailed for %(kind)s.",
            kind=routing.KIND_LABELS.get(kind, kind),
        ),
        "console.notifications",
    )
