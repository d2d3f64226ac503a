"""Random mutations of a real export: import refuses each with ``InvalidBundleError`` (or the
conflict error) and leaves the target as it was, or — only when the mutation changed nothing, or
re-sealed the chain around an edit a writer could have made — imports it into a ledger that verifies.

The export (creates, updates with content blobs, a move, a delete, a restore, a revert) is made
once; each example copies it, applies one mutation (a flipped byte, a dropped, duplicated or
swapped line, a field set to a wrong type, an out-of-range number or another id, a truncated
file, a corrupted blob, a changed manifest field), re-sealing the chain for field edits half of
the time so the write rules, not only the hashes, are exercised, and imports it into a SQLite
ledger holding the first three events of the same history.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from artifact_ledger.errors import InvalidBundleError, LedgerError
from artifact_ledger.ledger import Ledger
from artifact_ledger.store.tables import events
from artifact_ledger.transfer import ImportConflictError, import_bundle
from bundle_forge import blob_files, build_bundles, canonical, read_events, write_events
from ledger_support import SECRET

SOURCES = build_bundles(Path(tempfile.mkdtemp(prefix="bundle-mutations-")))
FULL = SOURCES / "full"
LINES = (FULL / "events.jsonl").read_bytes().splitlines(keepends=True)
RECORDS = read_events(FULL)
IDS = sorted({r["artifact_id"] for r in RECORDS} | {r["event_id"] for r in RECORDS})
FIELDS = ["position", "event_id", "artifact_id", "version", "type", "schema_version", "recorded_at", "actor"]
PAYLOAD_KEYS = ["parent_id", "to_parent_id", "from_parent_id", "tags", "data", "content", "reverted_to", "cascade_root"]
MANIFEST_KEYS = ["first_position", "head_position", "event_count", "blob_count", "blob_bytes", "format_version"]

wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 2, 99, 2**31, 2**40, 2**63, 2**64 + 1, 1.5]),
    st.sampled_from(["", "../../etc/passwd", "x" * 300, "artifact.exploded", "2000-01-01T00:00:00.000000Z"]),
    st.sampled_from(IDS),
    st.just(IDS[0].lower()),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["hash", "codec", "size"]), st.integers(), max_size=2),
)

mutations = st.one_of(
    st.tuples(
        st.just("flip"),
        st.sampled_from(["events.jsonl", "manifest.json", "blob"]),
        st.integers(0, 10**6),
        st.integers(1, 255),
    ),
    st.tuples(st.just("drop"), st.integers(0, len(LINES) - 1)),
    st.tuples(st.just("duplicate"), st.integers(0, len(LINES) - 1)),
    st.tuples(st.just("swap"), st.integers(0, len(LINES) - 1), st.integers(0, len(LINES) - 1)),
    st.tuples(st.just("field"), st.integers(0, len(LINES) - 1), st.sampled_from(FIELDS), wrong_values, st.booleans()),
    st.tuples(
        st.just("payload"), st.integers(0, len(LINES) - 1), st.sampled_from(PAYLOAD_KEYS), wrong_values, st.booleans()
    ),
    st.tuples(st.just("truncate"), st.sampled_from(["events.jsonl", "manifest.json", "blob"]), st.integers(0, 10**6)),
    st.tuples(st.just("manifest"), st.sampled_from(MANIFEST_KEYS), wrong_values),
)


def mutate(bundle: Path, mutation: tuple[Any, ...]) -> bool:
    """Apply ``mutation``; True if the bundle's bytes changed."""
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    kind = mutation[0]
    events_path = bundle / "events.jsonl"
    if kind in ("flip", "truncate"):
        path = blob_files(bundle)[0] if mutation[1] == "blob" else bundle / mutation[1]
        data = bytearray(path.read_bytes())
        index = mutation[2] % max(len(data), 1)
        if kind == "flip":
            data[index] ^= mutation[3]
        else:
            del data[index:]
        path.write_bytes(bytes(data))
    elif kind in ("drop", "duplicate", "swap"):
        lines = list(LINES)
        if kind == "drop":
            del lines[mutation[1]]
        elif kind == "duplicate":
            lines.insert(mutation[1], lines[mutation[1]])
        else:
            lines[mutation[1]], lines[mutation[2]] = lines[mutation[2]], lines[mutation[1]]
        events_path.write_bytes(b"".join(lines))
    elif kind in ("field", "payload"):
        _, index, key, value, reseal = mutation
        records = [dict(r) for r in RECORDS]
        if kind == "field":
            records[index][key] = value
        else:
            body = json.loads(records[index]["payload"])
            body[key] = value
            records[index]["payload"] = canonical(body).decode()
        try:
            if reseal:
                write_events(bundle, records, renumber=False)
            else:
                events_path.write_bytes(b"".join(canonical(r) + b"\n" for r in records))
        except (ValueError, TypeError, OverflowError):  # no hash can cover it: write it unsealed
            events_path.write_bytes(b"".join(canonical(r) + b"\n" for r in records))
    else:
        _, key, value = mutation
        manifest = json.loads((bundle / "manifest.json").read_bytes())
        manifest[key] = value
        (bundle / "manifest.json").write_bytes(canonical(manifest) + b"\n")
    after = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    return _meaning(after, bundle) != _meaning(before, bundle)


INFORMATIONAL = ("generator", "created_at")
"""Manifest keys that are not verified (docs/bundle-format.md): changing one changes nothing."""
VERIFIED = (
    "format",
    "format_version",
    "hash_algorithm",
    "first_position",
    "prev_hash",
    "head_position",
    "head_hash",
    "event_count",
    "events_sha256",
    "blob_count",
    "blob_bytes",
)
"""The keys a reader checks; it ignores keys it does not know."""


def _meaning(files: dict[Path, bytes], bundle: Path) -> dict[Path, object]:
    """The files, with the manifest read as JSON and only its verified keys kept (when it parses)."""
    meaning: dict[Path, object] = dict(files)
    raw = files.get(bundle / "manifest.json")
    if raw is not None:
        try:
            manifest = json.loads(raw)
        except ValueError:
            return meaning
        if isinstance(manifest, dict) and all(type(manifest.get(k)) in (str, type(None)) for k in INFORMATIONAL):
            meaning[bundle / "manifest.json"] = {k: v for k, v in manifest.items() if k in VERIFIED}
    return meaning


async def state(ledger: Ledger) -> tuple[object, int, list[tuple[Any, ...]]]:
    async with ledger.engine.connect() as conn:
        count = int((await conn.execute(select(func.count()).select_from(events))).scalar_one())
        rows = [tuple(r) for r in (await conn.execute(select(events).order_by(events.c.position))).all()]
    return await ledger.head(), count, rows


async def check(bundle: Path, changed: bool, resealed: bool, directory: Path) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{directory / 'target.db'}", secret=SECRET) as ledger:
        await import_bundle(ledger.engine, SOURCES / "early")
        before = await state(ledger)
        try:
            result = await import_bundle(ledger.engine, bundle)
        except (InvalidBundleError, ImportConflictError):
            assert await state(ledger) == before
            report = await ledger.verify()
            assert report.ok, report.problem
            return
        except LedgerError as exc:  # any other refusal is a bug in the rules: report it
            raise AssertionError(f"unexpected {type(exc).__name__}: {exc}") from exc
        # Only an unchanged bundle, or one re-sealed into another history a writer could have
        # written (its chain re-made by whoever edited it: no hash can tell), may be imported.
        assert not changed or resealed, f"a mutated bundle was imported: {result}"
        report = await ledger.verify()
        assert report.ok, report.problem
        assert (await ledger.head()).hash == json.loads((bundle / "manifest.json").read_bytes())["head_hash"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutation=mutations)
def test_a_mutated_export_is_refused_or_unchanged(mutation: tuple[Any, ...]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "b"
        shutil.copytree(FULL, bundle)
        changed = mutate(bundle, mutation)
        resealed = mutation[0] in ("field", "payload") and bool(mutation[-1])
        asyncio.run(check(bundle, changed, resealed, Path(tmp)))
