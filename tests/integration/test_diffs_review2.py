"""Diffs and merge patches, from a second adversarial review (SQLite file and memory, PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, ArtifactManager, RedactedError


async def event_count(manager: ArtifactManager) -> int:
    return int((await manager.repo.session.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def test_a_patch_of_content_type_over_redacted_content_is_refused_by_name(manager: ArtifactManager) -> None:
    """The declared type stores the content again; erased content cannot be: that read the erased
    reference's empty hash as a blob (MissingBlobError, 'blob  is missing', a 500 over HTTP)."""
    a = await manager.save(ArtifactIn(data={"content": b"abc", "content_type": "text/plain", "n": 1}))
    await manager.redact(a.id, reason="erasure request")
    count = await event_count(manager)
    with pytest.raises(RedactedError, match=rf"artifact {a.id} version 1 was redacted.*'text/csv'") as caught:
        await manager.patch(a.id, {"content_type": "text/csv"})
    assert (caught.value.artifact_id, caught.value.version) == (str(a.id), 1)
    assert await event_count(manager) == count  # nothing written
    replaced = await manager.patch(a.id, {"content_type": "text/csv", "content": b"x,y\n"})  # new content: fine
    assert (replaced.version, replaced.data["content"]) == (2, b"x,y\n")  # type: ignore[index]
