"""The migrations build the schema from empty on SQLite and PostgreSQL, and agree with the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from portal.extensions import db
from tests.conftest import make_app


def differences(app) -> list:
    """What autogenerate would still write: empty when models and migrations agree."""
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            found = compare_metadata(context, db.metadata)
        db.engine.dispose()
    return found


def test_migrations_build_sqlite_from_empty_and_match_the_models(tmp_path):
    """On a fresh SQLite file, do the migrations build exactly what the models describe?"""
    app = make_app(f"sqlite:///{tmp_path / 'fresh.db'}")
    with app.app_context():
        upgrade()
        db.engine.dispose()
    assert differences(app) == []


@pytest.mark.postgres
def test_migrations_built_postgresql_from_empty_and_match_the_models(pg_url):
    """On the run's PostgreSQL database (built by the migrations), does autogenerate find nothing?"""
    assert differences(make_app(pg_url)) == []


def test_migrations_go_down_and_up_again(tmp_path):
    """Can every migration be undone and redone on SQLite?"""
    app = make_app(f"sqlite:///{tmp_path / 'roundtrip.db'}")
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade()
        assert "ledger_entries" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
