"""Aliases and lineage links: events in the chain, projections, verify, rebuild, export/import (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    InvalidArgumentError,
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
    assert {(g["prov:entity"], g["prov:activity"]) for g in prov["wasGeneratedBy"].values()} == {
        (f"ledger:{model.id}/v1", f"ledger:{run.id}/v1/activity"),  # model produced_by run
        (f"ledger:{run.id}/v1", f"ledger:{run.id}/v1/activity"),  # the run's record, by the run
    }
    assert f"ledger:{run.id}/v1" in prov["entity"]
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


def _prov_typing_problems(prov: dict[str, Any]) -> list[str]:
    """Each relation end whose PROV type is wrong (an entity where an activity belongs, or undeclared)."""
    entities, activities = set(prov["entity"]), set(prov.get("activity", {}))
    ends = {
        "wasDerivedFrom": (("prov:generatedEntity", entities), ("prov:usedEntity", entities)),
        "used": (("prov:activity", activities), ("prov:entity", entities)),
        "wasGeneratedBy": (("prov:entity", entities), ("prov:activity", activities)),
        "wasInfluencedBy": (("prov:influencee", entities | activities), ("prov:influencer", entities | activities)),
    }
    return [
        f"{relation} {key} {role}={rel[role]}"
        for relation, roles in ends.items()
        for key, rel in prov.get(relation, {}).items()
        for role, allowed in roles
        if rel[role] not in allowed
    ] + [f"{key} is both an entity and an activity" for key in entities & activities]


async def test_prov_export_types_every_relation_end(manager: ArtifactManager) -> None:
    """An artifact that acts (evaluated_on) and is derived (derived_from) stays an entity, with an
    activity of its own that generated it: no relation names an activity where PROV wants an entity."""
    m = manager
    data = await m.save(ArtifactIn(data={"name": "dataset"}))
    model = await m.save(ArtifactIn(data={"name": "model"}))
    preds = await m.save(ArtifactIn(data={"name": "predictions"}))
    ev = await m.save(ArtifactIn(data={"name": "evaluation"}))
    run = await m.save(ArtifactIn(data={"name": "train run"}))
    await m.link(model.id, data.id, "derived_from")
    await m.link(model.id, run.id, "produced_by")
    await m.link(run.id, data.id, "used")
    await m.link(preds.id, model.id, "derived_from")
    await m.link(ev.id, preds.id, "derived_from")
    await m.link(ev.id, model.id, "evaluated_on")
    prov = (await m.lineage(ev.id)).to_prov()
    assert _prov_typing_problems(prov) == []
    assert {f"ledger:{a.id}/v1" for a in (data, model, preds, ev, run)} == set(prov["entity"])
    assert prov["entity"][f"ledger:{ev.id}/v1"]["ledger:version"] == 1
    assert set(prov["activity"]) == {f"ledger:{ev.id}/v1/activity", f"ledger:{run.id}/v1/activity"}
    used = {(u["prov:activity"], u["prov:entity"], u["prov:role"]) for u in prov["used"].values()}
    assert used == {
        (f"ledger:{ev.id}/v1/activity", f"ledger:{model.id}/v1", "evaluated_on"),
        (f"ledger:{run.id}/v1/activity", f"ledger:{data.id}/v1", "used"),
    }
    generated = {(g["prov:entity"], g["prov:activity"]) for g in prov["wasGeneratedBy"].values()}
    assert (f"ledger:{ev.id}/v1", f"ledger:{ev.id}/v1/activity") in generated
    derived = {(d["prov:generatedEntity"], d["prov:usedEntity"]) for d in prov["wasDerivedFrom"].values()}
    assert (f"ledger:{ev.id}/v1", f"ledger:{preds.id}/v1") in derived


async def test_lineage_both_is_upstream_plus_downstream(manager: ArtifactManager) -> None:
    """``both`` is the union of the two walks from the start: a sibling derived from the same
    dataset is neither upstream nor downstream of the model, so it is not in the graph."""
    m = manager
    data = await m.save(ArtifactIn(data={"name": "dataset"}))
    raw = await m.save(ArtifactIn(data={"name": "raw"}))
    model = await m.save(ArtifactIn(data={"name": "model"}))
    sibling = await m.save(ArtifactIn(data={"name": "sibling model"}))
    preds = await m.save(ArtifactIn(data={"name": "predictions"}))
    ev = await m.save(ArtifactIn(data={"name": "evaluation"}))
    await m.link(data.id, raw.id, "derived_from")
    await m.link(model.id, data.id, "derived_from")
    await m.link(sibling.id, data.id, "derived_from")
    await m.link(preds.id, model.id, "derived_from")
    await m.link(ev.id, preds.id, "derived_from")
    up = await m.lineage(model.id, direction="upstream")
    down = await m.lineage(model.id, direction="downstream")
    both = await m.lineage(model.id, direction="both")
    assert both.nodes == {**up.nodes, **down.nodes}
    assert both.nodes == {str(model.id): 0, str(data.id): 1, str(raw.id): 2, str(preds.id): 1, str(ev.id): 2}
    assert str(sibling.id) not in both.nodes
    assert sorted(map(_edge, both.edges)) == sorted(map(_edge, [*up.edges, *down.edges]))
    shallow = await m.lineage(model.id, direction="both", depth=1)
    assert set(shallow.nodes) == {str(model.id), str(data.id), str(preds.id)}


def _edge(e: Any) -> tuple[str, int, str, str, int]:
    return (e.src_id, e.src_version, e.kind, e.dst_id, e.dst_version)


async def test_lineage_and_resolve_alias_refuse_bad_arguments(manager: ArtifactManager) -> None:
    m = manager
    a = await m.save(ArtifactIn(data={"name": "a"}))
    await m.set_alias("p", a.id)
    naive = datetime(2026, 1, 1)
    bad_as_of: list[Any] = [naive, "2026-01-01", 5]
    for value in bad_as_of:
        with pytest.raises(InvalidArgumentError, match="as_of"):
            await m.lineage(a.id, as_of=value)
        with pytest.raises(InvalidArgumentError, match="as_of"):
            await m.resolve_alias("p", as_of=value)
    bad_kinds: list[Any] = [5, b"derived_from", bytearray(b"used"), {"used": 1}, ["used", 3]]
    for value in bad_kinds:
        with pytest.raises(InvalidArgumentError, match="kinds"):
            await m.lineage(a.id, kinds=value)
    with pytest.raises(InvalidLinkError, match="unknown link kind"):
        await m.lineage(a.id, kinds=["used", "inspired_by"])
    assert set((await m.lineage(a.id, kinds=("used", "derived_from"))).nodes) == {str(a.id)}
    assert set((await m.lineage(a.id, kinds="used")).nodes) == {str(a.id)}


async def test_lineage_labels_as_of(engine: AsyncEngine) -> None:
    """``lineage(as_of=t)`` labels each node with its data at t: a dataset renamed since keeps its
    old name, an artifact deleted since still has its label."""
    clock = Clock()
    async with Ledger.open(engine, secret=SECRET, clock=clock) as ledger, ledger.manager() as m:
        ds = await m.save(ArtifactIn(data={"name": "sales-q1"}))
        model = await m.save(ArtifactIn(data={"name": "model v1"}))
        later = await m.save(ArtifactIn(data={"name": "made later"}))
        await m.link(model.id, ds.id, "derived_from")
        t = clock.now
        await m.save(ArtifactIn(id=ds.id, data={"name": "renamed later"}))
        await m.link(later.id, model.id, "derived_from")
        await m.delete_by_id(later.id, reason="gone")
        now = await m.lineage(model.id, direction="both")
        assert now.labels[str(ds.id)] == "renamed later"
        then = await m.lineage(model.id, direction="both", as_of=t)
        assert then.labels == {str(ds.id): "sales-q1", str(model.id): "model v1"}
        await m.delete_by_id(model.id)
        after_delete = await m.lineage(model.id, as_of=t)
        assert after_delete.labels == {str(ds.id): "sales-q1", str(model.id): "model v1"}
        # without as_of too: a deleted node is labelled as it last stood
        current = await m.lineage(model.id, direction="both")
        assert str(model.id) in current.nodes
        assert current.labels[str(model.id)] == "model v1"
        assert current.labels[str(ds.id)] == "renamed later"


async def test_a_removed_protected_alias_comes_back_unprotected(manager: ArtifactManager) -> None:
    """Protection ends with the alias: removed (here by a cascade delete), the name is set again
    without a reason and is not protected."""
    m = manager
    a = await m.save(ArtifactIn(data={"name": "a"}))
    b = await m.save(ArtifactIn(data={"name": "b"}))
    await m.set_alias("p", a.id)
    await m.protect_alias("p")
    await m.delete_by_id(a.id, cascade=True)
    with pytest.raises(AliasNotFoundError):
        await m.resolve_alias("p")
    again = await m.set_alias("p", b.id)
    assert again.protected is False
    assert [x.protected for x in await m.aliases()] == [False]
    assert (await m.alias_history("p"))[-1].protected is False
    await m.set_alias("p", b.id)  # where it points: a no-op
    await m.remove_alias("p")  # unprotected: no reason needed
    await m.set_alias("p", b.id)
    await m.protect_alias("p")
    await m.remove_alias("p", reason="retired")
    assert (await m.set_alias("p", b.id)).protected is False


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
