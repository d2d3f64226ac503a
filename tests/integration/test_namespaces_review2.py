"""Namespaces, from a second adversarial review (a careless operator's and an attacker's), on SQLite
files and PostgreSQL: what a namespace's blob directory, name and tables may and may not be."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, SchemaTamperedError
from ledger_support import SECRET, drop_namespace_schemas

NAMES = ("team-a", "team-b", "public", "pg_catalog", "information_schema", "select", "x" * 63)


@pytest.fixture(params=["sqlite-file", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def base(backend: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test's engine; on PostgreSQL the namespaces' schemas are dropped afterwards."""
    yield engine
    if backend == "postgresql":
        await drop_namespace_schemas(engine, NAMES)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# ---- blob directories -------------------------------------------------------------------------


async def test_a_blob_directory_given_as_a_path_works_in_a_namespace(base: AsyncEngine, tmp_path: Path) -> None:
    """blobs= takes an absolute path as well as a file:/// URL; in a namespace the path became a
    plain string, refused as 'not a file:/// URL' after the namespace's tables were made."""
    blobs = tmp_path / "blobs"
    async with Ledger.open(base, secret=SECRET, namespace="team-a", blobs=blobs) as a, a.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"content": b"w" * 1000}))
        digest = (await manager.history(saved.id))[-1].content_hash
    assert digest is not None
    assert [p for p in _files(tmp_path / "blobs.namespaces" / "team-a") if p.name == digest]
    assert not _files(blobs)


async def test_a_namespaces_blob_directory_is_never_inside_the_default_one(base: AsyncEngine, tmp_path: Path) -> None:
    """A blobs URL ending in an encoded slash (file:///DIR%2F) put the namespace's directory at
    DIR/.namespaces/NAME, inside the default namespace's: the default's verify then reported the
    namespace's files as corrupt blobs (and its gc walked them)."""
    blobs = f"file://{tmp_path}/blobs%2F"
    async with (
        Ledger.open(base, secret=SECRET, blobs=blobs) as default,
        Ledger.open(base, secret=SECRET, namespace="team-a", blobs=blobs) as a,
    ):
        async with a.manager() as manager:
            await manager.save(ArtifactIn(data={"content": b"w" * 1000}))
        assert (await a.verify()).ok
        report = await default.verify()
        assert report.ok, report.problem
        assert (await default.gc(dry_run=True)).blobs == 0
    assert not _files(tmp_path / "blobs")
    assert _files(tmp_path / "blobs.namespaces" / "team-a")


# ---- a namespace's storage is its own -----------------------------------------------------------


@pytest.mark.parametrize("link", ["symbolic", "hard"])
@pytest.mark.parametrize("target", ["default", "team-a"])
async def test_a_namespace_file_linked_to_another_ledgers_file_is_refused(
    backend: str, base: AsyncEngine, tmp_path: Path, link: str, target: str
) -> None:
    """SQLite: FILE.namespaces/team-b.db made a link to the default's file or to team-a's was opened
    as namespace team-b: it read and wrote the other's log, under the other's ledger id and key (the
    key file is found through the link). PostgreSQL has no such link (a schema per namespace): there
    the namespaces stay apart."""
    async with (
        Ledger.open(base, secret=SECRET) as default,
        Ledger.open(base, secret=SECRET, namespace="team-a") as a,
    ):
        async with default.manager() as manager:
            mine = await manager.save(ArtifactIn(data={"who": "default"}))
        async with a.manager() as manager:
            theirs = await manager.save(ArtifactIn(data={"who": "team-a"}))
    if backend == "postgresql":
        async with Ledger.open(base, secret=SECRET, namespace="team-b") as b, b.manager() as manager:
            assert await manager.find_by_id(mine.id) is None
            assert await manager.find_by_id(theirs.id) is None
        return
    database = base.url.database
    assert database is not None
    folder = Path(database).with_name(Path(database).name + ".namespaces")
    source = Path(database) if target == "default" else folder / "team-a.db"
    made = folder / "team-b.db"
    if link == "symbolic":
        made.symlink_to(source)
    else:
        made.hardlink_to(source)
    before = source.read_bytes()
    for create in (True, False):
        with pytest.raises(SchemaTamperedError) as caught:
            async with Ledger.open(base, secret=SECRET, namespace="team-b", create=create):
                pass
        assert str(made) in str(caught.value)
        assert str(source) in str(caught.value)
    assert source.read_bytes() == before
    assert not list(folder.glob("team-b.db.key"))
