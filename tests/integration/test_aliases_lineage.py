"""Aliases and lineage links: events in the chain, projections, verify, rebuild, export/import (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    AliasNotFoundError,
    AliasProtectedError,
    ArtifactAliasedError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ConcurrencyError,
    InvalidAliasNameError,
    InvalidLinkError,
    Ledger,
    VersionNotFoundError,
)
from artifact_ledger.lineage import register_link_kind
from artifact_ledger.projections.provenance_check import ProvenanceFold
from artifact_ledger.store.provenance import provenance_statements
from artifact_ledger.transfer import export_ledger, import_bundle
from artifact_ledger.verify_bundle import verify_bundle
from ledger_support import SECRET


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


async def _log_types(manager: ArtifactManager) -> list[str]:
    page = await manager.audit(limit=1000)
    return [e.event_type for e in page.entries]


async def test_alias_set_move_protect_remove(manager: ArtifactManager) -> None:
    m = manager
    model = await m.save(ArtifactIn(data={"name": "model"}))
    await m.save(ArtifactIn(id=model.id, data={"name": "model", "epoch": 2}))
    first = await m.set_alias("production", model.id, version=1, actor="alice", reason="first")
    assert (first.artifact_id, first.version, first.protected) == (model.id, 1, False)
    assert (await m.resolve_alias("production")).data == {"name": "model"}
    same = await m.set_alias("production", model.id, version=1)
    assert same.version == 1
    moved = await m.set_alias("production", model.id, expected_target=(model.id, 1), actor="bob", reason="v2")
    assert moved.version == 2
    with pytest.raises(ConcurrencyError, match="production"):
        await m.set_alias("production", model.id, version=1, expected_target=(model.id, 1))
    await m.protect_alias("production", actor="carol")
    with pytest.raises(AliasProtectedError, match="reason"):
        await m.set_alias("production", model.id, version=1)
    with pytest.raises(AliasProtectedError):
        await m.remove_alias("production")
    await m.set_alias("production", model.id, version=1, reason="roll back")
    history = await m.alias_history("production")
    assert [(h.type, h.version, h.from_version, h.actor) for h in history] == [
        ("alias.set", 1, None, "alice"),
        ("alias.set", 2, 1, "bob"),
        ("alias.protected", 2, 2, "carol"),
        ("alias.set", 1, 2, None),
    ]
    assert history[-1].reason == "roll back"
    assert [a.name for a in await m.aliases(model.id)] == ["production"]
    await m.remove_alias("production", reason="retired")
    with pytest.raises(AliasNotFoundError):
        await m.resolve_alias("production")
    assert await m.aliases(model.id) == []
    assert (await _log_types(m)).count("alias.set") == 3


async def test_resolve_alias_as_of(manager: ArtifactManager) -> None:
    m = manager
    a = await m.save(ArtifactIn(data={"name": "a"}))
    b = await m.save(ArtifactIn(data={"name": "b"}))
    await m.set_alias("prod", a.id)
    (changed,) = list(await m.alias_history("prod"))
    await m.set_alias("prod", b.id)
    then = changed.recorded_at
    assert (await m.resolve_alias("prod", as_of=then)).id == a.id
    assert (await m.resolve_alias("prod")).id == b.id
    with pytest.raises(AliasNotFoundError):
        await m.resolve_alias("prod", as_of=then - timedelta(days=1))


@pytest.mark.parametrize("name", ["", "  ", " x", "x" * 201, "latest", "$x", "a\nb", "01ARZ3NDEKTSV4RRFFQ69G5FAV"])
async def test_bad_alias_names_record_nothing(manager: ArtifactManager, name: str) -> None:
    a = await manager.save(ArtifactIn(data={}))
    with pytest.raises(InvalidAliasNameError):
        await manager.set_alias(name, a.id)
    assert await _log_types(manager) == ["artifact.created"]


async def test_alias_bad_targets(manager: ArtifactManager) -> None:
    m = manager
    a = await m.save(ArtifactIn(data={}))
    with pytest.raises(ArtifactNotFoundError):
        await m.set_alias("x", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(VersionNotFoundError):
        await m.set_alias("x", a.id, version=2)
    with pytest.raises(AliasNotFoundError):
        await m.remove_alias("nope")
    assert await _log_types(m) == ["artifact.created"]


async def test_deleting_an_aliased_artifact(manager: ArtifactManager) -> None:
    m = manager
    root = await m.save(ArtifactIn(data={"name": "run"}))
    child = await m.save(ArtifactIn(parent_id=root.id, data={"name": "model"}))
    await m.set_alias("prod", child.id)
    with pytest.raises(ArtifactAliasedError, match="prod"):
        await m.delete_by_id(child.id)
    async with m.transaction():  # a refused delete leaves the transaction usable
        with pytest.raises(ArtifactAliasedError):
            await m.delete_by_id(child.id)
        await m.save(ArtifactIn(data={"name": "other"}))
    assert await m.find_by_id(child.id) is not None
    await m.delete_by_id(root.id, cascade=True, reason="cleanup")
    assert await m.aliases() == []
    types = await _log_types(m)
    assert types[-3:] == ["artifact.deleted", "artifact.deleted", "alias.removed"]


async def test_links_and_lineage(manager: ArtifactManager) -> None:
    m = manager
    raw = await m.save(ArtifactIn(data={"name": "raw"}))
    clean = await m.save(ArtifactIn(data={"name": "clean"}))
    model = await m.save(ArtifactIn(data={"name": "model"}))
    run = await m.save(ArtifactIn(data={"name": "train run"}))
    evaluation = await m.save(ArtifactIn(data={"name": "eval"}))
    await m.link(clean.id, raw.id, "derived_from")
    await m.link(model.id, clean.id, "derived_from")
    await m.link(model.id, run.id, "produced_by")
    await m.link(evaluation.id, model.id, "evaluated_on")
    assert (await m.link(model.id, clean.id, "derived_from")).kind == "derived_from"  # again: a no-op
    up = await m.lineage(model.id)
    assert set(up.nodes) == {str(model.id), str(clean.id), str(raw.id), str(run.id)}
    assert up.nodes[str(raw.id)] == 2
    assert set((await m.lineage(model.id, depth=1)).nodes) == {str(model.id), str(clean.id), str(run.id)}
    assert set((await m.lineage(model.id, kinds=["produced_by"])).nodes) == {str(model.id), str(run.id)}
    down = await m.lineage(raw.id, direction="downstream")
    assert set(down.nodes) == {str(raw.id), str(clean.id), str(model.id), str(evaluation.id)}
    mermaid = up.to_mermaid()
    assert mermaid.startswith("flowchart TB")
    assert "derived_from" in mermaid
    prov = up.to_prov()
    assert len(prov["wasDerivedFrom"]) == 2
    assert len(prov["wasGeneratedBy"]) == 1
    assert f"ledger:{run.id}" in prov["activity"]
    with pytest.raises(InvalidLinkError, match="cycle"):
        await m.link(raw.id, model.id, "derived_from")
    with pytest.raises(InvalidLinkError, match="itself"):
        await m.link(raw.id, raw.id, "used")
    with pytest.raises(InvalidLinkError, match="unknown link kind"):
        await m.link(raw.id, model.id, "inspired_by")
    with pytest.raises(ArtifactNotFoundError):
        await m.link(raw.id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "used")
    before = (await m.audit(limit=1000)).entries[-1].position
    assert await m.unlink(model.id, clean.id, "derived_from") is True
    assert await m.unlink(model.id, clean.id, "derived_from") is False
    assert str(clean.id) not in (await m.lineage(model.id)).nodes
    past = await m.lineage(model.id, as_of=(await m.audit(limit=1000)).entries[before - 1].recorded_at)
    assert str(raw.id) in past.nodes
    register_link_kind("reviewed_by", prov="wasInfluencedBy")
    await m.link(model.id, evaluation.id, "reviewed_by")
    assert "wasInfluencedBy" in (await m.lineage(model.id, kinds=["reviewed_by"])).to_prov()


async def _fold_equals_tables(engine: AsyncEngine) -> None:
    """The alias and link tables equal the fold of their streams (the drift pass's specification)."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
        assert report.ok, report.problem


async def test_verify_rebuild_and_drift(engine: AsyncEngine, manager: ArtifactManager) -> None:
    m = manager
    a = await m.save(ArtifactIn(data={"name": "a"}))
    b = await m.save(ArtifactIn(data={"name": "b"}))
    await m.set_alias("prod", a.id)
    await m.set_alias("prod", b.id)
    await m.link(b.id, a.id, "derived_from")
    await m.link(a.id, b.id, "used")
    await m.unlink(a.id, b.id, "used")
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.verify()).ok
        async with engine.connect() as conn:
            before_aliases = (await conn.execute(text("SELECT * FROM ledger_aliases ORDER BY name"))).all()
            before_links = (await conn.execute(text("SELECT * FROM ledger_links ORDER BY stream_id, valid_from"))).all()
        await ledger.rebuild()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT * FROM ledger_aliases ORDER BY name"))).all() == before_aliases
            after = (await conn.execute(text("SELECT * FROM ledger_links ORDER BY stream_id, valid_from"))).all()
            assert after == before_links
        assert (await ledger.verify()).ok
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE ledger_aliases SET protected = 1"))
        report = await ledger.verify()
        assert not report.ok
        assert "prod" in (report.problem or "")
        await ledger.rebuild()
        assert (await ledger.verify()).ok
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger_links WHERE valid_to IS NOT NULL"))
        report = await ledger.verify()
        assert not report.ok
        assert "ledger_links" in (report.problem or "")


async def test_export_import_keeps_aliases_and_links(
    engine: AsyncEngine, manager: ArtifactManager, tmp_path: Path
) -> None:
    m = manager
    a = await m.save(ArtifactIn(data={"name": "a"}))
    b = await m.save(ArtifactIn(data={"name": "b"}))
    await m.set_alias("prod", a.id)
    await m.protect_alias("prod")
    await m.link(b.id, a.id, "derived_from")
    bundle = tmp_path / "bundle"
    await export_ledger(engine, bundle)
    assert verify_bundle(bundle).ok  # the standard-library verifier reads alias and link events too
    target = f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"
    async with Ledger.open(target, secret=SECRET) as copy:
        await import_bundle(copy.engine, bundle)
        assert (await copy.verify()).ok
        async with copy.manager() as cm:
            assert (await cm.resolve_alias("prod")).id == a.id
            assert (await cm.aliases())[0].protected
            assert set((await cm.lineage(b.id)).nodes) == {str(a.id), str(b.id)}


def test_fold_refuses_streams_no_writer_makes() -> None:
    fold = ProvenanceFold()
    row = [1, "e", "S" * 26, 2, "link.removed", 1, "{}", "t", None, None, None, None, b"", b""]
    with pytest.raises(ValueError, match="skips"):
        fold.add([row])
    assert provenance_statements("sqlite").alias_row.names == ("name",)
