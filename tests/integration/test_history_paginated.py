"""``history_paginated``: pages of an artifact's history that read only the events up to the page's
last, equal to the same slice of ``history`` (every backend)."""

from __future__ import annotations

import pytest
from sqlalchemy import event as sa_event
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactNotFoundError, InvalidArgumentError


async def long_history(manager: ArtifactManager) -> str:
    """Ten versions of every kind (saves, a patch, a move, a delete, a restore, a revert), one redacted."""
    root = await manager.save(ArtifactIn(data={"name": "root"}))
    other = await manager.save(ArtifactIn(data={"name": "other"}))
    a = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "doc", "email": "e@x", "content": b"v1"}))
    for n in range(2, 6):
        await manager.save(ArtifactIn(id=a.id, parent_id=root.id, data={"name": "doc", "n": n, "content": b"v%d" % n}))
    await manager.patch(a.id, data={"status": "draft"})
    await manager.move(a.id, other.id)
    await manager.redact(a.id, version=1, fields=["email"], reason="erasure request")
    await manager.delete_by_id(a.id)
    await manager.restore(a.id)
    await manager.revert(a.id, to_version=3)
    return str(a.id)


async def test_pages_are_the_slices_of_the_whole_history(manager: ArtifactManager) -> None:
    aid = await long_history(manager)
    whole = await manager.history(aid)
    assert len(whole) == 10  # the redaction is an event of its own stream
    for size in (1, 3, 4, 10, 50):
        pages = -(-len(whole) // size)
        for page in range(1, pages + 2):  # and one past the end: empty, with the total
            items, total = await manager.history_paginated(aid, page, size)
            assert total == len(whole)
            expected = whole[(page - 1) * size : page * size]
            assert [v.model_dump() for v in items] == [v.model_dump() for v in expected]
    assert whole[0].redacted == ["data.email"]
    with_content, _ = await manager.history_paginated(aid, 2, 2, include_content=True)
    assert [v.data["content"] for v in with_content] == [b"v3", b"v4"]


async def test_an_early_page_reads_only_the_events_up_to_its_last(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"n": 0}))
    for n in range(1, 40):
        await manager.save(ArtifactIn(id=a.id, data={"n": n}))
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engine = manager.repo.session.bind.engine  # type: ignore[union-attr]
    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        items, total = await manager.history_paginated(a.id, 2, 5)
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    assert ([v.version for v in items], total) == ([6, 7, 8, 9, 10], 40)
    assert [v.data for v in items] == [{"n": n} for n in range(5, 10)]
    # a range of the stream's key (or a LIMIT when its versions are not 1 to n), not the whole stream
    assert any("BETWEEN" in s.upper() or "LIMIT" in s.upper() for s in statements if "FROM ledger_events" in s)


async def test_bad_pages_and_unknown_artifacts_are_refused(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"n": 0}))
    unknown = str(ULID())
    with pytest.raises(ArtifactNotFoundError, match=unknown):
        await manager.history_paginated(unknown, 1, 10)
    for page, size in ((0, 10), (1, 0), (-1, 5), (True, 5), (1, 2.0)):
        with pytest.raises(InvalidArgumentError, match=r"page|size"):
            await manager.history_paginated(a.id, page, size)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="include_content"):
        await manager.history_paginated(a.id, 1, 10, include_content="yes")  # type: ignore[arg-type]
