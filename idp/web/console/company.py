"""The company: two-step verification for all staff (R19), the plan and its quota (R2: the owner
sees it; the operators change it, ``idp company set-limit``), and the company's language and time
zone (the defaults of staff who chose none). Each form posts on its own."""

from __future__ import annotations

import shlex
from types import SimpleNamespace

from flask import render_template, request

from idp import i18n
from idp.errors import DomainError
from idp.i18n import _
from idp.models.base import utcnow
from idp.services import companies, preferences, totp
from idp.web.console import bp, done, form_text, owner


def _company_page(*, error=None, field=None, status: int = 200, typed: dict | None = None):
    actor = owner()
    company = actor.company
    quota = companies.quota(actor)
    standard = companies.PLAN_LIMITS["standard"]
    return render_template(
        "console/company.html",
        owner=actor,
        company=company,
        quota=quota,
        plan_names={"basic": _("Basic"), "standard": _("Standard")},
        plan_limits=companies.PLAN_LIMITS,
        # What the operators run to give the company the standard plan (or more, when it has it).
        limit_command=shlex.join(
            ["idp", "company", "set-limit", company.name, str(max(standard, quota.limit + 1))]
        ),
        without_second_factor=companies.staff_without_second_factor(actor),
        languages=[(locale, i18n.NATIVE_NAMES.get(locale, locale)) for locale in i18n.available()],
        zones=preferences.COMMON_ZONES,
        values=typed or {"language": company.language, "timezone": company.timezone or ""},
        company_zone=i18n.company_zone(company),
        # What an empty zone means for the company's language (the field's placeholder).
        language_zone=i18n.company_zone(SimpleNamespace(language=company.language, timezone=None)),
        now=utcnow(),
        error=error,
        field=field,
        section="company",
    ), status


@bp.get("/company", endpoint="company")
def company_page():
    return _company_page()


@bp.post("/company/second-factor")
def require_second_factor():
    """R19: on, staff without a second factor are sent to enrol at their next sign-in."""
    required = request.form.get("required") == "on"
    try:
        totp.set_required_for_staff(owner(), required)
    except DomainError as exc:
        return _company_page(error=exc.message, status=exc.status)
    if required:
        return done(
            _(
                "Two-step verification is now required for all staff: those without it will "
                "be asked to turn it on at their next sign-in."
            ),
            "console.company",
        )
    return done(_("Two-step verification is no longer required for staff."), "console.company")


@bp.post("/company/preferences")
def company_preferences():
    typed = {"language": form_text("language", 20), "timezone": form_text("timezone", 64)}
    try:
        companies.set_company_preferences(owner(), **typed)
    except DomainError as exc:
        return _company_page(error=exc.message, field=exc.field, status=exc.status, typed=typed)
    return done(_("The company's language and time zone were saved."), "console.company")
