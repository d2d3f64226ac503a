"""The bad-input table: every refusal has its exact exception type and a message that names the problem.

Each database case runs on every backend and must also finish promptly (no hang), leave every
ledger table exactly as it was (no partial write), and leave the session usable. None may
surface a bare driver error: the type check is exact.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import tampered
from ulid import ULID

from artifact_ledger import (
    ArtifactDeletedError,
    ArtifactHasChildrenError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactRepository,
    ConcurrencyError,
    ContentTypeMismatchError,
    DataNotSerializableError,
    FixedClock,
    InvalidArgumentError,
    InvalidArtifactDataError,
    InvalidBundleError,
    InvalidMoveError,
    Keyring,
    Ledger,
    LedgerError,
    LedgerUnavailableError,
    MalformedIdError,
    UntrustedContentError,
    create_engine,
)
from artifact_ledger.bundle import load_bundle, write_bundle
from artifact_ledger.errors import BundleRuleError, ExportPathNotEmptyError, LedgerNotFoundError
from artifact_ledger.store.tables import table_names
from ledger_support import SECRET

MISSING = str(ULID())
ML = {"status": "success", "started_at": "a", "completed_at": "b", "duration_seconds": 1.0}


@dataclass
class Ctx:
    manager: ArtifactManager
    engine: AsyncEngine
    tmp: Path
    ids: dict[str, str]

    async def bundle(self, name: str) -> Path:
        path = self.tmp / name
        await write_bundle(self.engine, path)
        return path


async def seed(manager: ArtifactManager) -> dict[str, str]:
    root = await manager.save(ArtifactIn(data={"name": "root", "content": b"weights"}))
    child = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "child"}))
    grandchild = await manager.save(ArtifactIn(parent_id=child.id, data={"name": "grandchild"}))
    gone = await manager.save(ArtifactIn(data={"name": "gone"}))
    orphan = await manager.save(ArtifactIn(parent_id=gone.id, data={"name": "orphan"}))
    await manager.delete_by_id(gone.id, cascade=True)
    return {
        k: str(v.id)
        for k, v in (("root", root), ("child", child), ("grandchild", grandchild), ("gone", gone), ("orphan", orphan))
    }


async def naive_clock_save(c: Ctx) -> object:
    repo = ArtifactRepository(c.manager.repo.session, secret=SECRET, clock=lambda: datetime(2025, 1, 1))
    return await ArtifactManager(repo).save(ArtifactIn(data={"x": 1}))


async def corrupted_blob_read(c: Ctx) -> object:
    async with tampered(c.engine) as conn:
        await conn.execute(text("UPDATE ledger_blobs SET data = :d"), {"d": b"weightz"})
    return await c.manager.find_by_id(c.ids["root"])


async def truncated_bundle(c: Ctx) -> object:
    path = await c.bundle("truncated")
    events = path / "events.jsonl"
    events.write_bytes(events.read_bytes()[:-40])
    return load_bundle(path)


async def forged_bundle(c: Ctx) -> object:
    path = await c.bundle("forged")
    events = path / "events.jsonl"
    events.write_bytes(events.read_bytes().replace(b'"name\\":\\"root\\"', b'"name\\":\\"boot\\"', 1))
    return load_bundle(path)


async def bundle_without_manifest(c: Ctx) -> object:
    path = await c.bundle("interrupted")
    (path / "manifest.json").unlink()
    return load_bundle(path)


async def newer_bundle(c: Ctx) -> object:
    path = await c.bundle("newer")
    manifest = path / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"format_version":1', b'"format_version":2'))
    return load_bundle(path)


async def export_into_a_full_directory(c: Ctx) -> object:
    (c.tmp / "full").mkdir()
    (c.tmp / "full" / "keep.txt").write_text("mine")
    return await write_bundle(c.engine, c.tmp / "full")


async def verify_since(c: Ctx, since: Any) -> object:
    async with Ledger.open(c.engine, secret=SECRET) as ledger:
        return await ledger.verify(since=since)


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[Ctx], Awaitable[object]]
    error: type[Exception]
    fragments: tuple[str, ...]


def case(name: str, call: Callable[[Ctx], Awaitable[object]], error: type[Exception], *fragments: str) -> Any:
    return pytest.param(Case(name, call, error, fragments), id=name)


DB_CASES = [
    case(
        "malformed ULID to read",
        lambda c: c.manager.find_by_id("not-a-ulid"),
        MalformedIdError,
        "'not-a-ulid'",
        "not a valid ULID",
    ),
    case(
        "malformed ULID to move",
        lambda c: c.manager.move("0" * 27, None),
        MalformedIdError,
        "'" + "0" * 27 + "'",
        "not a valid ULID",
    ),
    case("malformed ULID to delete", lambda c: c.manager.delete_by_id("ZZZ"), MalformedIdError, "'ZZZ'"),
    case(
        "unknown parent",
        lambda c: c.manager.save(ArtifactIn(parent_id=ULID.from_str(MISSING), data={})),
        ArtifactNotFoundError,
        MISSING,
        "parent",
    ),
    case("unknown id to move", lambda c: c.manager.move(MISSING, None), ArtifactNotFoundError, MISSING, "not found"),
    case("unknown id to restore", lambda c: c.manager.restore(MISSING), ArtifactNotFoundError, MISSING, "not found"),
    case("unknown id's history", lambda c: c.manager.history(MISSING), ArtifactNotFoundError, MISSING, "not found"),
    case("move under itself", lambda c: c.manager.move(c.ids["root"], c.ids["root"]), InvalidMoveError, "own parent"),
    case(
        "move under a descendant (cycle)",
        lambda c: c.manager.move(c.ids["root"], c.ids["grandchild"]),
        InvalidMoveError,
        "descendants",
    ),
    case(
        "save that closes a cycle",
        lambda c: c.manager.save(
            ArtifactIn(id=ULID.from_str(c.ids["child"]), parent_id=ULID.from_str(c.ids["grandchild"]), data={})
        ),
        InvalidMoveError,
        "descendants",
    ),
    case(
        "stale expected_version on save",
        lambda c: c.manager.save(ArtifactIn(id=ULID.from_str(c.ids["root"]), data={"v": 2}), expected_version=7),
        ConcurrencyError,
        "at version 1",
        "expected version 7",
    ),
    case(
        "expected_version 0 for an existing id",
        lambda c: c.manager.save(ArtifactIn(id=ULID.from_str(c.ids["root"]), data={"v": 2}), expected_version=0),
        ConcurrencyError,
        "expected version 0",
    ),
    case(
        "stale expected_version on move",
        lambda c: c.manager.move(c.ids["child"], None, expected_version=3),
        ConcurrencyError,
        "expected version 3",
    ),
    case(
        "stale expected_version on delete",
        lambda c: c.manager.delete_by_id(c.ids["grandchild"], expected_version=9),
        ConcurrencyError,
        "expected version 9",
    ),
    case(
        "delete with live children",
        lambda c: c.manager.delete_by_id(c.ids["root"]),
        ArtifactHasChildrenError,
        "cascade=True",
        "2 live descendant",
    ),
    case(
        "save the id of a deleted artifact",
        lambda c: c.manager.save(ArtifactIn(id=ULID.from_str(c.ids["gone"]), data={})),
        ArtifactDeletedError,
        "was deleted",
        "manager.restore(",
    ),
    case(
        "restore under a deleted parent",
        lambda c: c.manager.restore(c.ids["orphan"]),
        ArtifactNotFoundError,
        "restore",
        "first",
    ),
    case(
        "metadata that is a set",
        lambda c: c.manager.save(ArtifactIn(data={"metadata": {"s": {1}}})),
        DataNotSerializableError,
        "data['metadata']['s']",
        "set",
    ),
    case(
        "NaN in metadata",
        lambda c: c.manager.save(ArtifactIn(data={"x": float("nan")})),
        DataNotSerializableError,
        "data['x']",
        "not JSON",
    ),
    case(
        "a key that is not a string",
        lambda c: c.manager.save(ArtifactIn(data={"m": {1: "a"}})),
        DataNotSerializableError,
        "(key)",
    ),
    case(
        "an integer beyond 64 bits",
        lambda c: c.manager.save(ArtifactIn(data={"n": 2**70})),
        DataNotSerializableError,
        "data['n']",
    ),
    case(
        "declared JSON, content an object",
        lambda c: c.manager.save(ArtifactIn(data={"content": object(), "content_type": "application/json"})),
        ContentTypeMismatchError,
        "'application/json'",
        "not plain JSON",
    ),
    case(
        "declared bytes, content a str",
        lambda c: c.manager.save(ArtifactIn(data={"content": "text", "content_type": "application/octet-stream"})),
        ContentTypeMismatchError,
        "application/octet-stream",
        "builtins.str",
    ),
    case(
        "declared .npy, content a list",
        lambda c: c.manager.save(ArtifactIn(data={"content": [1, 2], "content_type": "application/x-npy"})),
        ContentTypeMismatchError,
        "not a numpy.ndarray",
    ),
    case(
        "declared DataFrame, content a str",
        lambda c: c.manager.save(
            ArtifactIn(data={"content": "a,b", "content_type": "application/vnd.chapkit.dataframe+json"})
        ),
        ContentTypeMismatchError,
        "vnd.chapkit.dataframe+json",
    ),
    case(
        "65 tags",
        lambda c: c.manager.save(ArtifactIn(data={}, tags=[f"t{i}" for i in range(65)])),
        InvalidArtifactDataError,
        "64",
    ),
    case(
        "an oversized tag",
        lambda c: c.manager.save(ArtifactIn(data={}, tags=["x" * 256])),
        InvalidArtifactDataError,
        "255",
    ),
    case(
        "invalid typed data",
        lambda c: c.manager.save(ArtifactIn(data={"type": "ml_training_workspace", "metadata": ML})),
        InvalidArtifactDataError,
        "config_id",
    ),
    case(
        "content that cannot be pickled",
        lambda c: c.manager.save(ArtifactIn(data={"content": lambda: 1})),
        InvalidArtifactDataError,
        "pickled",
    ),
    case("page 0", lambda c: c.manager.find_paginated(0, 10), InvalidArgumentError, "page must be an int from 1"),
    case(
        "iter_all page size 0",
        lambda c: anext(c.manager.iter_all(page_size=0)),
        InvalidArgumentError,
        "page_size",
        "(got 0)",
    ),
    case("a clock that returns naive time", naive_clock_save, ValueError, "naive", "timezone-aware"),
    case("a corrupted blob", corrupted_blob_read, UntrustedContentError, "corrupted", "SHA-256"),
    case(
        "verify since a non-digest",
        lambda c: verify_since(c, "yesterday"),
        InvalidArgumentError,
        "not a head digest",
        "'yesterday'",
    ),
    case("verify since a non-hex hash", lambda c: verify_since(c, (3, "xyz")), InvalidArgumentError, "64 hex digits"),
    case("a truncated bundle", truncated_bundle, BundleRuleError, "truncated", "malformed"),
    case("a forged bundle", forged_bundle, BundleRuleError, "at position 1 (modified)"),
    case("a bundle without its manifest", bundle_without_manifest, BundleRuleError, "no manifest.json"),
    case("a bundle of a newer format", newer_bundle, BundleRuleError, "format_version 2"),
    case(
        "a bundle path that is no directory",
        lambda c: asyncio.to_thread(load_bundle, c.tmp / "nothing"),
        InvalidBundleError,
        "not a directory",
    ),
    case(  # a FileExistsError and an InvalidArgumentError (the CLI exits 2)
        "export into a full directory",
        export_into_a_full_directory,
        ExportPathNotEmptyError,
        "not an empty directory; nothing was written",
    ),
    case(
        "export since a head the log lacks",
        lambda c: write_bundle(c.engine, c.tmp / "x", since=(2, "ab" * 32)),
        ValueError,
        "no event 2",
    ),
]


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {t: int((await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in table_names()}


@pytest.mark.parametrize("bad", DB_CASES)
async def test_refused(bad: Case, manager: ArtifactManager, engine: AsyncEngine, tmp_path: Path) -> None:
    ctx = Ctx(manager, engine, tmp_path, await seed(manager))
    before = await counts(engine)
    with pytest.raises(Exception) as caught:  # noqa: PT011  # the exact type is checked below
        await asyncio.wait_for(bad.call(ctx), timeout=30)
    assert type(caught.value) is bad.error, repr(caught.value)
    for fragment in bad.fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))
    assert await counts(engine) == before
    probe = await manager.save(ArtifactIn(data={"probe": True}))
    assert await manager.find_by_id(probe.id, include_content=False) is not None


def test_the_table_is_large_enough() -> None:
    assert len(DB_CASES) + len(OPEN_CASES) >= 25


async def open_ledger(url: str, **kwargs: Any) -> None:
    async with Ledger.open(url, secret=SECRET, **kwargs):
        pass


def key_file(tmp: Path, mode: int, content: str) -> Keyring:
    path = tmp / "k.key"
    path.write_text(content)
    os.chmod(path, mode)
    return Keyring.from_key_file(path, create=False)


async def sync(call: Callable[[], object]) -> object:
    return call()


OpenCall = Callable[[Path], Awaitable[object]]
OPEN_CASES: list[Any] = [
    pytest.param(
        lambda t: sync(lambda: create_engine("mysql+pymysql://u@h/db")),
        LedgerError,
        ("unsupported database URL scheme mysql+pymysql",),
        id="unsupported URL scheme",
    ),
    pytest.param(
        lambda t: sync(lambda: create_engine("::not a url::")), LedgerError, ("not a database URL",), id="not a URL"
    ),
    pytest.param(
        lambda t: sync(lambda: create_engine("sqlite:///x.db")),
        LedgerError,
        ("use sqlite+aiosqlite://",),
        id="SQLite without aiosqlite",
    ),
    pytest.param(
        lambda t: open_ledger("postgresql+asyncpg://postgres@127.0.0.1:1/test"),
        LedgerUnavailableError,
        ("connection failed",),
        id="nobody listening",
    ),
    pytest.param(
        lambda t: open_ledger(f"sqlite+aiosqlite:///{t}/missing/dir/x.db"),
        LedgerUnavailableError,
        ("unable to open database file",),
        id="missing directory",
    ),
    pytest.param(
        lambda t: open_ledger(f"sqlite+aiosqlite:///{t}/empty.db", create=False),
        LedgerNotFoundError,
        ("no ledger at", "migrate"),
        id="no ledger tables",
    ),
    pytest.param(
        lambda t: sync(lambda: FixedClock(datetime(2025, 1, 1))),
        ValueError,
        ("timezone-aware",),
        id="naive clock start",
    ),
    pytest.param(lambda t: sync(lambda: Keyring(b"short")), ValueError, ("at least 16 bytes",), id="short key"),
    pytest.param(
        lambda t: sync(lambda: key_file(t, 0o644, "ab" * 32)), ValueError, ("chmod 600",), id="key file others can read"
    ),
    pytest.param(
        lambda t: sync(lambda: key_file(t, 0o600, "not hex\n")),
        ValueError,
        ("line 1: not a hex key",),
        id="key file not hex",
    ),
]


@pytest.mark.parametrize(("call", "error", "fragments"), OPEN_CASES)
async def test_refused_before_any_database(
    call: OpenCall, error: type[Exception], fragments: tuple[str, ...], tmp_path: Path
) -> None:
    with pytest.raises(Exception) as caught:  # noqa: PT011  # the exact type is checked below
        await asyncio.wait_for(call(tmp_path), timeout=30)
    assert type(caught.value) is error, repr(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))
    assert not (tmp_path / "missing").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)
