"""Staff: the list (search and filters), creating a sub-account (R2, R3, R9), editing it (R18)
without losing another owner's change, disabling and re-enabling (R4, R5), handing it over to
another person (R4), its credentials (R16) and batch store assignment (R11)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import make_response, render_template, request, url_for
from flask_babel import ngettext

from idp.errors import DomainError
from idp.i18n import _
from idp.oauth import sessions
from idp.services import accounts, groups, inquiries, profile, roles, stores, totp
from idp.services.accounts import ACTIVE_STAFF, ALL_STAFF, DEPARTED_STAFF
from idp.web.console import bp, done, form_list, form_text, owner
from idp.web.display_names import role_name

STATUSES = (ACTIVE_STAFF, DEPARTED_STAFF, ALL_STAFF)


@dataclass
class Filters:
    """The list's filters, as the query string gives them (bad values are ignored)."""

    search: str = ""
    status: str = ACTIVE_STAFF
    role: int | None = None
    store: str = ""
    group: int | None = None
    muted: bool | None = None
    second_factor: bool | None = None

    @classmethod
    def from_args(cls, args) -> Filters:
        def number(name):
            value = args.get(name) or ""
            return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None

        def yes_no(name):
            return {"yes": True, "no": False}.get(args.get(name) or "")

        status = args.get("status") or ACTIVE_STAFF
        return cls(
            search=(args.get("q") or "")[:100],
            status=status if status in STATUSES else ACTIVE_STAFF,
            role=number("role"),
            store=(args.get("store") or "")[:64],
            group=number("group"),
            muted=yes_no("muted"),
            second_factor=yes_no("tfa"),
        )

    def query(self, company_stores) -> dict:
        store_id = next((s.id for s in company_stores if s.public_id == self.store), None)
        return {
            "search": self.search or None,
            "status": self.status,
            "role_id": self.role,
            "store_id": store_id,
            "group_id": self.group,
            "muted": self.muted,
            "second_factor": self.second_factor,
        }

    @property
    def active(self) -> bool:
        return self != Filters()


def _company_choices():
    """The company's roles, stores and groups, as (value, text) choices for the forms."""
    actor = owner()
    company_stores = stores.list_stores(actor)
    return {
        "all_stores": company_stores,
        "role_options": [(str(r.id), role_name(r)) for r in roles.list_roles(actor)],
        "store_options": [(s.public_id, s.name) for s in company_stores],
        "group_options": [
            (str(g.id), f"{g.store.name} · {g.name}") for g in groups.list_groups(actor)
        ],
    }


def _list_page(*, error=None, field=None, status=200, chosen=(), batch=None):
    actor = owner()
    filters = Filters.from_args(request.args)
    choices = _company_choices()
    people = accounts.list_staff(actor, **filters.query(choices["all_stores"]))
    company = actor.company
    return render_template(
        "console/staff.html",
        owner=actor,
        people=people,
        filters=filters,
        quota=(company.sub_account_count, company.sub_account_limit),
        enrolled=totp.is_enrolled,
        chosen=set(chosen),
        batch=batch or {},
        error=error,
        field=field,
        section="staff",
        **choices,
    ), status


@bp.get("/staff")
def staff():
    return _list_page()


@bp.post("/staff/assign")
def assign():
    """R11: add, remove or reset the chosen stores for the chosen staff, all or nothing."""
    chosen, store_ids, mode = form_list("accounts"), form_list("stores"), form_text("mode", 10)
    try:
        changed = stores.assign_stores(owner(), chosen, store_ids, mode)
    except DomainError as exc:
        batch = {"stores": set(store_ids), "mode": mode}
        return _list_page(
            error=exc.message, field=exc.field, status=exc.status, chosen=chosen, batch=batch
        )
    names = ", ".join(a.login_name for a in changed[:5]) + ("…" if len(changed) > 5 else "")
    held = ", ".join(stores.get_store(owner(), s).name for s in store_ids[:5])
    message = {
        "add": _("%(names)s now hold %(stores)s.", names=names, stores=held),
        "remove": _("%(names)s no longer hold %(stores)s.", names=names, stores=held),
        "reset": _("%(names)s now hold exactly %(stores)s.", names=names, stores=held),
    }[mode]
    return done(message, "console.staff")


# --- creating ---------------------------------------------------------------------------------


def _form_values(account=None, *, typed: bool = True) -> dict:
    """What the form shows: what was typed (``typed``), else the account's current values."""
    form = request.form
    if typed and request.method == "POST" and "name" in form:
        return {
            "name": form.get("name", "")[:120],
            "nickname": form.get("nickname", "")[:120],
            "email": form.get("email", "")[:254],
            "phone": form.get("phone", "")[:40],
            "notes": form.get("notes", "")[:2000],
            "gender": form.get("gender", "")[:20],
            "roles": set(form.getlist("roles")),
            "stores": set(form.getlist("stores")),
            "default_store": form.get("default_store", ""),
        }
    if account is None:
        return {"roles": set(), "stores": set(), "default_store": ""}
    return {
        "name": account.name,
        "nickname": account.nickname or "",
        "email": account.email or "",
        "phone": account.phone or "",
        "notes": account.notes or "",
        "gender": account.gender or "",
        "roles": {str(r.id) for r in account.roles},
        "stores": {a.store.public_id for a in account.assignments},
        "default_store": account.default_store.public_id if account.default_store else "",
    }


def _ordered_stores(store_ids: list[str], default: str) -> list[str]:
    """R9: the default store first (the first store given becomes the default)."""
    if default and default in store_ids:
        return [default, *[s for s in store_ids if s != default]]
    return store_ids


def _role_ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 10]


def _form_page(
    template, *, account=None, error=None, field=None, status=200, version=None, typed=True
):
    actor = owner()
    company = actor.company
    return render_template(
        template,
        owner=actor,
        account=account,
        team=_team(actor, account) if account is not None else None,
        values=_form_values(account, typed=typed),
        version=version or (accounts.edit_version(account) if account else None),
        genders=profile.gender_choices(),
        quota=(company.sub_account_count, company.sub_account_limit),
        error=error,
        field=field,
        section="staff",
        **_company_choices(),
    ), status


def _team(actor, account) -> dict:
    """Issue 18's team on the staff page: whom the account reports to, and who reports to it."""
    return {
        "manager": inquiries.manager_of(account) or "",
        "choices": [
            (value, text)
            for value, text in inquiries.manager_choices(actor, of=[account])
            if value != account.public_id
        ],
        "members": inquiries.reports_of(account),
        "version": inquiries.member_version(account),
    }


@bp.route("/staff/new", methods=["GET", "POST"])
def create():
    """R2 (the quota), R3 (unique email and phone), R8/R9 (authorized stores, the first is the
    default). An empty password is generated and shown once."""
    if request.method == "GET":
        return _form_page("console/staff_new.html")
    typed_password = form_text("password", 1024)
    password = typed_password or accounts.generate_password()
    try:
        account = accounts.create_sub_account(
            owner(),
            name=form_text("name", 120),
            password=password,
            email=form_text("email", 254) or None,
            phone=form_text("phone", 40) or None,
            nickname=form_text("nickname", 120) or None,
            notes=form_text("notes", 2000) or None,
            roles=_role_ids(form_list("roles")),
            stores=_ordered_stores(form_list("stores"), form_text("default_store", 64)),
            must_change_password=True,  # they choose their own at first sign-in
        )
    except DomainError as exc:
        return _form_page(
            "console/staff_new.html", error=exc.message, field=exc.field, status=exc.status
        )
    if not typed_password:
        return _password_shown(account, password, created=True)
    return done(
        _("%(login)s was created. It can sign in now.", login=account.login_name),
        "console.staff_member",
        ident=account.public_id,
    )


def _password_shown(account, password: str, *, created: bool = False):
    page = make_response(
        render_template(
            "console/password_shown.html",
            account=account,
            password=password,
            created=created,
            section="staff",
        )
    )
    page.headers["Cache-Control"] = "no-store"
    return page


# --- one sub-account ----------------------------------------------------------------------------


def _member(ident: str):
    return accounts.get_sub_account(owner(), ident)


@bp.route("/staff/<ident>", methods=["GET", "POST"])
def staff_member(ident: str):
    """R18: nickname, name, email, phone, notes, gender (R20's choices, as on the person's own
    profile), roles, stores and the default store (R9). A
    save made against a version of the account older than the current one is refused, and the
    form then shows the current values: two owners' tabs never overwrite each other."""
    account = _member(ident)
    if request.method == "GET":
        return _form_page("console/staff_member.html", account=account)
    default = form_text("default_store", 64)
    store_ids = form_list("stores")
    try:
        accounts.update_sub_account(
            owner(),
            account,
            expected_version=form_text("version", 40),
            stores=_ordered_stores(store_ids, default) if account.is_active else None,
            default_store=default if account.is_active and default else None,
            name=form_text("name", 120),
            nickname=form_text("nickname", 120),
            email=form_text("email", 254) or None,
            phone=form_text("phone", 40) or None,
            notes=form_text("notes", 2000),
            gender=form_text("gender", 20),
            roles=_role_ids(form_list("roles")),
        )
    except accounts.EditConflict as exc:
        account = _member(ident)  # the current values, not the stale ones typed over
        return _form_page(
            "console/staff_member.html",
            account=account,
            error=exc.message,
            status=exc.status,
            typed=False,
        )
    except DomainError as exc:
        account = _member(ident)
        return _form_page(
            "console/staff_member.html",
            account=account,
            error=exc.message,
            field=exc.field,
            status=exc.status,
            version=form_text("version", 40),
        )
    return done(
        _("The changes to %(login)s were saved.", login=account.login_name),
        "console.staff_member",
        ident=account.public_id,
    )


@bp.post("/staff/<ident>/disable")
def disable(ident: str):
    """R4/R5: departed, never deleted: sessions end and tokens stop working at once."""
    account = _member(ident)
    try:
        accounts.disable_sub_account(owner(), account)
    except DomainError as exc:
        return _form_page("console/staff_member.html", account=account, error=exc.message)
    return done(
        _(
            "%(login)s is disabled: its sessions ended and its tokens stopped working.",
            login=account.login_name,
        ),
        "console.staff_member",
        ident=account.public_id,
    )


@bp.post("/staff/<ident>/enable")
def enable(ident: str):
    account = _member(ident)
    try:
        accounts.enable_sub_account(owner(), account)
    except DomainError as exc:
        return _form_page("console/staff_member.html", account=account, error=exc.message)
    return done(
        _("%(login)s is enabled again.", login=account.login_name),
        "console.staff_member",
        ident=account.public_id,
    )


@bp.route("/staff/<ident>/hand-over", methods=["GET", "POST"])
def hand_over(ident: str):
    """R4: give the account to another person; the previous holder's access ends."""
    account = _member(ident)
    if request.method == "GET":
        return _form_page("console/staff_handover.html", account=account)
    typed_password = form_text("password", 1024)
    password = typed_password or accounts.generate_password()
    try:
        accounts.hand_over(
            owner(),
            account,
            password=password,
            name=form_text("name", 120) or None,
            nickname=form_text("nickname", 120) or None,
            email=form_text("email", 254) or None,
            phone=form_text("phone", 40) or None,
            expected_version=form_text("version", 40),
        )
    except DomainError as exc:
        account = _member(ident)
        return _form_page(
            "console/staff_handover.html",
            account=account,
            error=exc.message,
            field=exc.field,
            status=exc.status,
        )
    if not typed_password:
        return _password_shown(account, password)
    return done(
        _(
            "%(login)s was handed over: the previous holder's sessions, tokens and second factor "
            "ended.",
            login=account.login_name,
        ),
        "console.staff_member",
        ident=account.public_id,
    )


@bp.post("/staff/<ident>/reports-to")
def reports_to(ident: str):
    """Issue 18: whom the staff member reports to (their team), company-wide: the same setting,
    through the same service, as on a store's inquiries page; a cycle is refused."""
    actor = owner()
    account = _member(ident)
    chosen = form_text("manager", 64)
    try:
        manager = accounts.get_sub_account(actor, chosen) if chosen else None
        inquiries.set_member_rules(
            actor,
            account,
            manager=manager,
            expected_version=form_text("team_version", 40) or None,
        )
    except DomainError as exc:
        return _form_page(
            "console/staff_member.html",
            account=_member(ident),
            error=exc.message,
            field="manager",
            status=exc.status,
        )
    return done(
        _(
            "%(login)s now reports to %(manager)s.",
            login=account.login_name,
            manager=manager.login_name,
        )
        if manager
        else _("%(login)s reports to nobody now.", login=account.login_name),
        "console.staff_member",
        ident=account.public_id,
    )


# --- R16: credentials ---------------------------------------------------------------------------


@bp.post("/staff/<ident>/reset-password")
def reset_password(ident: str):
    """R16: a password chosen by the owner, or generated, shown once on the next page; the staff
    member must choose a new one at next sign-in, and its sessions end."""
    typed = form_text("password", 1024)
    try:
        account = _member(ident)
        password = accounts.reset_sub_account_password(owner(), account, typed.strip() and typed)
    except DomainError as exc:
        return _list_page(error=exc.message, field=exc.field, status=exc.status)
    return _password_shown(account, password)


@bp.post("/staff/<ident>/reset-2fa")
def reset_second_factor(ident: str):
    try:
        account = totp.reset_totp(owner(), _member(ident))
    except DomainError as exc:
        return _list_page(error=exc.message, status=exc.status)
    return done(
        _("The second factor of %(name)s was removed.", name=account.login_name),
        "console.staff_member",
        ident=account.public_id,
    )


@bp.post("/staff/<ident>/end-sessions")
def end_sessions(ident: str):
    account = _member(ident)
    try:
        ended = sessions.end_sessions_by_owner(owner(), account)
    except DomainError as exc:
        return _list_page(error=exc.message, status=exc.status)
    message = (
        ngettext(
            "%(num)d session of %(name)s ended.",
            "%(num)d sessions of %(name)s ended.",
            ended,
            name=account.login_name,
        )
        if ended
        else _("%(name)s had no open sessions.", name=account.login_name)
    )
    return done(
        message,
        "console.staff_member",
        ident=account.public_id,
    )


def staff_url(account) -> str:
    return url_for("console.staff_member", ident=account.public_id)
