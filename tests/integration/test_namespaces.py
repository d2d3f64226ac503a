"""Namespaces on every backend: independent ledgers in one database that cannot see each other,
whose writers never wait for each other, and that are only created by a write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, InvalidArgumentError, Ledger, LedgerNotFoundError, NotAReplicaError
from artifact_ledger.transfer import export_ledger, import_bundle
from artifact_ledger.verify_bundle import verify_bundle
from ledger_support import SECRET, drop_namespace_schemas

NAMES = ("team-a", "team-b", "imported")


async def _schemas(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return {row[0] for row in await conn.execute(text("SELECT nspname FROM pg_namespace"))}


@pytest.fixture(params=["sqlite-file", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """An in-memory database has no namespaces (test_memory_sqlite_has_no_namespaces)."""
    return str(request.param)


@pytest.fixture
async def base(backend: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test's engine; on PostgreSQL the namespaces' schemas are dropped afterwards."""
    yield engine
    if backend == "postgresql":
        await drop_namespace_schemas(engine, NAMES)


async def test_namespaces_do_not_see_each_other(base: AsyncEngine) -> None:
    async with (
        Ledger.open(base, secret=SECRET) as default,
        Ledger.open(base, secret=SECRET, namespace="team-a") as a,
        Ledger.open(base, secret=SECRET, namespace="team-b") as b,
    ):
        assert (default.namespace, a.namespace, b.namespace) == ("default", "team-a", "team-b")
        assert len({default.ledger_id, a.ledger_id, b.ledger_id}) == 3  # each its own id, so its own key
        async with a.manager() as manager:
            mine = await manager.save(ArtifactIn(data={"team": "a"}))
            await manager.save(ArtifactIn(parent_id=mine.id, data={"child": True}))
        async with b.manager() as manager:
            assert await manager.find_by_id(mine.id) is None
            theirs = await manager.save(ArtifactIn(data={"team": "b"}))
            assert await manager.count() == 1
        async with default.manager() as manager:
            assert await manager.find_by_id(mine.id) is None
            assert await manager.find_by_id(theirs.id) is None
            assert await manager.count() == 0
        report_a, report_b, report_default = await a.verify(), await b.verify(), await default.verify()
        assert (report_a.ok, report_b.ok, report_default.ok) == (True, True, True)
        assert (report_a.events_checked, report_b.events_checked, report_default.events_checked) == (2, 1, 0)
        assert (await a.head()).position == 2  # positions count per namespace
        assert (await b.head()).position == 1
        assert await default.namespaces() == ["default", "team-a", "team-b"]
        assert await a.namespaces() == ["default", "team-a", "team-b"]


async def test_writers_of_different_namespaces_do_not_wait(base: AsyncEngine) -> None:
    async with (
        Ledger.open(base, secret=SECRET, namespace="team-a") as a,
        Ledger.open(base, secret=SECRET, namespace="team-b") as b,
        a.manager() as holder,
        a.manager() as same,
        b.manager() as other,
    ):
        await holder.save(ArtifactIn(data={"warm": True}))
        async with holder.transaction():
            await holder.save(ArtifactIn(data={"holds": "the lock of team-a"}))
            await holder.count()  # sent: team-a's write lock is held until the block ends
            waiting = asyncio.ensure_future(same.save(ArtifactIn(data={"waits": True})))
            saved = await asyncio.wait_for(other.save(ArtifactIn(data={"team": "b"})), timeout=10)
            assert saved.version == 1
            await asyncio.sleep(0.3)
            assert not waiting.done()  # the same namespace waits for the lock
        assert (await waiting).version == 1  # and gets it once the transaction ends
        assert (await a.verify()).events_checked == 3
        assert (await b.verify()).events_checked == 1


async def test_an_unknown_namespace_is_not_created_by_a_read(backend: str, base: AsyncEngine, tmp_path: Path) -> None:
    before = await _schemas(base) if backend == "postgresql" else None
    with pytest.raises(LedgerNotFoundError, match="no namespace 'team-a'"):
        async with Ledger.open(base, secret=SECRET, namespace="team-a", create=False):
            pass
    if backend == "postgresql":
        assert await _schemas(base) == before
    else:
        assert not (tmp_path / "ledger.db.namespaces").exists()
    async with Ledger.open(base, secret=SECRET) as default:
        assert await default.namespaces() == ["default"]
    async with Ledger.open(base, secret=SECRET, namespace="team-a") as a, a.manager() as manager:
        await manager.save(ArtifactIn(data={"now": "it exists"}))
    async with Ledger.open(base, secret=SECRET, namespace="team-a", create=False) as a, a.manager() as manager:
        assert await manager.count() == 1


@pytest.mark.parametrize("name", ["", "Team", "-a", "_a", "a" * 64, "a b", "../x", "a/b", "é", "a;drop", 5, None])
async def test_bad_namespace_names_are_refused(base: AsyncEngine, name: object) -> None:
    with pytest.raises(InvalidArgumentError, match="not a namespace name"):
        async with Ledger.open(base, secret=SECRET, namespace=name):  # type: ignore[arg-type]
            pass


async def test_the_default_namespace_is_the_ledger_as_it_was(base: AsyncEngine) -> None:
    async with Ledger.open(base, secret=SECRET) as ledger, ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"before": "namespaces"}))
        head = await ledger.head()
    async with Ledger.open(base, secret=SECRET, namespace="default") as ledger, ledger.manager() as manager:
        assert await ledger.head() == head  # nothing rewritten: the same log, the same head hash
        found = await manager.find_by_id(saved.id)
        assert found is not None
        assert (await ledger.verify()).ok


async def test_export_one_namespace_and_import_it_into_another(base: AsyncEngine, tmp_path: Path) -> None:
    bundle = tmp_path / "team-a.bundle"
    async with Ledger.open(base, secret=SECRET, namespace="team-a") as a, a.manager() as manager:
        root = await manager.save(ArtifactIn(data={"root": True}))
        await manager.save(ArtifactIn(parent_id=root.id, data={"leaf": 1}))
        await export_ledger(a.engine, bundle)
        head = await a.head()
    assert verify_bundle(bundle).ok
    async with Ledger.open(base, secret=SECRET, namespace="imported") as copy:
        await import_bundle(copy.engine, bundle)
        assert await copy.head() == head
        async with copy.manager() as manager:
            found = await manager.find_by_id(root.id)
            assert found is not None
        assert (await copy.verify()).ok
    async with Ledger.open(base, secret=SECRET) as default, default.manager() as manager:
        assert await manager.find_by_id(root.id) is None  # only the namespace imported into has it


async def test_memory_sqlite_has_no_namespaces() -> None:
    with pytest.raises(InvalidArgumentError, match="in-memory SQLite"):
        async with Ledger.open("sqlite+aiosqlite:///:memory:", secret=SECRET, namespace="team-a"):
            pass
    async with Ledger.open("sqlite+aiosqlite:///:memory:", secret=SECRET) as ledger:
        assert await ledger.namespaces() == ["default"]


async def test_a_read_url_is_checked_in_a_namespace_as_in_the_default(base: AsyncEngine, tmp_path: Path) -> None:
    """A namespace takes a read replica as the default namespace does (test_replicas.py reads one):
    a read_url that is no standby is refused with NotAReplicaError, before the namespace is made."""
    copy = f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"
    with pytest.raises(NotAReplicaError, match="is sqlite"):
        async with Ledger.open(base, secret=SECRET, namespace="team-a", read_url=copy):
            pass
    assert not (tmp_path / "copy.db").exists()
    assert not (tmp_path / "ledger.db.namespaces").exists()
    async with Ledger.open(base, secret=SECRET) as default:
        assert await default.namespaces() == ["default"]


async def test_a_namespace_has_a_blob_directory_of_its_own(base: AsyncEngine, tmp_path: Path) -> None:
    """gc in one namespace must never see another's files: each has its own directory, beside the
    default one, not inside it."""
    blobs = tmp_path / "blobs"
    async with Ledger.open(base, secret=SECRET, namespace="team-a", blobs=f"file://{blobs}") as a:
        async with a.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"name": "weights", "content": b"w" * 1000}))
            digest = (await manager.history(saved.id))[-1].content_hash
            assert digest is not None
        assert (await a.gc(dry_run=True)).blobs == 0
    files = [p for p in (tmp_path / "blobs.namespaces" / "team-a").rglob("*") if p.is_file()]
    assert [p.name for p in files if digest in p.name]
    assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()]
    async with Ledger.open(base, secret=SECRET, blobs=f"file://{blobs}") as default:
        assert (await default.gc(dry_run=True)).blobs == 0  # the default's gc sees none of team-a's files


async def test_a_namespace_opened_by_many_at_once_is_made_once(base: AsyncEngine) -> None:
    """The first write to a namespace creates it; many first writes at once (PostgreSQL's CREATE
    SCHEMA IF NOT EXISTS is not safe against itself) all open the same one ledger."""

    async def first_write(n: int) -> str:
        async with Ledger.open(base, secret=SECRET, namespace="team-b") as ledger, ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"n": n}))
            return ledger.ledger_id

    ids = await asyncio.gather(*(first_write(n) for n in range(12)))
    assert len(set(ids)) == 1
    async with Ledger.open(base, secret=SECRET, namespace="team-b", create=False) as ledger:
        async with ledger.manager() as manager:
            assert await manager.count() == 12
        assert (await ledger.verify()).ok


async def test_a_namespace_beside_a_missing_folder_is_a_ledger_error(tmp_path: Path) -> None:
    from artifact_ledger import LedgerUnavailableError

    url = f"sqlite+aiosqlite:///{tmp_path}/missing/ledger.db"
    with pytest.raises(LedgerUnavailableError, match="missing"):
        async with Ledger.open(url, secret=SECRET, namespace="team-a"):
            pass
    assert not (tmp_path / "missing").exists()
