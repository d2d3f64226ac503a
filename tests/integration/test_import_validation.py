"""Import validates every bundle event by the rules of a live write, before anything is written.

Each case forges a real export so that exactly one rule breaks (the chain and the manifest are
re-sealed, so only the rule is wrong), or damages the files themselves, and imports it into a
ledger that already holds the first three events of the same history. The import must raise
``BundleRuleError`` naming the file, the line and the rule, and the target must be unchanged
(same head, same event count, verify passes). Every case runs on SQLite (file and memory) and
PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger.errors import BundleRuleError
from artifact_ledger.ledger import Ledger
from artifact_ledger.store.tables import events
from artifact_ledger.transfer import ImportConflictError, import_bundle
from bundle_forge import (
    Record,
    blob_files,
    build_bundles,
    canonical,
    forge,
    payload,
    read_events,
    with_payload,
)
from ledger_support import SECRET

NEW = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
"""A ULID no event of the bundles uses."""


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundles(tmp_path_factory.mktemp("sources"))


def edit(index: int, **changes: object) -> Callable[[list[Record]], list[Record]]:
    def apply(records: list[Record]) -> list[Record]:
        records[index] = {**records[index], **changes}
        return records

    return apply


def edit_payload(index: int, **changes: object) -> Callable[[list[Record]], list[Record]]:
    def apply(records: list[Record]) -> list[Record]:
        records[index] = with_payload(records[index], **changes)
        return records

    return apply


def insert(index: int, make: Callable[[list[Record]], Record]) -> Callable[[list[Record]], list[Record]]:
    def apply(records: list[Record]) -> list[Record]:
        records.insert(index, make(records))
        return records

    return apply


def event(
    like: Record, artifact_id: str, version: int, kind: str, body: dict[str, object], suffix: str = "A"
) -> Record:
    """A new event shaped like ``like`` (same time and attribution), with a fresh event id."""
    return {
        **like,
        "event_id": "01HYYYYYYYYYYYYYYYYYYYYYY" + suffix,
        "artifact_id": artifact_id,
        "version": version,
        "type": kind,
        "payload": canonical(body).decode(),
    }


def state_of(record: Record, **changes: object) -> dict[str, object]:
    body = payload(record)
    return {"content": body["content"], "data": body["data"], "tags": body["tags"], **changes}


# The full bundle's events (line = index + 1): 0 root created, 1 a created under root, 2 b created
# under root, 3 a updated, 4 b moved root -> a, 5 b deleted, 6 b restored, 7 a reverted to 1.
ROOT, A, B = 0, 1, 2


def aid(records: list[Record], index: int) -> str:
    return str(records[index]["artifact_id"])


def _non_canonical(records: list[Record]) -> list[Record]:
    # Compact (a chain format 2 event can only be sealed over compact JSON) but its keys out of order.
    body = payload(records[1])
    text = json.dumps(dict(reversed(list(body.items()))), separators=(",", ":"), ensure_ascii=False)
    records[1] = {**records[1], "payload": text}
    return records


def _created_twice(records: list[Record]) -> list[Record]:
    records[5] = {**records[2], "event_id": records[5]["event_id"], "recorded_at": records[5]["recorded_at"]}
    return records


def _drop(index: int) -> Callable[[list[Record]], list[Record]]:
    return lambda records: records[:index] + records[index + 1 :]


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[list[Record]], list[Record]]
    rule: str
    line: int
    source: str = "full"


CASES = [
    Case("artifact id ../../etc/passwd", edit(0, artifact_id="../../etc/passwd"), "ulid", 1),
    Case("event id not a ULID", edit(2, event_id="not-a-ulid"), "ulid", 3),
    Case("artifact id in lower case", lambda r: edit(1, artifact_id=aid(r, A).lower())(r), "ulid", 2),
    Case("parent id not a ULID", edit_payload(1, parent_id="../../etc/passwd"), "ulid", 2),
    Case("cascade_root not a ULID", edit_payload(5, cascade_root="../x"), "ulid", 6),
    Case("a repeated event id", lambda r: edit(3, event_id=r[1]["event_id"])(r), "unique-event-id", 4),
    Case("a version gap", edit(3, version=3), "version", 4),
    Case("a stream starting at version 2", edit(0, version=2), "version", 1),
    Case("an update of a stream never created", edit(3, artifact_id=NEW), "stream-start", 4),
    Case("a stream created twice", _created_twice, "stream-start", 6),
    Case("an orphan (parent never created)", edit_payload(1, parent_id=NEW), "parent", 2),
    Case(
        "a child created under a deleted parent",
        insert(6, lambda r: event(r[5], NEW, 1, "artifact.created", state_of(r[2], parent_id=aid(r, B)))),
        "parent",
        7,
    ),
    Case(
        "a move that makes a cycle",
        insert(
            5,
            lambda r: event(
                r[4], aid(r, A), 3, "artifact.moved", {"from_parent_id": aid(r, ROOT), "to_parent_id": aid(r, B)}
            ),
        ),
        "cycle",
        6,
    ),
    Case("a move under itself", lambda r: edit_payload(4, to_parent_id=aid(r, B))(r), "cycle", 5),
    Case(
        "a delete that leaves live children",
        insert(3, lambda r: event(r[2], aid(r, ROOT), 2, "artifact.deleted", {"cascade_root": None})),
        "children",
        4,
    ),
    Case(
        "an update of a deleted artifact",
        insert(6, lambda r: event(r[5], aid(r, B), 4, "artifact.updated", state_of(r[2]))),
        "live",
        7,
    ),
    Case("a restore of a live artifact", lambda r: edit(5, version=3)(_drop(5)(r)), "live", 6),
    Case("time going backwards", edit(3, recorded_at="2000-01-01T00:00:00.000000Z"), "time", 4),
    Case("an unknown event type", edit(3, type="artifact.exploded"), "type", 4),
    Case("schema_version 99", edit(1, schema_version=99), "schema-version", 2),
    Case("a version beyond 32 bits", edit(0, version=2**40), "number", 1),
    Case("a payload without tags", lambda r: [*r[:1], _without(r[1], "tags"), *r[2:]], "payload", 2),
    Case("tags that are not a list", edit_payload(2, tags="x"), "payload", 3),
    Case("data holding a NUL", edit_payload(2, data={"n": "a\x00b"}), "payload", 3),
    Case(
        "content of an unknown codec",
        lambda r: edit_payload(0, content={**_content(r[0]), "codec": "exe"})(r),
        "payload",
        1,
    ),
    Case(
        "a content type of 300 characters",
        lambda r: edit_payload(0, content={**_content(r[0]), "media_type": "x" * 300})(r),
        "payload",
        1,
    ),
    Case("a move from a parent it did not have", lambda r: edit_payload(4, from_parent_id=aid(r, A))(r), "payload", 5),
    Case("a restore under another parent", lambda r: edit_payload(6, parent_id=aid(r, ROOT))(r), "payload", 7),
    Case("a revert beyond the latest version", edit_payload(7, reverted_to=9), "payload", 8),
    Case("a payload not written canonically", _non_canonical, "canonical", 2),
    Case("an actor of 300 characters", edit(2, actor="x" * 300), "attribution", 3),
    # incremental: lines 1-5 are positions 4-8, checked against the target's log
    Case("incremental: a version gap on a target stream", edit(0, version=3), "version", 1, "more"),
    Case("incremental: a move under a parent the target lacks", edit_payload(1, to_parent_id=NEW), "parent", 2, "more"),
    Case(
        "incremental: time before the target's head",
        edit(0, recorded_at="2000-01-01T00:00:00.000000Z"),
        "time",
        1,
        "more",
    ),
    Case("incremental: a cycle through the target's artifacts", lambda r: _root_under_a(r), "cycle", 2, "more"),
    Case(
        "incremental: a delete of a target artifact with live children",
        lambda r: insert(0, lambda _: event(r[0], _root_of(r), 2, "artifact.deleted", {"cascade_root": None}))(r),
        "children",
        1,
        "more",
    ),
    Case("incremental: an update of a stream the target lacks", edit(0, artifact_id=NEW), "stream-start", 1, "more"),
]


def _without(record: Record, key: str) -> Record:
    body = payload(record)
    del body[key]
    return {**record, "payload": canonical(body).decode()}


def _content(record: Record) -> dict[str, object]:
    content = payload(record)["content"]
    assert isinstance(content, dict)
    return content


def _root_under_a(records: list[Record]) -> list[Record]:
    """Line 2 (b moved root -> a) becomes: root moved under a, whose parent is root."""
    root, a = _root_of(records), str(records[0]["artifact_id"])
    moved = {**records[1], "artifact_id": root, "version": 2}
    records[1] = with_payload(moved, from_parent_id=None, to_parent_id=a)
    return records


def _root_of(records: list[Record]) -> str:
    """The root's id, from the move of b (its from_parent_id)."""
    return str(payload(records[1])["from_parent_id"])


async def event_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


@asynccontextmanager
async def seeded(engine: AsyncEngine, bundles: Path) -> AsyncIterator[Ledger]:
    """The target: a ledger holding the first three events of the bundles' history."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        result = await import_bundle(ledger.engine, bundles / "early")
        assert result.events_imported == 3
        yield ledger


async def assert_unchanged(ledger: Ledger, head: object) -> None:
    assert await ledger.head() == head
    assert await event_count(ledger.engine) == 3
    report = await ledger.verify()
    assert report.ok, report.problem


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_a_forged_event_is_refused_naming_line_and_rule(
    case: Case, engine: AsyncEngine, bundles: Path, tmp_path: Path
) -> None:
    bundle = forge(bundles / case.source, tmp_path / "forged", case.edit)
    async with seeded(engine, bundles) as ledger:
        head = await ledger.head()
        with pytest.raises(BundleRuleError) as info:
            await import_bundle(ledger.engine, bundle)
        assert (info.value.file, info.value.line, info.value.rule) == ("events.jsonl", case.line, case.rule)
        assert f"events.jsonl line {case.line} " in str(info.value)
        assert f"(rule: {case.rule})" in str(info.value)
        assert str(bundle) in str(info.value)
        await assert_unchanged(ledger, head)


def _replace_line(bundle: Path, index: int, make: Callable[[bytes], bytes]) -> None:
    lines = (bundle / "events.jsonl").read_bytes().splitlines(keepends=True)
    lines[index] = make(lines[index])
    (bundle / "events.jsonl").write_bytes(b"".join(lines))


def _swap(bundle: Path, i: int, j: int) -> None:
    lines = (bundle / "events.jsonl").read_bytes().splitlines(keepends=True)
    lines[i], lines[j] = lines[j], lines[i]
    (bundle / "events.jsonl").write_bytes(b"".join(lines))


def _manifest(bundle: Path, **changes: object) -> None:
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    (bundle / "manifest.json").write_bytes(canonical({**manifest, **changes}) + b"\n")


def _flip_blob(bundle: Path) -> None:
    path = blob_files(bundle)[0]
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))


def _first_blob_line(bundle: Path) -> int:
    """The line of the first event referring to the first blob file."""
    name = blob_files(bundle)[0].name
    return next(i for i, r in enumerate(read_events(bundle), start=1) if name in r["payload"])


@dataclass(frozen=True)
class Damage:
    name: str
    damage: Callable[[Path], None]
    rule: str
    file: str
    line: int | None  # None: see ``line_of``
    fragment: str = ""


DAMAGES = [
    Damage(
        "a field changed (chain broken)",
        lambda b: _replace_line(b, 3, lambda x: x.replace(b'"bob"', b'"eve"')),
        "modified",
        "events.jsonl",
        4,
    ),
    Damage(
        "a line that is not JSON",
        lambda b: _replace_line(b, 2, lambda _: b"{not json\n"),
        "malformed",
        "events.jsonl",
        3,
        "not valid JSON",
    ),
    Damage(
        "a field of the wrong type",
        lambda b: _replace_line(b, 1, lambda x: x.replace(b'"version":1', b'"version":"1"')),
        "malformed",
        "events.jsonl",
        2,
        "version",
    ),
    Damage(
        "a missing key",
        lambda b: _replace_line(b, 1, lambda x: x.replace(b'"actor":"alice",', b"")),
        "malformed",
        "events.jsonl",
        2,
        "missing ['actor']",
    ),
    Damage(
        "an integer beyond 64 bits",
        lambda b: _replace_line(b, 0, lambda x: x.replace(b'"version":1', b'"version":' + str(2**64 + 5).encode())),
        "malformed",
        "events.jsonl",
        1,
        "beyond 64 bits",
    ),
    Damage(
        "a truncated file",
        lambda b: (b / "events.jsonl").write_bytes((b / "events.jsonl").read_bytes()[:-10]),
        "malformed",
        "events.jsonl",
        8,
        "truncated",
    ),
    Damage("a dropped line", lambda b: _replace_line(b, 2, lambda _: b""), "deleted", "events.jsonl", 3),
    Damage("two lines swapped", lambda b: _swap(b, 2, 3), "reordered", "events.jsonl", 3),
    Damage("a duplicated line", lambda b: _replace_line(b, 2, lambda x: x + x), "inserted", "events.jsonl", 4),
    Damage("a blob missing", lambda b: blob_files(b)[0].unlink(), "blob_missing", "events.jsonl", None),
    Damage("a blob corrupted", _flip_blob, "blob_corrupted", "events.jsonl", None),
    Damage(
        "no manifest", lambda b: (b / "manifest.json").unlink(), "malformed", "manifest.json", None, "no manifest.json"
    ),
    Damage(
        "a manifest that is not JSON",
        lambda b: (b / "manifest.json").write_bytes(b"{"),
        "malformed",
        "manifest.json",
        1,
    ),
    Damage(
        "a wrong event_count", lambda b: _manifest(b, event_count=7), "modified", "manifest.json", 1, "manifest says 7"
    ),
    Damage(
        "format_version 99",
        lambda b: _manifest(b, format_version=99),
        "malformed",
        "manifest.json",
        1,
        "format_version 99",
    ),
    Damage("a wrong blob_count", lambda b: _manifest(b, blob_count=9), "modified", "manifest.json", 1, "blobs"),
]


@pytest.mark.parametrize("case", DAMAGES, ids=[c.name for c in DAMAGES])
async def test_damaged_files_are_refused_naming_file_and_line(
    case: Damage, engine: AsyncEngine, bundles: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "damaged"
    shutil.copytree(bundles / "full", bundle)
    line = case.line
    if line is None and case.file == "events.jsonl":
        line = _first_blob_line(bundle)
    case.damage(bundle)
    async with seeded(engine, bundles) as ledger:
        head = await ledger.head()
        with pytest.raises(BundleRuleError) as info:
            await import_bundle(ledger.engine, bundle)
        assert (info.value.file, info.value.line, info.value.rule) == (case.file, line, case.rule)
        message = str(info.value)
        assert f"({case.rule})" in message
        assert (f"{case.file} line {line}" if line is not None else case.file) in message
        assert case.fragment in message
        await assert_unchanged(ledger, head)


async def test_an_older_export_of_the_same_ledger_changes_nothing(engine: AsyncEngine, bundles: Path) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await import_bundle(ledger.engine, bundles / "full")
        head = await ledger.head()
        again = await import_bundle(ledger.engine, bundles / "early")
        assert again.already_contained
        assert (again.events_imported, again.events_skipped, again.blobs_imported) == (0, 3, 0)
        assert (again.head_position, again.head_hash) == (head.position, head.hash)
        assert await ledger.head() == head
        assert await event_count(ledger.engine) == 8
        assert (await ledger.verify()).ok


async def test_a_diverging_older_bundle_names_the_first_differing_position(
    engine: AsyncEngine, bundles: Path, tmp_path: Path
) -> None:
    other = forge(bundles / "early", tmp_path / "other", edit(1, actor="mallory"))
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await import_bundle(ledger.engine, bundles / "full")
        head = await ledger.head()
        with pytest.raises(ImportConflictError, match=r"differ from position 2 on \(events.jsonl line 2\)"):
            await import_bundle(ledger.engine, other)
        assert await ledger.head() == head
        assert await event_count(ledger.engine) == 8


async def test_a_diverging_longer_bundle_names_the_first_differing_position(
    engine: AsyncEngine, bundles: Path, tmp_path: Path
) -> None:
    other = forge(bundles / "full", tmp_path / "other", edit(2, reason="changed"))
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await import_bundle(ledger.engine, bundles / "early")
        with pytest.raises(ImportConflictError, match=r"differ from position 3 on \(events.jsonl line 3\)"):
            await import_bundle(ledger.engine, other)
        assert await event_count(ledger.engine) == 3


async def test_an_event_id_the_target_already_has_is_refused(
    engine: AsyncEngine, bundles: Path, tmp_path: Path
) -> None:
    early = read_events(bundles / "early")
    bundle = forge(bundles / "more", tmp_path / "dup", edit(0, event_id=early[1]["event_id"]))
    async with seeded(engine, bundles) as ledger:
        head = await ledger.head()
        with pytest.raises(BundleRuleError, match="already names an event of the ledger") as info:
            await import_bundle(ledger.engine, bundle)
        assert (info.value.line, info.value.rule) == (1, "unique-event-id")
        await assert_unchanged(ledger, head)


async def test_a_valid_incremental_bundle_passes_the_rules_against_the_target(
    engine: AsyncEngine, bundles: Path
) -> None:
    async with seeded(engine, bundles) as ledger:
        result = await import_bundle(ledger.engine, bundles / "more")
        assert result.events_imported == 5
        assert (await ledger.verify()).ok
