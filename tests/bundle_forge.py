"""Real exports, and forged copies of them: edit events, then re-seal the chain so only the rule under test breaks.

Shared by the import-validation tests (integration, property, CLI). A bundle is built once per
test session from a small real ledger (creates, updates with content blobs, a move, a delete and
a restore) and copied for each case.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from artifact_ledger import ArtifactIn
from artifact_ledger.bundle import write_bundle
from artifact_ledger.ledger import Ledger
from artifact_ledger.verify_bundle import Event, MerkleFrontier, event_hash, parse_opening
from ledger_support import HIERARCHY, SECRET

Record = dict[str, Any]


async def _build(directory: Path) -> None:
    """``early``: 3 events (three creates); ``full``: 8 events; ``more``: events 4-8 (incremental)."""
    async with Ledger.open(f"sqlite+aiosqlite:///{directory / 'source.db'}", secret=SECRET) as source:
        async with source.manager(HIERARCHY) as manager:
            with source.context(actor="alice", reason="train"):
                root = await manager.save(ArtifactIn(data={"type": "run", "content": b"\x00model-bytes"}))
                a = await manager.save(ArtifactIn(parent_id=root.id, data={"n": 1, "content": {"rows": [1, 2]}}))
                b = await manager.save(ArtifactIn(parent_id=root.id, data={"n": 3}, tags=["x"]))
            early = await source.head()
            await write_bundle(source.engine, directory / "early")
            with source.context(actor="bob", reason="fix"):
                await manager.save(ArtifactIn(id=a.id, parent_id=root.id, data={"n": 2, "content": b"more"}))
                await manager.move(b.id, a.id)
                await manager.delete_by_id(b.id)
                await manager.restore(b.id)
                await manager.revert(a.id, to_version=1)
        await write_bundle(source.engine, directory / "full")
        await write_bundle(source.engine, directory / "more", since=early)


def build_bundles(directory: Path) -> Path:
    asyncio.run(_build(directory))
    return directory


def read_events(bundle: Path) -> list[Record]:
    return [json.loads(line) for line in (bundle / "events.jsonl").read_bytes().splitlines()]


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload(record: Record) -> Record:
    loaded: Record = json.loads(record["payload"])
    return loaded


def with_payload(record: Record, **changes: Any) -> Record:
    body = {**payload(record), **changes}
    return {**record, "payload": canonical(body).decode()}


def write_events(bundle: Path, records: list[Record], *, renumber: bool = True) -> None:
    """Write ``records`` as the bundle's events, chained from the manifest's prev_hash, and fix the manifest
    (its Merkle root too, when it has one)."""
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    prev, lines = manifest["prev_hash"], []
    for index, record in enumerate(records):
        record = dict(record)
        if renumber:
            record["position"] = manifest["first_position"] + index
        record["prev_hash"] = prev
        record["hash"] = ""
        fields = {k: v for k, v in record.items() if k != "opening"}
        opening = record.get("opening")
        record["hash"] = event_hash(
            Event(**fields, opening=None if opening is None else parse_opening(opening, "a forged line"))
        )
        prev = record["hash"]
        lines.append(canonical(record) + b"\n")
    body = b"".join(lines)
    (bundle / "events.jsonl").write_bytes(body)
    manifest.update(
        event_count=len(records),
        head_position=manifest["first_position"] + len(records) - 1,
        head_hash=prev,
        events_sha256=hashlib.sha256(body).hexdigest(),
    )
    if "merkle_root" in manifest:  # the tree over the re-sealed events, grown from the manifest's base
        frontier = MerkleFrontier(manifest["first_position"] - 1, manifest["merkle_frontier"])
        for line in lines:
            frontier.append(bytes.fromhex(json.loads(line)["hash"]))
        manifest.update(merkle_size=manifest["head_position"], merkle_root=frontier.root().hex())
    (bundle / "manifest.json").write_bytes(canonical(manifest) + b"\n")


def forge(source: Path, target: Path, edit: Callable[[list[Record]], list[Record]]) -> Path:
    """A copy of ``source`` whose events are ``edit(events)``, re-sealed so the chain and manifest hold."""
    shutil.copytree(source, target)
    write_events(target, edit(read_events(target)))
    return target


def blob_files(bundle: Path) -> list[Path]:
    return sorted(p for p in (bundle / "blobs").rglob("*") if p.is_file())
