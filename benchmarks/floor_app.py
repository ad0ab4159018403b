"""The floor of this stack: a minimal Flask + SQLAlchemy endpoint doing one INSERT per request,
on the same database set-up as the backend (`consent_app.db.Database`: WAL, BEGIN IMMEDIATE,
synchronous=FULL on SQLite; psycopg 3 on PostgreSQL). `benchmarks/consent_load.py` runs it
under the same server as the backend to say how close the real endpoints come to it.

    MARKETPLACE_DATABASE_URL=… gunicorn benchmarks.floor_app:app
"""

from __future__ import annotations

import os

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from consent_app.db import Database

metadata = MetaData()
rows = Table(
    "floor_rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payload", String(100), nullable=False),
)


def prepare(url: str) -> None:
    """Create the floor's table (once, before the server's workers start)."""
    database = Database(url)
    metadata.create_all(database.engine)
    database.dispose()


def create_floor_app(url: str) -> Flask:
    """The floor app over the database at `url` (see `prepare`)."""
    database = Database(url)
    app = Flask(__name__)

    @app.post("/insert")
    def add() -> ResponseReturnValue:
        with database.write() as session:
            new_id = session.execute(insert(rows).values(payload="x" * 40)).inserted_primary_key
        return jsonify(id=new_id[0] if new_id else None), 201

    return app


app = create_floor_app(os.environ.get("MARKETPLACE_DATABASE_URL", "sqlite:///floor.sqlite3"))
