"""Ledger features inside one namespace see only that namespace: checkpoints and proofs, aliases,
lineage, audit, rebuild, retention; and a lock timeout in one namespace leaves the other writing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, RetentionPolicy, create_engine, migrate
from artifact_ledger.errors import (
    AliasNotFoundError,
    ArtifactNotFoundError,
    ContentExpiredError,
    InvalidCheckpointError,
    LockTimeoutError,
    ProofRangeError,
)
from ledger_support import SECRET, drop_namespace_schemas, make_format_1

NAMES = ("team-a", "team-b")


@pytest.fixture(params=["sqlite-file", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def base(backend: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test's engine; on PostgreSQL the namespaces' schemas are dropped afterwards."""
    yield engine
    if backend == "postgresql":
        await drop_namespace_schemas(engine, NAMES)


async def test_checkpoints_and_proofs_are_per_namespace(base: AsyncEngine, tmp_path: Path) -> None:
    async with (
        Ledger.open(base, secret=SECRET, namespace="team-a") as a,
        Ledger.open(base, secret=SECRET, namespace="team-b") as b,
    ):
        async with a.manager() as manager:
            await manager.save(ArtifactIn(data={"n": 1}))
            await manager.save(ArtifactIn(data={"n": 2}))
        async with b.manager() as manager:
            await manager.save(ArtifactIn(data={"n": 1}))
        assert ((await a.merkle_root()).size, (await b.merkle_root()).size) == (2, 1)
        signed = await a.checkpoint(key_dir=tmp_path)
        assert (tmp_path / f"{a.ledger_id}.ed25519").exists()  # the key of team-a's own ledger id
        assert not (tmp_path / f"{b.ledger_id}.ed25519").exists()
        assert (await a.verify_checkpoint(signed)).ok
        with pytest.raises(InvalidCheckpointError):
            await b.verify_checkpoint(signed)  # a note of another ledger
        assert (await a.prove_inclusion(2)).verify()
        with pytest.raises(ProofRangeError):
            await b.prove_inclusion(2)  # team-b's log holds one event


async def test_aliases_lineage_audit_and_rebuild_stay_in_their_namespace(base: AsyncEngine) -> None:
    async with (
        Ledger.open(base, secret=SECRET, namespace="team-a") as a,
        Ledger.open(base, secret=SECRET, namespace="team-b") as b,
    ):
        async with a.manager() as manager:
            data = await manager.save(ArtifactIn(data={"name": "dataset"}))
            model = await manager.save(ArtifactIn(data={"name": "model"}))
            await manager.set_alias("prod", model.id)
            await manager.link(model.id, data.id, "derived_from")
            upstream = await manager.lineage(model.id)
            assert {str(data.id), str(model.id)} <= {str(node) for node in upstream.nodes}
            assert len((await manager.audit()).entries) == 4
        async with b.manager() as manager:
            with pytest.raises(AliasNotFoundError):
                await manager.resolve_alias("prod")
            with pytest.raises(ArtifactNotFoundError):
                await manager.lineage(model.id)
            await manager.save(ArtifactIn(data={"name": "b's own"}))
            assert [entry.event_type for entry in (await manager.audit()).entries] == ["artifact.created"]
        assert await a.rebuild() == 4
        assert await b.rebuild() == 1
        async with a.manager() as manager:
            assert (await manager.resolve_alias("prod")).id == model.id  # the rebuilt projection
        assert (await a.verify()).events_checked == 4
        assert (await b.verify()).events_checked == 1


async def test_a_lock_timeout_in_one_namespace_leaves_nothing_and_the_other_writes(
    backend: str, base: AsyncEngine
) -> None:
    if backend == "postgresql":
        async with base.connect() as conn:
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
        short = create_engine(
            base.url, lock_timeout=0.3, connect_args={"server_settings": {"search_path": f'"{schema}"'}}
        )
    else:
        short = create_engine(base.url, lock_timeout=0.3)
    try:
        async with (
            Ledger.open(short, secret=SECRET, namespace="team-a") as a,
            Ledger.open(short, secret=SECRET, namespace="team-b") as b,
            a.manager() as holder,
            a.manager() as same,
            b.manager() as other,
        ):
            await holder.save(ArtifactIn(data={"warm": True}))
            async with holder.transaction():
                await holder.save(ArtifactIn(data={"holds": "team-a's lock"}))
                await holder.count()
                with pytest.raises(LockTimeoutError):
                    await same.save(ArtifactIn(data={"times": "out"}))
                assert (await other.save(ArtifactIn(data={"team": "b"}))).version == 1
            assert await same.count() == 2  # the timed-out save wrote nothing
            report = await a.verify()
            assert (report.ok, report.events_checked) == (True, 2)
            assert (await b.verify()).events_checked == 1
    finally:
        await short.dispose()


async def test_retention_in_one_namespace_expires_nothing_of_another(base: AsyncEngine) -> None:
    """The same bytes in both namespaces: team-a's retention deletes its copy, team-b keeps its own."""
    contents = [b"v1" * 100, b"v2" * 100]
    ids: dict[str, str] = {}
    async with (
        Ledger.open(base, secret=SECRET, namespace="team-a") as a,
        Ledger.open(base, secret=SECRET, namespace="team-b") as b,
    ):
        for name, ledger in (("team-a", a), ("team-b", b)):
            async with ledger.manager() as manager:
                first = await manager.save(ArtifactIn(data={"name": "model", "content": contents[0]}))
                await manager.save(ArtifactIn(id=first.id, data={"name": "model", "content": contents[1]}))
                ids[name] = str(first.id)
        report = await a.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
        assert [(e.artifact_id, e.version) for e in report.expired] == [(ids["team-a"], 1)]
        async with a.manager() as manager:
            with pytest.raises(ContentExpiredError):
                await manager.find_by_id(ids["team-a"], version=1)
        async with b.manager() as manager:
            kept = await manager.find_by_id(ids["team-b"], version=1)
            assert kept is not None
            assert kept.data["content"] == contents[0]
        assert (await b.apply_retention(RetentionPolicy(keep_last=1))).expired[0].artifact_id == ids["team-b"]
        assert (await a.verify()).ok
        assert (await b.verify()).ok


async def test_an_old_ledger_migrated_is_the_default_namespace_unchanged(base: AsyncEngine) -> None:
    """A ledger made before namespaces (schema at revision 0003), migrated to the head: the same
    events, the same head hash, verify passes, and it is the ``default`` namespace."""
    await make_format_1(base)  # a ledger from before chain format 2: it can go below revision 0007
    async with Ledger.open(base, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save_all([ArtifactIn(data={"i": i}) for i in range(5)])
        head = await ledger.head()
        events = await ledger.events_since(0)
    await migrate.upgrade(base)  # adopts the create_all schema at the head revision
    await migrate.downgrade(base, "0003")
    await migrate.upgrade(base)
    async with Ledger.open(base, secret=SECRET, namespace="default", create=False) as ledger:
        assert ledger.namespace == "default"
        assert await ledger.head() == head
        assert await ledger.events_since(0) == events  # no event rewritten
        assert (await ledger.verify()).ok
        assert await ledger.namespaces() == ["default"]
        async with Ledger.open(base, secret=SECRET, namespace="team-a") as a, a.manager() as manager:
            await manager.save(ArtifactIn(data={"new": "namespace"}))
        assert await ledger.head() == head  # a namespace beside it changes nothing of it
        assert await ledger.namespaces() == ["default", "team-a"]
