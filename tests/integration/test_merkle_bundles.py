"""Bundles carry the Merkle tree's size and root: export records them, the stdlib verifier and import
recompute them from the events and refuse a manifest whose root is not the events' (both roots named);
a bundle written before the tree (no Merkle fields) still verifies and imports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, BundleRuleError, Ledger, MerkleDriftError
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.bundle import load_bundle, write_bundle
from artifact_ledger.transfer import export_ledger, import_bundle
from bundle_forge import forge, with_payload
from ledger_support import SECRET

OTHER_ROOT = "ab" * 32


def manifest(bundle: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((bundle / "manifest.json").read_bytes())
    return loaded


def rewrite_manifest(bundle: Path, **changes: Any) -> None:
    record = manifest(bundle)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    (bundle / "manifest.json").write_text(json.dumps(record, sort_keys=True) + "\n")


async def fill(ledger: Ledger, start: int, count: int) -> None:
    async with ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={"i": i}) for i in range(start, start + count)])


async def source_bundles(tmp_path: Path) -> dict[str, Any]:
    """A SQLite source of 49 events: ``first`` (events 1-21), ``more`` (22-49, incremental), ``all``."""
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}", secret=SECRET) as source:
        await fill(source, 0, 21)  # 21 = 10101: an incremental bundle after it has a base of three subtrees
        early = await source.head()
        await export_ledger(source.engine, tmp_path / "first")
        await fill(source, 21, 28)
        await write_bundle(source.engine, tmp_path / "more", since=early)
        await export_ledger(source.engine, tmp_path / "all")
        return {"root": (await source.merkle_root()).root, "early_root": (await source.merkle_root(21)).root}


async def test_export_records_the_tree_and_both_verifiers_and_import_recompute_it(
    engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await fill(ledger, 0, 37)
        written = await export_ledger(ledger.engine, tmp_path / "own")  # exported from this backend
        root = (await ledger.merkle_root()).root
    assert (written.merkle_size, written.merkle_root, written.merkle_frontier) == (37, root, ())
    assert manifest(tmp_path / "own")["merkle_root"] == root
    report = standalone.verify_bundle(tmp_path / "own")
    assert report.ok, report
    assert report.merkle == f"Merkle root {root} of 37 events checked"
    assert standalone.main([str(tmp_path / "own")]) == 0
    assert f"Merkle root {root} of 37 events checked" in capsys.readouterr().out

    roots = await source_bundles(tmp_path)
    first, more = manifest(tmp_path / "first"), manifest(tmp_path / "more")
    assert (first["merkle_size"], first["merkle_root"], first["merkle_frontier"]) == (21, roots["early_root"], [])
    assert (more["merkle_size"], more["merkle_root"]) == (49, roots["root"])
    assert len(more["merkle_frontier"]) == 3  # the subtrees of 16, 4 and 1 events before position 22
    assert standalone.verify_bundle(tmp_path / "more").ok  # grown from the manifest's base frontier

    # Imported into a ledger of this backend, the bundles' events grow its tree to the manifests' roots.
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}", secret=SECRET) as other:
        await import_bundle(other.engine, tmp_path / "first")
        assert (await other.merkle_root()).root == roots["early_root"]


async def test_a_forged_manifest_root_is_refused_naming_both_roots(
    engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roots = await source_bundles(tmp_path)
    forged = tmp_path / "forged"
    shutil.copytree(tmp_path / "all", forged)
    rewrite_manifest(forged, merkle_root=OTHER_ROOT)
    report = standalone.verify_bundle(forged)
    assert not report.ok
    assert report.reason == "modified"
    assert roots["root"] in (report.problem or "")
    assert OTHER_ROOT in (report.problem or "")
    assert standalone.main([str(forged)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out
    assert OTHER_ROOT in out
    assert roots["root"] in out
    with pytest.raises(BundleRuleError) as caught:
        await import_bundle(engine, forged)
    assert caught.value.file == "manifest.json"
    assert roots["root"] in str(caught.value)
    assert OTHER_ROOT in str(caught.value)
    async with Ledger.open(engine, secret=SECRET) as target:
        assert (await target.head()).position == 0  # nothing written

    # Events edited and re-sealed by hand, the manifest's root left as exported: the root gives it away.
    stale = tmp_path / "stale"
    forge(tmp_path / "all", stale, lambda events: [with_payload(events[0], data={"i": 99}), *events[1:]])
    rewrite_manifest(stale, merkle_root=roots["root"])
    report = standalone.verify_bundle(stale)
    assert not report.ok
    assert roots["root"] in (report.problem or "")
    with pytest.raises(BundleRuleError, match=roots["root"]):
        load_bundle(stale)


async def test_an_incremental_bundle_whose_base_is_not_the_targets_is_refused_on_import(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    roots = await source_bundles(tmp_path)
    await import_bundle(engine, tmp_path / "first")
    forged = tmp_path / "forged"
    shutil.copytree(tmp_path / "more", forged)
    # A consistent lie: another base frontier and the root the bundle's events grow it to. The stdlib
    # verifier cannot tell (it has only the bundle); the target grows its own tree and can.
    fake = ["cd" * 32, "ef" * 32, "01" * 32]
    frontier = standalone.MerkleFrontier(21, fake)
    for line in (forged / "events.jsonl").read_bytes().splitlines():
        frontier.append(bytes.fromhex(json.loads(line)["hash"]))
    lie = frontier.root().hex()
    rewrite_manifest(forged, merkle_frontier=fake, merkle_root=lie)
    assert standalone.verify_bundle(forged).ok
    with pytest.raises(BundleRuleError) as caught:
        await import_bundle(engine, forged)
    assert caught.value.rule == "merkle-root"
    assert lie in str(caught.value)
    assert roots["root"] in str(caught.value)
    async with Ledger.open(engine, secret=SECRET) as target:
        assert (await target.head()).position == 21  # nothing written
        assert (await target.merkle_root()).root == roots["early_root"]
        assert (await target.verify()).ok
    await import_bundle(engine, tmp_path / "more")
    async with Ledger.open(engine, secret=SECRET) as target:
        assert (await target.merkle_root()).root == roots["root"]


async def test_a_bundle_written_before_the_tree_still_verifies_and_imports(
    engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roots = await source_bundles(tmp_path)
    for name in ("first", "more"):
        rewrite_manifest(tmp_path / name, merkle_size=None, merkle_root=None, merkle_frontier=None)
        report = standalone.verify_bundle(tmp_path / name)
        assert report.ok, report
        assert report.merkle == "no Merkle root in manifest"
        assert standalone.main([str(tmp_path / name)]) == 0
        assert "no Merkle root in manifest" in capsys.readouterr().out
        assert load_bundle(tmp_path / name).manifest.merkle_root is None
        await import_bundle(engine, tmp_path / name)
    async with Ledger.open(engine, secret=SECRET) as target:
        assert (await target.merkle_root()).root == roots["root"]  # recomputed by the import
        assert (await target.verify()).ok


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"merkle_frontier": None}, "has merkle_size, merkle_root but not merkle_frontier"),
        ({"merkle_root": None, "merkle_size": None}, "has merkle_frontier but not merkle_size, merkle_root"),
        ({"merkle_size": 48}, "merkle_size 48 is not head_position 49"),
        ({"merkle_size": "49"}, "merkle_size must be an integer"),
        ({"merkle_root": "AB" * 32}, "merkle_root must be 64 lowercase hex digits"),
        ({"merkle_frontier": ["ab" * 32]}, "merkle_frontier holds 1 hashes; the tree of the 21 events"),
        ({"merkle_frontier": "ab"}, "merkle_frontier must be a list"),
        ({"merkle_frontier": ["xyz", "ab" * 32, "ab" * 32]}, "merkle_frontier must be a list"),
    ],
)
async def test_malformed_merkle_fields_are_refused_by_name(
    engine: AsyncEngine, tmp_path: Path, changes: dict[str, Any], problem: str
) -> None:
    await source_bundles(tmp_path)
    rewrite_manifest(tmp_path / "more", **changes)
    report = standalone.verify_bundle(tmp_path / "more")
    assert not report.ok
    assert report.reason == "malformed"
    assert problem in (report.problem or "")
    await import_bundle(engine, tmp_path / "first")
    with pytest.raises(BundleRuleError, match=r"manifest\.json"):
        await import_bundle(engine, tmp_path / "more")


async def test_export_records_the_events_root_whatever_the_stored_tree_says(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await fill(ledger, 0, 40)
        honest = (await ledger.merkle_root()).root
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE ledger_merkle_nodes SET hash = :h WHERE level = 5 AND idx = 0"), {"h": b"\x07" * 32}
            )
        assert (await ledger.merkle_root()).root != honest  # read from the drifted stored tree
        written = await export_ledger(ledger.engine, tmp_path / "drifted")
        assert not (await ledger.verify()).ok  # the ledger's verify reports the drift
    # The bundle carries the events' root (the tree is derived state, like a projection).
    assert written.merkle_root == honest
    assert standalone.verify_bundle(tmp_path / "drifted").ok


async def test_an_incremental_export_whose_base_cannot_be_read_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await fill(ledger, 0, 40)
        since = await ledger.head()
        await fill(ledger, 40, 5)
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger_merkle_nodes WHERE level = 5 AND idx = 0"))
        with pytest.raises(MerkleDriftError, match="no row for the subtree of events 1 to 32"):
            await write_bundle(ledger.engine, tmp_path / "more", since=since)
    assert not (tmp_path / "more" / "manifest.json").exists()
