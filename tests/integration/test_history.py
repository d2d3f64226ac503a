"""history(id): every version with its state, parent, content reference and attribution; no blob reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from ulid import ULID

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactRepository,
    ArtifactVersion,
    FixedClock,
    Ledger,
    attribution,
)
from ledger_support import HIERARCHY, SECRET
from statement_log import statements_seen

START = datetime(2026, 4, 1, tzinfo=UTC)


class BlobWatch:
    """Counts statements that touch ledger_blobs on an engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._seen = statements_seen(engine.sync_engine)
        self._all: list[str] = []

    @property
    def statements(self) -> list[str]:
        return [s for s in self._all if "ledger_blobs" in s]

    def __enter__(self) -> BlobWatch:
        self._all = self._seen.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._seen.__exit__(None, None, None)


@pytest.fixture
def timed(session: AsyncSession) -> ArtifactManager:
    clock = FixedClock(START, step=timedelta(minutes=1))
    return ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock), hierarchy=HIERARCHY)


async def test_history_records_state_parent_and_attribution(timed: ArtifactManager) -> None:
    a = await timed.save(ArtifactIn(data={"name": "a"}))
    b = await timed.save(ArtifactIn(data={"name": "b"}))
    with attribution(actor="ann", reason="draft", correlation_id="req-1", causation_id="cmd-7"):
        doc = await timed.save(ArtifactIn(parent_id=a.id, data={"name": "doc", "content": b"v1"}, tags=["t"]))
    await timed.save(
        ArtifactIn(id=doc.id, parent_id=a.id, data={"name": "doc", "content": {"k": 2}}, tags=[]), actor="bob"
    )
    await timed.move(doc.id, b.id, reason="regroup")
    await timed.delete_by_id(doc.id, actor="cy")
    await timed.restore(doc.id)

    versions = await timed.history(doc.id)
    assert all(set(v.__dict__) == set(ArtifactVersion.model_fields) for v in versions)  # built complete
    assert versions[0].model_dump() == ArtifactVersion(**dict(versions[0])).model_dump()
    assert [v.version for v in versions] == [1, 2, 3, 4, 5]
    assert [v.event_type for v in versions] == [
        "artifact.created",
        "artifact.updated",
        "artifact.moved",
        "artifact.deleted",
        "artifact.restored",
    ]
    assert [v.parent_id for v in versions] == [a.id, a.id, b.id, b.id, b.id]
    assert [v.deleted for v in versions] == [False, False, False, True, False]
    assert [v.actor for v in versions] == ["ann", "bob", None, "cy", None]
    assert [v.reason for v in versions] == ["draft", None, "regroup", None, None]
    assert (versions[0].correlation_id, versions[0].causation_id) == ("req-1", "cmd-7")
    assert versions[0].tags == ["t"]
    assert versions[1].tags == []
    assert [v.recorded_at for v in versions] == [START + timedelta(minutes=m) for m in (2, 3, 4, 5, 6)]
    assert all(v.artifact_id == doc.id and v.event_id and len(v.event_id) == 26 for v in versions)
    assert [v.position for v in versions] == sorted(v.position for v in versions)
    first, second = versions[0], versions[1]
    assert first.data == {"name": "doc"}  # content stays a reference unless asked for
    assert (first.content_type, first.content_size) == ("application/octet-stream", 2)
    assert first.content_hash is not None
    assert len(first.content_hash) == 64
    assert second.content_type == "application/json"
    assert second.content_hash != first.content_hash
    assert versions[2].content_hash == second.content_hash  # a move keeps the content


async def test_history_decodes_content_on_request(timed: ArtifactManager) -> None:
    doc = await timed.save(ArtifactIn(data={"name": "doc", "content": b"v1"}))
    await timed.save(ArtifactIn(id=doc.id, data={"name": "doc", "content": {"k": [1, 2]}}))
    await timed.save(ArtifactIn(id=doc.id, data={"name": "doc"}))
    decoded = await timed.history(doc.id, include_content=True)
    assert [v.data for v in decoded] == [
        {"name": "doc", "content": b"v1"},
        {"name": "doc", "content": {"k": [1, 2]}},
        {"name": "doc"},
    ]


async def test_history_reads_no_blob(timed: ArtifactManager, engine: AsyncEngine) -> None:
    doc = await timed.save(ArtifactIn(data={"name": "doc", "content": b"x" * 1000}))
    for i in range(5):
        await timed.save(ArtifactIn(id=doc.id, data={"name": "doc", "content": bytes([i]) * 1000}))
    with BlobWatch(engine) as watch:
        versions = await timed.history(doc.id)
        assert len(versions) == 6
        assert watch.statements == []
        await timed.history(doc.id, include_content=True)
        assert len(watch.statements) == 1  # every version's blob, in one query


async def test_history_of_unknown_id_raises(timed: ArtifactManager) -> None:
    unknown = ULID()
    with pytest.raises(ArtifactNotFoundError, match=str(unknown)):
        await timed.history(unknown)
    with pytest.raises(ArtifactNotFoundError):
        await timed.history("not-a-ulid")


async def test_events_since_in_position_order(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager, ledger.context(actor="svc", correlation_id="job-9"):
            root = await manager.save(ArtifactIn(data={"n": 0}))
            await manager.save_all([ArtifactIn(parent_id=root.id, data={"n": i}) for i in range(1, 6)])
            await manager.revert(root.id, to_version=1)  # no-op: appends nothing
        everything = await ledger.events_since(0)
        assert [e.position for e in everything] == [1, 2, 3, 4, 5, 6]
        assert {(e.actor, e.correlation_id) for e in everything} == {("svc", "job-9")}
        pages = [await ledger.events_since(p, limit=2) for p in (0, 2, 4, 6)]
        assert [[e.position for e in page] for page in pages] == [[1, 2], [3, 4], [5, 6], []]


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "versioning-and-audit.md"


def test_guide_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", GUIDE.read_text(encoding="utf-8")):
        file_part, _, anchor = target.partition("#")
        path = (GUIDE.parent / file_part).resolve()
        assert path.is_file(), f"the guide links to missing {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, f"the guide links to missing anchor {target}"


def test_guide_snippets_run(tmp_path: Path) -> None:
    """The guide's snippets run as written (each on its own in-memory database)."""
    found = re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), flags=re.S | re.M)
    # the whole programs (the page's fragments run in tests/docs, with the names they assume)
    blocks = [block for block in found if "asyncio.run(" in block]
    assert blocks
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_LEDGER_")}
    for block in blocks:
        result = subprocess.run(
            [sys.executable, "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "~ /score: 0.71 -> 0.74" in result.stdout
