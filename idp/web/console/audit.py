"""The audit log: every owner and security action of the company, newest first, filtered by
actor, target, kind and dates (days of the viewer's time zone), paged by a keyset cursor
(``?before=<id>``), and exported whole as CSV or JSON Lines, streamed batch by batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Response, render_template, request, stream_with_context
from flask_babel import ngettext

from idp import i18n
from idp.i18n import _
from idp.models.base import utcnow
from idp.services import audit
from idp.web.console import bp, owner


def _day(value: str | None) -> str:
    """A ``YYYY-MM-DD`` date as a date input sends it, or nothing."""
    value = (value or "")[:10]
    try:
        return value if 1900 <= date.fromisoformat(value).year <= 9998 else ""
    except ValueError:
        return ""


@dataclass(frozen=True)
class Filters:
    """The log's filters as the query string gives them (what cannot be one is ignored)."""

    actor: str = ""
    target: str = ""
    action: str = ""
    since: str = ""  # the first day, in the viewer's time zone
    until: str = ""  # the last day, included

    @classmethod
    def from_args(cls, args) -> Filters:
        def text(name: str, limit: int) -> str:
            return (args.get(name) or "")[:limit].replace("\x00", "").strip()

        return cls(
            actor=text("actor", 160),
            target=text("target", 160),
            action=text("action", 60),
            since=_day(args.get("since")),
            until=_day(args.get("until")),
        )

    def query(self, zone: str) -> audit.LogFilters:
        """Days become the UTC moments where they start (and end) in ``zone``."""
        try:
            tzinfo = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            tzinfo = ZoneInfo("UTC")

        def start(day: str, extra_days: int = 0) -> datetime | None:
            if not day:
                return None
            first = date.fromisoformat(day) + timedelta(days=extra_days)
            return datetime.combine(first, time.min, tzinfo=tzinfo).astimezone(UTC)

        return audit.LogFilters(
            actor=self.actor,
            target=self.target,
            action=self.action,
            since=start(self.since),
            until=start(self.until, 1),
        )

    def args(self) -> dict[str, str]:
        """The query string that keeps these filters (pager and export links)."""
        return {name: value for name, value in asdict(self).items() if value}

    @property
    def active(self) -> bool:
        return self != Filters()


def _value(value, names: dict[str, str], key: str = "") -> str:
    """One detail's value for people: names for ids, yes/no, lists joined, long text cut."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        shown = ", ".join(_value(item, names) for item in value[:10])
        if len(value) > 10:
            shown = ngettext(
                "%(items)s and %(num)d more",
                "%(items)s and %(num)d more",
                len(value) - 10,
                items=shown,
            )
        return shown
    if isinstance(value, dict):
        if set(value) == {"before", "after"}:
            return _change(value["before"], value["after"], names, key)
        return "; ".join(_detail(k, v, names) for k, v in list(value.items())[:10])
    if key == "language" and isinstance(value, str):
        return i18n.NATIVE_NAMES.get(value, value)
    if isinstance(value, str) and (word := _recorded_word(key, value)):
        return word
    text = names.get(value, value) if isinstance(value, str) else str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _recorded_word(key: str, value: str) -> str | None:
    """The few words services record as values (``by_product``), for people."""
    return {
        ("mode", "by_store"): _("by store"),
        ("mode", "by_product"): _("by product"),
        ("reason", "owner"): _("by the owner"),
        ("channel", "email"): _("email"),
        ("channel", "phone"): _("phone"),
        ("password", "changed"): _("changed"),  # never the password itself
    }.get((key, value))


def _change(before, after, names: dict[str, str], key: str = "") -> str:
    return _(
        "%(before)s → %(after)s",
        before=_value(before, names, key),
        after=_value(after, names, key),
    )


def _detail(key: str, value, names: dict[str, str]) -> str:
    return _detail_line(key, _value(value, names, key))


def describe(details: dict, names: dict[str, str]) -> list[str]:
    """The key details of an entry, one line each: before → after first, then the rest."""
    details = details if isinstance(details, dict) else {}
    lines = []
    if "before" in details and "after" in details:
        before, after = details["before"], details["after"]
        if isinstance(before, dict) and isinstance(after, dict):
            for key in list(dict.fromkeys([*before, *after]))[:10]:
                if before.get(key) != after.get(key):
                    change = _change(before.get(key), after.get(key), names, key)
                    lines.append(_detail_line(key, change))
        else:
            lines.append(_change(before, after, names))
    changes = details.get("changes")
    if isinstance(changes, dict):
        for key, change in list(changes.items())[:10]:
            if isinstance(change, dict) and set(change) == {"before", "after"}:
                text = _change(change["before"], change["after"], names, key)
            else:
                text = _value(change, names, key)
            lines.append(_detail_line(key, text))
    for key, value in details.items():
        if key not in ("before", "after", "changes", "acting_for"):  # acting_for: by the actor
            lines.append(_detail(key, value, names))
    return lines[:15]


def _detail_line(key: str, text: str) -> str:
    label = audit.DETAIL_LABELS.get(key)
    return _("%(label)s: %(value)s", label=label or key, value=text)


@bp.get("/audit", endpoint="audit")
def log_page():
    actor = owner()
    filters = Filters.from_args(request.args)
    page = audit.search(
        actor, filters.query(i18n.zone_of(actor)), before=audit.cursor(request.args.get("before"))
    )
    kinds = audit.kinds(actor)
    if filters.action and filters.action not in kinds:
        kinds.append(filters.action)
    kind_options = sorted(((k, audit.label_of(k)) for k in kinds), key=lambda pair: pair[1])
    return render_template(
        "console/audit.html",
        owner=actor,
        filters=filters,
        page=page,
        kind_options=[("", _("Any kind")), *kind_options],
        label_of=audit.label_of,
        describe=describe,
        zone=i18n.zone_of(actor),
        example_login=f"{actor.company.name}:alice",
        section="audit",
    )


def _export(extension: str, mimetype: str, write):
    """The whole filtered log as a download, written while it is read (never held whole)."""
    actor = owner()
    filters = Filters.from_args(request.args).query(i18n.zone_of(actor))
    body = write(audit.stream(actor, filters))
    name = f"audit-{actor.company.public_id}-{utcnow():%Y%m%d-%H%M%S}.{extension}"
    return Response(
        stream_with_context(body),
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy passes the rows on as they come
        },
    )


@bp.get("/audit.csv", endpoint="audit_csv")
def export_csv():
    return _export("csv", "text/csv", audit.as_csv)


@bp.get("/audit.jsonl", endpoint="audit_jsonl")
def export_jsonl():
    return _export("jsonl", "application/jsonl", audit.as_jsonl)
