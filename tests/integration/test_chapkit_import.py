"""Import from chapkit: a table built the way chapkit builds it (PickleType(protocol=4) data)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, PickleType, String
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from ulid import ULID

from artifact_ledger.chapkit_import import ACTOR, _order, import_chapkit
from artifact_ledger.errors import LedgerError, UntrustedContentError
from artifact_ledger.ledger import Ledger
from ledger_support import HIERARCHY, SECRET


class Base(DeclarativeBase):
    pass


class ChapkitArtifact(Base):
    """chapkit's ``artifacts`` table: the data column is an unsigned pickle."""

    __tablename__ = "artifacts"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(String(26), ForeignKey("artifacts.id"), nullable=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[object] = mapped_column(PickleType(protocol=4))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)


T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def chapkit_table(engine: AsyncEngine) -> dict[str, str]:
    """Root, two children and a grandchild, with chapkit's own level numbers."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    ids = {name: str(ULID()) for name in ("root", "a", "b", "leaf")}
    rows = [
        ("root", None, 0, {"type": "training", "metadata": {"status": "success"}}, 0, []),
        ("a", "root", 1, {"type": "prediction", "content": b"\x01\x02raw"}, 1, []),
        ("b", "root", 1, {"type": "prediction", "content": {"rows": [[1, 2]]}}, 2, ["x", "y"]),
        ("leaf", "a", 2, {"type": "evaluation", "metrics": {"rmse": 0.3}}, 3, ["final"]),
    ]
    sessions = async_sessionmaker(engine)
    async with sessions() as session:
        for name, parent, level, data, minutes, tags in rows:
            session.add(
                ChapkitArtifact(
                    id=ids[name],
                    parent_id=ids[parent] if parent else None,
                    level=level,
                    data=data,
                    created_at=T0 + timedelta(minutes=minutes),
                    updated_at=T0 + timedelta(minutes=minutes, seconds=30),
                    tags=tags,
                )
            )
            await session.flush()
        await session.commit()
    return ids


async def test_import_keeps_ids_parents_times_and_content(make_engine: Callable[[], AsyncEngine]) -> None:
    engine = make_engine()
    ids = await chapkit_table(engine)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        with pytest.raises(UntrustedContentError, match="--trust-source"):
            await import_chapkit(engine, ledger)
        result = await import_chapkit(engine, ledger, trust_source=True)
        assert (result.imported, result.skipped) == (4, 0)
        async with ledger.manager(HIERARCHY) as manager:
            tree = await manager.build_tree(ids["root"])
            assert tree is not None
            assert [str(c.id) for c in tree.children or []] == sorted([ids["a"], ids["b"]])
            leaf = await manager.find_by_id(ids["leaf"])
            assert leaf is not None
            assert (str(leaf.parent_id), leaf.level, leaf.tags) == (ids["a"], 2, ["final"])
            assert leaf.created_at == T0 + timedelta(minutes=3)
            assert leaf.created_by == ACTOR
            a = await manager.find_by_id(ids["a"])
            assert a is not None
            assert a.data["content"] == b"\x01\x02raw"
            history = await manager.history(ids["b"])
            assert [(h.event_type, h.actor) for h in history] == [("artifact.created", ACTOR)]
            assert history[0].recorded_at == T0 + timedelta(minutes=2)
        again = await import_chapkit(engine, ledger, trust_source=True)
        assert (again.imported, again.skipped) == (0, 4)
        report = await ledger.verify()
        assert report.ok
        assert report.events_checked == 4


def test_order_puts_parents_first_even_when_clocks_disagree() -> None:
    rows = [("child", "parent", T0), ("parent", "root", T0 + timedelta(minutes=5)), ("root", None, T0)]
    assert list(_order(rows)) == ["root", "parent", "child"]
    with pytest.raises(LedgerError, match="parent ghost"):
        list(_order([("x", "ghost", T0)]))
