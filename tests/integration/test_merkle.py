"""The Merkle tree on every backend: kept by the append path, proofs from the database that verify in the
library and in the stdlib verifier, and the stored state covered by verify, rebuild, import and migration."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    ConsistencyProof,
    InclusionProof,
    Ledger,
    MerkleDriftError,
    ProofRangeError,
    migrate,
)
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.merkle import STORED_LEVEL, Frontier, leaf_hash, root_of
from artifact_ledger.transfer import export_ledger, import_bundle
from ledger_support import SECRET, make_format_1


async def event_hashes(engine: AsyncEngine) -> list[bytes]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT hash FROM ledger_events ORDER BY position"))).all()
    return [bytes(r[0]) for r in rows]


async def stored_state(engine: AsyncEngine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        frontier = (await conn.execute(text("SELECT id, size, roots FROM ledger_merkle_frontier"))).all()
        nodes = (await conn.execute(text("SELECT level, idx, hash FROM ledger_merkle_nodes ORDER BY level, idx"))).all()
    return [(r[0], r[1], bytes(r[2])) for r in frontier], [(r[0], r[1], bytes(r[2])) for r in nodes]


async def assert_state_is_the_logs(ledger: Ledger) -> list[bytes]:
    """The stored frontier and nodes are exactly those computed from scratch from the event hashes."""
    hashes = await event_hashes(ledger.engine)
    frontier, nodes = Frontier(), []  # type: ignore[var-annotated]
    frontier.extend(hashes, nodes)
    stored_frontier, stored_nodes = await stored_state(ledger.engine)
    assert stored_frontier == ([(1, len(hashes), frontier.packed())] if hashes else [])
    assert stored_nodes == sorted(nodes)
    head = await ledger.merkle_root()
    assert (head.size, head.root) == (len(hashes), root_of([leaf_hash(h) for h in hashes]).hex())
    return hashes


def stdlib_ok(proof: InclusionProof | ConsistencyProof, roots: list[str] | None = None) -> bool:
    return standalone.check_proof(standalone.parse_proof(proof.model_dump_json()), roots).ok


def flipped(proof: InclusionProof | ConsistencyProof, index: int, bit: int) -> dict[str, Any]:
    document = proof.model_dump()
    raw = bytearray(bytes.fromhex(document["hashes"][index]))
    raw[bit // 8] ^= 1 << (bit % 8)
    document["hashes"][index] = raw.hex()
    return document


async def grow(ledger: Ledger, rng: random.Random, steps: int) -> None:
    """Random single saves, batches and multi-command transactions."""
    async with ledger.manager() as manager:
        ids: list[str] = []
        for _ in range(steps):
            kind = rng.random()
            if kind < 0.5 or not ids:
                ids.append(str((await manager.save(ArtifactIn(data={"n": rng.random()}))).id))
            elif kind < 0.8:
                batch = await manager.save_all([ArtifactIn(data={"b": i}) for i in range(rng.randint(1, 40))])
                ids.extend(str(a.id) for a in batch)
            else:
                async with manager.transaction():
                    for _ in range(rng.randint(2, 5)):
                        target = rng.choice(ids)
                        await manager.save(ArtifactIn(id=target, data={"u": rng.random()}))


async def test_the_tree_is_the_logs_after_random_appends_and_every_proof_verifies(engine: AsyncEngine) -> None:
    rng = random.Random(20)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.merkle_root()).size == 0
        await assert_state_is_the_logs(ledger)
        for _ in range(4):
            await grow(ledger, rng, 12)
            hashes = await assert_state_is_the_logs(ledger)
        n = len(hashes)
        assert n > 4 << STORED_LEVEL  # stored subtrees on several levels take part
        roots = standalone.merkle_roots([h.hex() for h in hashes])
        for _ in range(25):
            size = rng.randint(1, n)
            position = rng.randint(1, size)
            old = rng.randint(0, size)
            inclusion = await ledger.prove_inclusion(position, size)
            assert inclusion.event_hash == hashes[position - 1].hex()
            assert inclusion.root == roots[size] == (await ledger.merkle_root(size)).root
            assert inclusion.verify()
            assert stdlib_ok(inclusion, roots)
            consistency = await ledger.prove_consistency(old, size)
            assert (consistency.old_root, consistency.new_root) == (roots[old], roots[size])
            assert consistency.verify()
            assert stdlib_ok(consistency, roots)
            for proof in (inclusion, consistency):
                for index in range(len(proof.hashes)):
                    bit = rng.randrange(256)
                    document = flipped(proof, index, bit)
                    assert not type(proof).model_validate(document).verify()
                    assert not standalone.check_proof(standalone.parse_proof(json.dumps(document))).ok
        latest = await ledger.prove_inclusion(n)
        assert (latest.size, latest.root) == (n, roots[n])


async def test_bad_sizes_and_positions_are_refused_by_number(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save_all([ArtifactIn(data={"i": i}) for i in range(5)])
        with pytest.raises(ProofRangeError, match="position 6 is not in the tree of size 5"):
            await ledger.prove_inclusion(6)
        with pytest.raises(ProofRangeError, match=r"position 4 is not in the tree of size 3.*holds 5 events"):
            await ledger.prove_inclusion(4, 3)
        with pytest.raises(ProofRangeError, match="position 0 is not in the tree"):
            await ledger.prove_inclusion(0)
        with pytest.raises(ProofRangeError, match="size 9 is beyond the log, which holds 5 events"):
            await ledger.prove_inclusion(1, 9)
        with pytest.raises(ProofRangeError, match="new_size 6 is beyond the log, which holds 5 events"):
            await ledger.prove_consistency(2, 6)
        with pytest.raises(ProofRangeError, match="old_size 4 is larger than new_size 3"):
            await ledger.prove_consistency(4, 3)
        with pytest.raises(ProofRangeError, match="size -1 is not a tree size"):
            await ledger.merkle_root(-1)
        with pytest.raises(ProofRangeError, match="old_size None is not a tree size"):
            await ledger.prove_consistency(None)  # type: ignore[arg-type]
        with pytest.raises(ProofRangeError, match="old_size None is not a tree size"):
            await ledger.prove_consistency(None, 3)  # type: ignore[arg-type]
        same = await ledger.prove_consistency(5)
        assert same.hashes == []
        assert same.old_root == same.new_root
        assert same.verify()


async def test_an_edited_frontier_is_caught_refuses_writes_and_rebuild_repairs_it(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save_all([ArtifactIn(data={"i": i}) for i in range(21)])  # 21 = 10101: three roots
            before = await ledger.merkle_root()
            async with engine.begin() as conn:
                roots = bytes((await conn.execute(text("SELECT roots FROM ledger_merkle_frontier"))).scalar_one())
                edited = roots[:40] + bytes([roots[40] ^ 1]) + roots[41:]
                await conn.execute(text("UPDATE ledger_merkle_frontier SET roots = :r"), {"r": edited})
            report = await ledger.verify()
            assert not report.ok
            assert report.reason == "projection_drift"
            assert "ledger_merkle_frontier row 1 (size 21)" in (report.problem or "")
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE ledger_merkle_frontier SET size = 20"))
            with pytest.raises(MerkleDriftError, match="a tree of 20 events, but the log's head is at position 21"):
                await manager.save(ArtifactIn(data={"late": True}))
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE ledger_merkle_frontier SET size = 21, roots = :r"), {"r": roots[:40]})
            with pytest.raises(MerkleDriftError, match="roots are damaged"):
                await manager.save(ArtifactIn(data={"late": True}))
            await ledger.rebuild()
            assert (await ledger.verify()).ok
            assert await ledger.merkle_root() == before
            await manager.save(ArtifactIn(data={"late": True}))
        await assert_state_is_the_logs(ledger)


async def test_an_edited_or_missing_node_is_caught_and_rebuild_repairs_it(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save_all([ArtifactIn(data={"i": i}) for i in range(70)])
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE ledger_merkle_nodes SET hash = :h WHERE level = 4 AND idx = 1"), {"h": b"\x07" * 32}
            )
        report = await ledger.verify()
        assert not report.ok
        assert report.broken_position == 32
        assert "holds another hash than the events give for the subtree of events 17 to 32" in (report.problem or "")
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger_merkle_nodes WHERE level = 5 AND idx = 0"))
        with pytest.raises(MerkleDriftError, match="no row for the subtree of events 1 to 32"):
            await ledger.prove_inclusion(40)
        await ledger.rebuild()
        assert (await ledger.verify()).ok
        await assert_state_is_the_logs(ledger)
        assert (await ledger.prove_inclusion(40)).verify()


async def test_export_import_recomputes_the_tree_and_the_stdlib_verifier_checks_proofs_against_the_bundle(
    engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}", secret=SECRET) as source:
        async with source.manager() as manager:
            await manager.save_all([ArtifactIn(data={"i": i}) for i in range(40)])
            head = await source.head()
            await export_ledger(source.engine, tmp_path / "first")
            await manager.save_all([ArtifactIn(data={"j": i}) for i in range(9)])
        from artifact_ledger.bundle import write_bundle

        await write_bundle(source.engine, tmp_path / "more", since=head)
        await export_ledger(source.engine, tmp_path / "all")
        expected = await source.merkle_root()
        inclusion = await source.prove_inclusion(33)
        consistency = await source.prove_consistency(40)
    async with Ledger.open(engine, secret=SECRET) as target:
        await import_bundle(target.engine, tmp_path / "first")
        await assert_state_is_the_logs(target)
        await import_bundle(target.engine, tmp_path / "more")  # continues from the stored frontier
        await assert_state_is_the_logs(target)
        assert (await target.merkle_root()).root == expected.root
        assert (await target.prove_consistency(40)).hashes == consistency.hashes
        assert (await target.verify()).ok
    (tmp_path / "inclusion.json").write_text(inclusion.model_dump_json())
    (tmp_path / "consistency.json").write_text(consistency.model_dump_json())
    proofs = ["--proof", str(tmp_path / "inclusion.json"), "--proof", str(tmp_path / "consistency.json")]
    assert standalone.main(proofs) == 0
    assert standalone.main([str(tmp_path / "all"), *proofs]) == 0
    assert standalone.main([str(tmp_path / "first"), "--proof", str(tmp_path / "consistency.json")]) == 1
    # an incremental bundle cannot be compared with: the proof is checked alone, and the line says so
    capsys.readouterr()
    assert standalone.main([str(tmp_path / "more"), "--proof", str(tmp_path / "inclusion.json")]) == 0
    said = capsys.readouterr().out
    assert "OK: " in said
    assert "NOT compared with the bundle: it is incremental, from position 41" in said
    bad = flipped(inclusion, 0, 3)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert standalone.main(["--proof", str(tmp_path / "bad.json")]) == 1
    (tmp_path / "odd.json").write_text('{"kind": "inclusion"}')
    assert standalone.main(["--proof", str(tmp_path / "odd.json")]) == 2
    assert standalone.main(["--proof", str(tmp_path / "missing.json")]) == 2
    os.mkfifo(tmp_path / "fifo.json")  # refused, never waited on for a writer that does not come
    for option in ("--proof", "--checkpoint"):
        code = await asyncio.wait_for(asyncio.to_thread(standalone.main, [option, str(tmp_path / "fifo.json")]), 30)
        assert code == 2
        assert "fifo.json is a FIFO" in capsys.readouterr().err


async def test_migration_0005_builds_the_tree_of_an_existing_log(engine: AsyncEngine) -> None:
    await make_format_1(engine)  # a ledger from before chain format 2: it can go below revision 0007
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save_all([ArtifactIn(data={"i": i}) for i in range(37)])
        expected = await ledger.merkle_root()
    await migrate.upgrade(engine)  # adopts the create_all schema at the head revision
    await migrate.downgrade(engine, "0004")
    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda c: __import__("sqlalchemy").inspect(c).get_table_names()))
    assert "ledger_merkle_frontier" not in names
    await migrate.upgrade(engine)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert await ledger.merkle_root() == expected
        await assert_state_is_the_logs(ledger)
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"after": True}))
        await assert_state_is_the_logs(ledger)
