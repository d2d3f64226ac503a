"""Listings with content after a redaction and a retention run: the gone item is marked, the others read.

One artifact's content redacted, another's expired by retention: ``find_all`` and every other
listing (``iter_all``, ``find_paginated``, ``find_all_by_id``, ``find``, ``find_subtree``,
``build_tree``, ``history``) still return every item, with an :class:`UnavailableContent` in place
of the gone content, while a read of that one version still fails with its error. A blob that is
missing for any other reason (a deleted file or row) still fails the listing: it is not passed
off as expired. On SQLite and PostgreSQL, with blobs in the database and in a directory.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import tampered

from artifact_ledger import (
    ArtifactIn,
    ArtifactOut,
    ContentExpiredError,
    Ledger,
    RedactedError,
    RetentionPolicy,
    UnavailableContent,
)
from artifact_ledger.errors import MissingBlobError


class Forest:
    """A root with three children: ``kept`` (content read), ``erased`` (content redacted) and
    ``old`` (two versions, the first's content expired by ``keep_last=1``)."""

    def __init__(self, root: ArtifactOut, kept: ArtifactOut, erased: ArtifactOut, old: ArtifactOut, position: int):
        self.root, self.kept, self.erased, self.old, self.position = root, kept, erased, old, position


async def _forest(ledger: Ledger, *, expire_current: bool = False) -> Forest:
    async with ledger.manager() as m:
        root = await m.save(ArtifactIn(data={"name": "run"}))
        kept = await m.save(ArtifactIn(parent_id=root.id, data={"name": "kept", "content": b"kept bytes"}))
        erased = await m.save(ArtifactIn(parent_id=root.id, data={"name": "erased", "content": b"personal data"}))
        old = await m.save(ArtifactIn(parent_id=root.id, data={"name": "old", "content": b"weights v1"}))
        old = await m.save(ArtifactIn(id=old.id, parent_id=root.id, data={"name": "old", "content": b"weights v2"}))
        await m.redact(erased.id, reason="erasure request")
    # expire_current: every version saved before now expires, the current content of `kept` and `old` too
    policy = RetentionPolicy(keep_newer_than=timedelta(0)) if expire_current else RetentionPolicy(keep_last=1)
    report = await ledger.apply_retention(policy, dry_run=False)
    assert report.positions
    return Forest(root, kept, erased, old, report.positions[0])


def _check_redacted(value: Any, aid: Any, version: int) -> None:
    assert isinstance(value, UnavailableContent), value
    assert (value.artifact_id, value.version, value.reason, value.position) == (str(aid), version, "redacted", None)
    error = value.error()
    assert isinstance(error, RedactedError)
    assert (error.artifact_id, error.version) == (str(aid), version)
    assert f"artifact {aid} version {version} was redacted" in str(error) == str(value)


def _check_expired(value: Any, aid: Any, version: int, position: int) -> None:
    assert isinstance(value, UnavailableContent), value
    assert (value.artifact_id, value.version, value.reason, value.position) == (str(aid), version, "expired", position)
    error = value.error()
    assert isinstance(error, ContentExpiredError)
    assert (error.artifact_id, error.version, error.position) == (str(aid), version, position)
    assert f"artifact {aid} version {version} expired: the retention event at position {position}" in str(error)


def _by_name(items: list[Any]) -> dict[str, Any]:
    return {item.data["name"]: item.data.get("content") for item in items}


async def test_every_listing_marks_the_redacted_item_and_reads_the_others(blob_ledger: Ledger) -> None:
    f = await _forest(blob_ledger)
    async with blob_ledger.manager() as m:
        listings: dict[str, list[Any]] = {
            "find_all": await m.find_all(),
            "iter_all": [a async for a in m.iter_all(page_size=2)],
            "find_paginated": (await m.find_paginated(1, 10))[0],
            "find_all_by_id": await m.find_all_by_id([f.kept.id, f.erased.id, f.old.id]),
            "find": (await m.find({"data.name": {"in": ["kept", "erased", "old"]}}, include_content=True)).items,
            "find_subtree": await m.find_subtree(f.root.id),
            "find_subtree as_of": await m.find_subtree(f.root.id, as_of=datetime.now(UTC)),
        }
        tree = await m.build_tree(f.root.id)
        assert tree is not None
        assert tree.children is not None
        listings["build_tree"] = tree.children
        for name, items in listings.items():
            contents = _by_name(items)
            assert contents["kept"] == b"kept bytes", name
            assert contents["old"] == b"weights v2", name
            _check_redacted(contents["erased"], f.erased.id, 1)
        # in JSON (model_dump, the HTTP API's models) the marker is described whole
        [erased] = [a for a in listings["find_all"] if a.data["name"] == "erased"]
        described = erased.model_dump(mode="json")["data"]["content"]
        assert described == {
            "_type": "unavailable",
            "artifact_id": str(f.erased.id),
            "version": 1,
            "reason": "redacted",
            "message": str(erased.data["content"]),
            "position": None,
        }
        # a read of that one artifact still fails, naming it
        with pytest.raises(RedactedError, match=f"artifact {f.erased.id} version 1 was redacted"):
            await m.find_by_id(f.erased.id)
        assert (await m.find_by_id(f.erased.id, include_content=False)) is not None


async def test_history_marks_each_gone_version(blob_ledger: Ledger) -> None:
    f = await _forest(blob_ledger)
    async with blob_ledger.manager() as m:
        old = [v.data["content"] for v in await m.history(f.old.id, include_content=True)]
        _check_expired(old[0], f.old.id, 1, f.position)
        assert old[1] == b"weights v2"
        erased = [v.data["content"] for v in await m.history(f.erased.id, include_content=True)]
        assert len(erased) == 1
        _check_redacted(erased[0], f.erased.id, 1)
        with pytest.raises(ContentExpiredError, match=f"artifact {f.old.id} version 1 expired"):
            await m.find_by_id(f.old.id, version=1)


async def test_listings_mark_current_content_that_retention_expired(blob_ledger: Ledger) -> None:
    f = await _forest(blob_ledger, expire_current=True)
    async with blob_ledger.manager() as m:
        for items in (await m.find_all(), await m.find_subtree(f.root.id), await m.find_all_by_id([f.kept.id])):
            contents = _by_name(items)
            _check_expired(contents["kept"], f.kept.id, 1, f.position)
            if "old" in contents:
                _check_expired(contents["old"], f.old.id, 2, f.position)
                _check_redacted(contents["erased"], f.erased.id, 1)
        history = [v.data["content"] for v in await m.history(f.old.id, include_content=True)]
        _check_expired(history[0], f.old.id, 1, f.position)
        _check_expired(history[1], f.old.id, 2, f.position)
        with pytest.raises(ContentExpiredError, match=f"artifact {f.kept.id} version 1 expired"):
            await m.find_by_id(f.kept.id)
        # the listings without content never looked
        assert {a.data["name"] for a in await m.find_all(include_content=False)} == {"run", "kept", "erased", "old"}


async def test_a_blob_missing_for_another_reason_still_fails_the_listing(
    blob_ledger: Ledger, engine: AsyncEngine, blob_root: Path | None
) -> None:
    """Only what a retention event deleted is marked; a blob lost some other way is an error to see."""
    f = await _forest(blob_ledger)
    async with blob_ledger.manager() as m:
        lost = await m.save(ArtifactIn(parent_id=f.root.id, data={"name": "lost", "content": b"lost bytes"}))
    digest = hashlib.sha256(b"lost bytes").hexdigest()
    async with blob_ledger.manager() as m:
        out = await m.find_by_id(lost.id)
        assert out is not None
        assert out.data["content"] == b"lost bytes"
    if blob_root is None:
        async with tampered(engine) as conn:  # an operator deletes the row behind the guards' back
            await conn.execute(text("DELETE FROM ledger_blobs WHERE hash = :h"), {"h": digest})
    else:
        (blob_root / digest[:2] / digest[2:4] / digest).unlink()
    async with blob_ledger.manager() as m:
        for listing in (m.find_all(), m.find_subtree(f.root.id), m.history(lost.id, include_content=True)):
            with pytest.raises(MissingBlobError, match=digest):
                await listing
