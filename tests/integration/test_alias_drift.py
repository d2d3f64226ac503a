"""Alias writes rest on the log, never on an edited ``ledger_aliases`` row.

``ledger_aliases`` is a cache anyone with the application's database credentials can edit. With the
row of a protected alias deleted, ``set_alias`` took the alias for new: it opened a second stream
for the name and moved it without the reason its protection asks for; ``remove_alias`` said there
was no such alias; and ``delete_by_id`` of the aliased artifact went through without ``cascade``,
leaving the log with an alias on a deleted artifact. Each is now refused with
``ProjectionDriftError`` naming the alias, nothing appended, and after a rebuild the log decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from artifact_ledger import (
    AliasNotFoundError,
    AliasProtectedError,
    ArtifactAliasedError,
    ArtifactIn,
    ArtifactManager,
    Ledger,
    ProjectionDriftError,
)
from ledger_support import SECRET, event_count, sql


@dataclass
class Aliased:
    """``prod`` (protected) points at A; B is another artifact."""

    a: str
    b: str


async def build(manager: ArtifactManager) -> Aliased:
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    b = await manager.save(ArtifactIn(data={"name": "b"}))
    await manager.set_alias("prod", a.id)
    await manager.protect_alias("prod", protected=True)
    return Aliased(str(a.id), str(b.id))


async def rebuild(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()


async def test_a_protected_alias_whose_row_was_deleted_is_not_set_again_as_new(
    engine: AsyncEngine, manager: ArtifactManager
) -> None:
    t = await build(manager)
    await sql(engine, "DELETE FROM ledger_aliases WHERE name = 'prod'")
    before = await event_count(engine)
    with pytest.raises(ProjectionDriftError, match="alias 'prod'") as caught:
        await manager.set_alias("prod", t.b)
    assert "rebuild" in str(caught.value)
    with pytest.raises(ProjectionDriftError, match="alias 'prod'"):
        await manager.remove_alias("prod", reason="retire")
    with pytest.raises(ProjectionDriftError, match="alias 'prod'"):
        await manager.protect_alias("prod", protected=False)
    assert await event_count(engine) == before
    await rebuild(engine)
    with pytest.raises(AliasProtectedError):
        await manager.set_alias("prod", t.b)  # protected: moving it needs a reason
    moved = await manager.set_alias("prod", t.b, reason="promote b")
    assert str(moved.artifact_id) == t.b
    assert moved.protected
    async with engine.connect() as conn:
        streams = (
            await conn.execute(text("SELECT DISTINCT artifact_id FROM ledger_events WHERE type LIKE 'alias.%'"))
        ).all()
    assert len(streams) == 1


async def test_a_planted_alias_row_is_refused_not_obeyed(engine: AsyncEngine, manager: ArtifactManager) -> None:
    t = await build(manager)
    await sql(
        engine,
        "INSERT INTO ledger_aliases (name, stream_id, stream_version, artifact_id, version, protected, position, "
        "updated_at, updated_by) SELECT 'ghost', :s, 1, :a, 1, 1, position, updated_at, NULL FROM ledger_aliases "
        "WHERE name = 'prod'",
        s=str(ULID()),
        a=t.b,
    )
    before = await event_count(engine)
    with pytest.raises(ProjectionDriftError, match="ghost"):
        await manager.set_alias("ghost", t.a)  # protected by the planted row only
    with pytest.raises(ProjectionDriftError, match="ghost"):
        await manager.delete_by_id(t.b)  # aliased by the planted row only
    assert await event_count(engine) == before
    await rebuild(engine)
    await manager.delete_by_id(t.b)
    await manager.set_alias("ghost", t.a)


DELETE_TAMPERS = {
    "row-deleted": "DELETE FROM ledger_aliases WHERE name = 'prod'",
    "row-repointed": "UPDATE ledger_aliases SET artifact_id = :b WHERE name = 'prod'",
    "row-cleared": "UPDATE ledger_aliases SET artifact_id = NULL, version = NULL WHERE name = 'prod'",
}


@pytest.mark.parametrize("tamper", DELETE_TAMPERS.values(), ids=DELETE_TAMPERS.keys())
async def test_an_aliased_artifact_is_not_deleted_because_its_alias_row_was_edited(
    engine: AsyncEngine, manager: ArtifactManager, tamper: str
) -> None:
    t = await build(manager)
    await sql(engine, tamper, **({"b": t.b} if ":b" in tamper else {}))
    before = await event_count(engine)
    with pytest.raises(ProjectionDriftError, match=t.a) as caught:
        await manager.delete_by_id(t.a)
    assert "'prod'" in str(caught.value)
    assert await event_count(engine) == before
    await rebuild(engine)
    with pytest.raises(ArtifactAliasedError, match="prod"):
        await manager.delete_by_id(t.a)
    await manager.delete_by_id(t.a, cascade=True)  # removes the alias with it, recorded
    with pytest.raises(AliasNotFoundError):
        await manager.resolve_alias("prod")
