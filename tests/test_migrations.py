"""The schema comes from the Alembic migrations alone, and they match the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idp.extensions import db
from idp.models import Marketplace


def test_migrations_match_the_models(ctx):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_marketplace_catalogue_is_seeded(ctx):
    codes = {m.code for m in db.session.query(Marketplace)}
    assert {"shopee-sg", "shopee-my", "shopee-tw", "lazada-sg", "taobao-cn", "amazon-us"} <= codes
