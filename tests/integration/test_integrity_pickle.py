"""Signed pickle in the database: reading a planted, re-keyed or altered pickle never runs its code.

The codec-level cases (unsigned, unknown key, forged HMAC, tampered bytes, malformed headers)
are in tests/unit/test_content.py; these go through the database, the way an attacker with
write access to it (but not to the key) would plant them.
"""

from __future__ import annotations

import hashlib
import pickle

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import tampered

from artifact_ledger import ArtifactIn, ArtifactManager, Keyring, Ledger, UntrustedContentError
from ledger_support import SECRET
from pickle_trap import TRIPPED, Payload


class Model:
    def __init__(self, coef: float) -> None:
        self.coef = coef


@pytest.fixture
def evil() -> bytes:
    payload = pickle.dumps(Payload(), protocol=5)
    pickle.loads(payload)  # control: this payload really runs code when unpickled
    assert TRIPPED == ["unpickled"]
    TRIPPED.clear()
    return payload


async def plant(engine: AsyncEngine, artifact_id: str, blob: bytes) -> str:
    """Insert ``blob`` into ledger_blobs and point the artifact's row at it: plain writes, no trigger stops them.

    The attacker pads ``blob`` to the size the log lists for the artifact's content: a read fetches no
    more than that and refuses a row of another size before anything parses it, so only a planted row of
    the listed size reaches the checks these tests are about (the pickle's header and signature); bytes
    after a pickle's STOP opcode are never read by the unpickler."""
    async with engine.connect() as conn:
        listed = (
            await conn.execute(text("SELECT content_size FROM ledger_artifacts WHERE id = :id"), {"id": artifact_id})
        ).scalar_one()
    assert len(blob) <= listed, (len(blob), listed)
    blob += b"." * (listed - len(blob))
    digest = hashlib.sha256(blob).hexdigest()
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO ledger_blobs (hash, size, data) VALUES (:h, :s, :d)"),
            {"h": digest, "s": len(blob), "d": blob},
        )
        await conn.execute(
            text("UPDATE ledger_artifacts SET content_hash = :h, content_codec = 'pickle' WHERE id = :id"),
            {"h": digest, "id": artifact_id},
        )
    return digest


async def saved_model(manager: ArtifactManager) -> str:
    out = await manager.save(ArtifactIn(data={"name": "model", "content": Model(2.0)}))
    return str(out.id)


async def test_a_pickle_inserted_into_the_blob_table_is_refused_unrun(
    manager: ArtifactManager, engine: AsyncEngine, evil: bytes
) -> None:
    aid = await saved_model(manager)
    digest = await plant(engine, aid, evil)
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as reader:
        with pytest.raises(UntrustedContentError, match=f"blob {digest} is an unsigned pickle"):
            await reader.find_by_id(aid)
        with pytest.raises(UntrustedContentError, match="refusing to unpickle"):
            await reader.find_all()
        listed = await reader.find_by_id(aid, include_content=False)
        assert listed is not None
        assert "content" not in listed.data
        report = await ledger.verify()
    assert TRIPPED == []
    assert (report.reason, report.artifact_id) == ("projection_drift", aid)
    assert "column content_hash" in str(report.problem)


async def test_a_pickle_signed_with_another_key_is_refused_unrun(
    manager: ArtifactManager, engine: AsyncEngine, evil: bytes
) -> None:
    aid = await saved_model(manager)
    forger = Keyring.from_secret("the attacker's own secret")
    await plant(engine, aid, b"ALPK\x01" + forger.sign(evil) + evil)
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as reader:
        with pytest.raises(
            UntrustedContentError, match=f"key this ledger does not hold \\(key id {forger.signing_key_id.hex()}"
        ):
            await reader.find_by_id(aid)
    assert TRIPPED == []


async def test_a_genuine_pickle_read_with_another_key_is_refused(manager: ArtifactManager, engine: AsyncEngine) -> None:
    aid = await saved_model(manager)
    async with Ledger.open(engine, secret="some other secret") as ledger, ledger.manager() as reader:
        with pytest.raises(UntrustedContentError, match="does not hold") as err:
            await reader.find_by_id(aid)
        assert SECRET.signing_key_id.hex() in str(err.value)
    rotated = Keyring.from_secret("some other secret", previous=["test-secret-for-the-suite"])
    async with Ledger.open(engine, secret=rotated) as ledger, ledger.manager() as reader:
        found = await reader.find_by_id(aid)
        assert found is not None
        assert found.data["content"].coef == 2.0


async def test_a_changed_pickle_is_refused_unrun(manager: ArtifactManager, engine: AsyncEngine, evil: bytes) -> None:
    aid = await saved_model(manager)
    async with engine.connect() as conn:
        digest, blob = (await conn.execute(text("SELECT hash, data FROM ledger_blobs"))).one()
    header = bytes(blob)[: 4 + 1 + 8 + 32]
    async with tampered(engine) as conn:  # its bytes flipped in place: the blob no longer matches its hash
        changed = bytearray(blob)
        changed[-3] ^= 0x01
        await conn.execute(
            text("UPDATE ledger_blobs SET data = :d WHERE hash = :h"), {"d": bytes(changed), "h": digest}
        )
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as reader:
        with pytest.raises(UntrustedContentError, match=f"blob {digest} is corrupted"):
            await reader.find_by_id(aid)
        report = await ledger.verify()
        assert (report.reason, report.broken_position, report.blob_hash) == ("blob_corrupted", 1, digest)
    # the attacker's payload behind the genuine signature, under a hash that matches: only the HMAC can tell
    await plant(engine, aid, header + evil)
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as reader:
        with pytest.raises(UntrustedContentError, match="signature does not verify: refusing to unpickle"):
            await reader.find_by_id(aid)
    assert TRIPPED == []
