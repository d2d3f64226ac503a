"""Expression indexes on data paths (``Ledger.create_index``/``drop_index``).

The indexed expression is the very one ``find`` compares (``store/json_paths.py`` builds both),
because SQLite and PostgreSQL only use an expression index for a query that has the same
expression. The name is derived from the path, so creating twice is a no-op and dropping needs
nothing but the path.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncEngine

from ..store.json_paths import json_sql
from .language import parse_path

__all__ = ["create_index", "drop_index", "index_name"]

PREFIX = "ix_ledger_artifacts_q_"


def index_name(path: str) -> str:
    """The index name for a checked path: the prefix and a digest of the path (within 63 characters)."""
    segments = parse_path(path, what="index path")
    digest = hashlib.sha256(".".join(str(s) for s in segments).encode()).hexdigest()[:16]
    return PREFIX + digest


async def create_index(engine: AsyncEngine, path: str) -> str:
    name = index_name(path)
    segments = parse_path(path, what="index path")
    async with engine.begin() as conn:
        await conn.execute(json_sql(engine.dialect.name).create_index(name, segments))
    return name


async def drop_index(engine: AsyncEngine, path: str) -> str:
    name = index_name(path)
    segments = parse_path(path, what="index path")
    async with engine.begin() as conn:
        await conn.execute(json_sql(engine.dialect.name).drop_index(name, segments))
    return name
