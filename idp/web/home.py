"""The start page: what is running and how to try it."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from idp.extensions import db
from idp.models import Company
from idp.web.sso import current_account

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    settings = current_app.extensions["idp.settings"]
    companies = db.session.query(Company).order_by(Company.id).limit(5).all()
    backend = db.engine.url.get_backend_name()
    return render_template(
        "home/index.html",
        settings=settings,
        companies=companies,
        backend=backend,
        account=current_account(),
    )
