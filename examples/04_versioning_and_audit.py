"""Versioning and audit: a document edited by three people, diffed, reverted, and its audit trail.

Shows how to:
- attribute writes to people, ambiently (``ledger.context``) or per call (``actor=``, ``reason=``)
- list an artifact's history: every version with who, when and why
- read an artifact exactly as it was at a version (``find_by_id(id, version=n)``)
- diff two versions: JSON-patch-style data changes, content hash and size
- revert to an earlier version (a new version; history is never rewritten)
- page through the audit trail with filters

Run with ``python examples/04_versioning_and_audit.py``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from artifact_ledger import ArtifactHierarchy, ArtifactIn, FixedClock, Ledger

HIERARCHY = ArtifactHierarchy(name="documents", level_labels={0: "folder", 1: "document"})


async def main() -> None:
    # A clock that moves only when told to, so the printed times are the same on every run.
    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), step=timedelta(0))
    async with Ledger.open("sqlite+aiosqlite:///:memory:", clock=clock) as ledger, ledger.manager(HIERARCHY) as manager:
        with ledger.context(actor="alice", reason="new protocol", correlation_id="ticket-12"):
            folder = await manager.save(ArtifactIn(data={"name": "Protocols"}))
            doc = await manager.save(
                ArtifactIn(
                    parent_id=folder.id,
                    data={
                        "title": "Sample handling",
                        "status": "draft",
                        "reviewers": ["bob"],
                        "content": "Keep samples at 4 °C.",
                    },
                )
            )
        clock.advance(timedelta(hours=3))
        await manager.save(
            ArtifactIn(
                id=doc.id,
                parent_id=folder.id,
                data={
                    "title": "Sample handling",
                    "status": "review",
                    "reviewers": ["bob", "carol"],
                    "content": "Keep samples at 2-8 °C for at most 48 hours.",
                },
            ),
            actor="bob",
            reason="clarify storage range",
        )
        clock.advance(timedelta(days=1))
        await manager.save(
            ArtifactIn(
                id=doc.id,
                parent_id=folder.id,
                data={
                    "title": "Sample handling (approved)",
                    "status": "approved",
                    "reviewers": ["bob", "carol"],
                    "content": "Keep samples at 2-8 °C for at most 72 hours.",
                },
            ),
            actor="carol",
            reason="approve",
        )

        print("History of the document:")
        for v in await manager.history(doc.id):
            print(
                f"  v{v.version} {v.event_type:<18} {v.recorded_at:%Y-%m-%d %H:%M} "
                f"{v.actor:<6} status={v.data['status']:<9} reason={v.reason!r}"
            )

        second = await manager.find_by_id(doc.id, version=2)
        assert second is not None
        print(f"\nVersion 2 as it was: status={second.data['status']}, content={second.data['content']!r}")

        diff = await manager.diff(doc.id, 2, 3)
        changed = diff.content is not None
        print(f"\nDiff v2 -> v3 (structured): {len(diff.data)} data change(s), content changed: {changed}")
        print(diff)

        clock.advance(timedelta(hours=1))
        reverted = await manager.revert(doc.id, to_version=2, actor="alice", reason="72 hours is not validated")
        print(f"\nReverted to version 2 as version {reverted.version}: status={reverted.data['status']}")
        again = await manager.revert(doc.id, to_version=2, actor="alice")
        print(f"Reverting again appends nothing: still version {again.version}")
        if not (reverted.version == again.version == 4 and reverted.data == second.data):
            raise SystemExit("revert should append exactly one version equal to version 2")

        print("\nAudit trail of the folder's subtree, two entries per page:")
        after = 0
        while True:
            page = await manager.audit(subtree_of=folder.id, after=after, limit=2)
            for e in page.entries:
                extra = f" reverted_to={e.details['reverted_to']}" if "reverted_to" in e.details else ""
                print(
                    f"  #{e.position} {e.recorded_at:%Y-%m-%d %H:%M} {e.actor:<6} {e.event_type:<18} "
                    f"v{e.version} reason={e.reason!r} correlation={e.correlation_id}{extra}"
                )
            if page.next_after is None:
                break
            after = page.next_after

        by_bob = await manager.audit(actor="bob")
        print(f"\nEvents by bob: {[e.position for e in by_bob.entries]}")
        day_two = await manager.audit(since=datetime(2026, 3, 3, tzinfo=UTC), until=datetime(2026, 3, 4, tzinfo=UTC))
        print(f"Events on 2026-03-03: {[(e.actor, e.event_type) for e in day_two.entries]}")


if __name__ == "__main__":
    asyncio.run(main())
