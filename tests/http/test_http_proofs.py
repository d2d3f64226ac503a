"""``GET /$checkpoint`` and ``GET /$proof/...`` on SQLite and PostgreSQL, checked as a third party would:
with the stdlib verifier (``verify_bundle.py``) and the server's published verifier key, never the server's word."""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_support import API, assert_problem, free_port
from sqlalchemy.ext.asyncio import AsyncEngine
from test_http_serve import db_url, wait_until_up

from artifact_ledger import ArtifactIn, Checkpoint, CheckpointSigner, Ledger
from artifact_ledger import verify_bundle as standalone
from ledger_support import delete_events, delete_openings_after, lower_checkpoints

__all__ = ["db_url"]  # the fixture of a fresh database for a served process, shared with test_http_serve


async def saves(ledger: Ledger, count: int, tag: str = "i") -> None:
    async with ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={tag: i}) for i in range(count)])


async def drop_newest(engine: AsyncEngine, keep: int) -> None:
    """What a DBA can do: switch the append-only guard off, delete the newest events, switch it on again."""
    async with engine.begin() as conn:
        await delete_events(conn, "position > :k", k=keep)
        await delete_openings_after(conn, keep)
        await lower_checkpoints(conn, keep)


def checked(document: dict[str, Any], roots: list[str] | None = None) -> standalone.ProofReport:
    """The proof as a third party checks it: parsed and verified by the stdlib verifier alone."""
    return standalone.check_proof(standalone.parse_proof(httpx.Response(200, json=document).content), roots)


async def test_a_signed_checkpoint_as_a_note_and_as_json(ledger: Ledger, make_client: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    await saves(ledger, 7)
    own = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys)  # what `checkpoint --key-dir` makes
    client = await make_client(key_dir=keys)
    response = await client.get(f"{API}/$checkpoint")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    note = Checkpoint.parse(response.text, ledger_id=ledger.ledger_id)
    assert (note.size, note.root) == (7, (await ledger.merkle_root()).root)
    assert note.verified_by([own.verifier_key]) == [own.name]
    (tmp_path / "c.note").write_text(response.text)
    assert standalone.main(["--checkpoint", str(tmp_path / "c.note"), "--key", own.verifier_key]) == 0

    answer = await client.get(f"{API}/$checkpoint", headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ledger_id"] == str(ledger.ledger_id)
    assert body["origin"] == f"artifact-ledger/{ledger.ledger_id}"
    assert body["size"] == 7
    assert base64.b64decode(body["root"]).hex() == body["root_hex"] == note.root
    assert body["signed"] is True
    assert body["verifier_keys"] == [own.verifier_key]
    assert [(s["name"], s["key_id"]) for s in body["signatures"]] == [(own.name, own.verifier_key.split("+")[1])]
    assert body["time"].endswith("+00:00")
    assert Checkpoint.parse(body["note"]).verified_by(body["verifier_keys"]) == [own.name]
    assert not (tmp_path / "keys" / "other.ed25519").exists()


async def test_without_a_key_the_checkpoint_names_what_to_configure_and_makes_none(
    ledger: Ledger, make_client: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "empty"
    client = await make_client(key_dir=keys)
    body = assert_problem(await client.get(f"{API}/$checkpoint"), 500)
    assert body["type"].endswith(":no-signing-key")
    assert body["ledger_id"] == str(ledger.ledger_id)
    assert "--key-dir DIR" in body["detail"]
    assert f"{ledger.ledger_id}.ed25519" in body["detail"]
    assert "?unsigned=true" in body["detail"]
    assert str(keys) not in body["detail"]  # the server's paths stay on the server
    assert not keys.exists()  # no key was made behind the operator's back
    unsigned = await client.get(f"{API}/$checkpoint", params={"unsigned": "true"})
    assert unsigned.status_code == 200
    assert unsigned.text == f"artifact-ledger/{ledger.ledger_id}\n0\n{base64.b64encode(bytes(32)).decode()}\n\n" or (
        unsigned.text.startswith(f"artifact-ledger/{ledger.ledger_id}\n0\n") and unsigned.text.endswith("=\n\n")
    )  # the body and the blank line, no signature line
    shown = await client.get(f"{API}/$checkpoint?unsigned=true", headers={"Accept": "application/json"})
    assert (shown.json()["signed"], shown.json()["signatures"], shown.json()["verifier_keys"]) == (False, [], [])
    assert shown.json()["size"] == 0


async def test_without_cryptography_the_checkpoint_asks_for_the_extra(
    ledger: Ledger, make_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    CheckpointSigner.for_ledger(str(ledger.ledger_id), tmp_path)
    client = await make_client(key_dir=tmp_path)
    for name in (
        "cryptography",
        "cryptography.hazmat.primitives.asymmetric",
        "cryptography.hazmat.primitives.asymmetric.ed25519",
    ):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if it were not installed
    body = assert_problem(await client.get(f"{API}/$checkpoint"), 500)
    assert body["type"].endswith(":missing-extra")
    assert "artifact-ledger[sign]" in body["detail"]
    assert "?unsigned=true" in body["detail"]
    (tmp_path / f"{ledger.ledger_id}.ed25519").write_text("not hex\n")
    monkeypatch.undo()
    broken = assert_problem(await client.get(f"{API}/$checkpoint"), 500)
    assert broken["type"].endswith(":bad-signing-key")
    assert str(tmp_path) not in broken["detail"]


async def test_proofs_over_http_verify_in_the_stdlib_verifier(
    ledger: Ledger, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await saves(ledger, 13)
    head = await ledger.merkle_root()
    events = await ledger.events_since(0, limit=1000)
    roots = standalone.merkle_roots([e.hash.hex() for e in events])
    assert roots[13] == head.root
    for position, size in ((1, None), (7, None), (13, None), (5, 5), (6, 11), (1, 1)):
        params = {"position": position} | ({} if size is None else {"size": size})
        response = await client.get(f"{API}/$proof/inclusion", params=params)
        assert response.status_code == 200, response.text
        document = response.json()
        assert (document["kind"], document["position"], document["size"]) == ("inclusion", position, size or 13)
        assert document["event_hash"] == events[position - 1].hash.hex()
        report = checked(document, roots)
        assert report.ok, report.problem
        bad = dict(document, event_hash=events[position % 13].hash.hex())  # another event: refused
        assert not checked(bad).ok
    for old, new in ((0, None), (1, None), (5, 13), (8, 12), (13, 13), (3, 3)):
        params = {"from": old} | ({} if new is None else {"to": new})
        response = await client.get(f"{API}/$proof/consistency", params=params)
        assert response.status_code == 200, response.text
        document = response.json()
        assert (document["old_size"], document["new_size"]) == (old, new or 13)
        assert (document["old_root"], document["new_root"]) == (roots[old], roots[new or 13])
        report = checked(document, roots)
        assert report.ok, report.problem
        if document["hashes"]:
            flipped = document["hashes"][0][:-1] + ("0" if document["hashes"][0][-1] != "0" else "1")
            assert not checked(dict(document, hashes=[flipped, *document["hashes"][1:]])).ok
    proof = (await client.get(f"{API}/$proof/inclusion?position=4")).text
    (tmp_path / "p.json").write_text(proof)
    assert standalone.main(["--proof", str(tmp_path / "p.json")]) == 0  # the file as it came over the wire


async def test_a_checkpoint_and_later_proofs_tie_together(
    ledger: Ledger, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A client keeps the checkpoint it saw; later, a consistency proof from its size shows the log only grew."""
    await saves(ledger, 9)
    seen = (await client.get(f"{API}/$checkpoint?unsigned=true", headers={"Accept": "application/json"})).json()
    await saves(ledger, 6, "j")
    proof = (await client.get(f"{API}/$proof/consistency", params={"from": seen["size"]})).json()
    assert proof["old_root"] == seen["root_hex"]
    assert proof["new_size"] == 15
    assert checked(proof).ok
    inclusion = (await client.get(f"{API}/$proof/inclusion", params={"position": 3, "size": seen["size"]})).json()
    assert inclusion["root"] == seen["root_hex"]
    assert checked(inclusion).ok


async def test_a_rewritten_history_cannot_produce_a_proof_from_an_old_checkpoint(
    ledger: Ledger, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The attacker drops the newest events and writes others (the ledger chains and hashes them):
    verify passes, but no consistency proof leads from the checkpoint a client kept to the new log."""
    await saves(ledger, 10)
    kept = (await client.get(f"{API}/$checkpoint?unsigned=true", headers={"Accept": "application/json"})).json()
    await drop_newest(engine, 7)
    await ledger.rebuild()
    await saves(ledger, 5, "other")
    assert (await client.get(f"{API}/$verify")).json()["ok"] is True  # the chain alone cannot tell
    proof = (await client.get(f"{API}/$proof/consistency", params={"from": kept["size"]})).json()
    assert proof["old_root"] != kept["root_hex"]  # the log's own root at that size is another
    forged = dict(proof, old_root=kept["root_hex"])  # the kept root with the rewritten log's path
    assert not checked(forged).ok
    dropped = await client.get(f"{API}/$proof/consistency", params={"from": 12, "to": 11})
    assert_problem(dropped, 400)


BAD_REQUESTS = [
    ("inclusion?position=0", 400, "position 0 is not in the tree of size 4"),
    ("inclusion?position=-1", 400, "position -1 is not in the tree of size 4"),
    ("inclusion?position=5", 400, "position 5 is not in the tree of size 4"),
    (
        "inclusion?position=3&size=2",
        400,
        "position 3 is not in the tree of size 2: positions run from 1 to the size (the log holds 4 events)",
    ),
    ("inclusion?position=1&size=9", 400, "size 9 is beyond the log, which holds 4 events"),
    ("inclusion?position=1&size=-2", 400, "size -2 is not a tree size"),
    ("inclusion?position=abc", 400, "position 'abc' is not a whole number"),
    ("inclusion?position=1.5", 400, "position '1.5' is not a whole number"),
    ("inclusion?position=1&size=x", 400, "size 'x' is not a whole number"),
    ("inclusion?position=99999999999999999999", 400, "position '99999999999999999999' is not a whole number"),
    ("inclusion", 422, "query.position: Field required"),
    ("consistency?from=3&to=2", 400, "from 3 is larger than to 2: a log only grows"),
    ("consistency?from=5", 400, "from 5 is beyond the log, which holds 4 events"),
    ("consistency?from=1&to=6", 400, "to 6 is beyond the log, which holds 4 events"),
    ("consistency?from=-1", 400, "from -1 is not a tree size"),
    ("consistency?from=one", 400, "from 'one' is not a whole number"),
    ("consistency?from=1&to=", 400, "to '' is not a whole number"),
    ("consistency", 422, "query.from: Field required"),
    ("nothing?position=1", 404, ""),
]


async def test_bad_proof_requests_are_problems_naming_the_values(ledger: Ledger, client: httpx.AsyncClient) -> None:
    await saves(ledger, 4)
    for query, status, words in BAD_REQUESTS:
        body = assert_problem(await client.get(f"{API}/$proof/{query}"), status)
        assert words in body["detail"], (query, body)
        if status == 400:
            kind = "bad-proof-parameter" if "whole number" in words else "proof-range"
            assert body["type"].endswith(f":{kind}"), (query, body)


async def test_proof_routes_are_reads_behind_the_tokens_and_in_the_openapi(ledger: Ledger, make_client: Any) -> None:
    from artifact_ledger.http import Principal, TokenAuth

    await saves(ledger, 2)
    client = await make_client(auth=TokenAuth({"r": Principal("reader", "read")}), read_only=True)
    for path in ("$checkpoint?unsigned=true", "$proof/inclusion?position=1", "$proof/consistency?from=1"):
        assert_problem(await client.get(f"{API}/{path}"), 401)
        answer = await client.get(f"{API}/{path}", headers={"Authorization": "Bearer r"})
        assert answer.status_code == 200, answer.text
    schema = (await client.get("/openapi.json")).json()
    for path in ("$checkpoint", "$proof/inclusion", "$proof/consistency"):
        assert "get" in schema["paths"][f"{API}/{path}"], path
    content = schema["paths"][f"{API}/$checkpoint"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/plain"} <= set(content)
    parameters = {p["name"] for p in schema["paths"][f"{API}/$proof/consistency"]["get"]["parameters"]}
    assert {"from", "to"} <= parameters


async def test_serve_signs_with_key_dir_and_the_console_checks_checkpoints(db_url: str, tmp_path: Path) -> None:
    """``serve --key-dir KEYS --checkpoints NOTES``, with the notes written by ``artifact-ledger checkpoint``."""
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "artifact_ledger", "--db", db_url]
    process = subprocess.Popen(  # noqa: ASYNC220 - only started here; talked to asynchronously below
        [*cli[:3], "serve", "--db", db_url, "--port", str(port), "--key-dir", str(keys), "--checkpoints", str(notes)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await wait_until_up(base, {}, process)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:  # not httpx's 5 s: a loaded machine
            missing = assert_problem(await client.get(f"{API}/$checkpoint"), 500)
            assert missing["type"].endswith(":no-signing-key")
            assert not keys.exists()
            assert (await client.post(API, json={"data": {"n": 1}})).status_code == 201
            assert (await client.get("/verify.json")).json()["checkpoint"]["state"] == "unreadable"  # no NOTES yet
            notes.mkdir()  # checkpoint --to refuses a directory that does not exist
            made = await asyncio.to_thread(
                subprocess.run,
                [*cli, "checkpoint", "--to", str(notes), "--key-dir", str(keys)],
                capture_output=True,
                text=True,
            )
            assert made.returncode == 0, made.stderr
            note = await client.get(f"{API}/$checkpoint")
            assert note.status_code == 200, note.text
            signed = Checkpoint.parse(note.text)
            assert signed.size == 1
            [written] = notes.glob("*.note")
            assert Checkpoint.parse(written.read_text()) == signed  # the same key, the same root
            badge = (await client.get("/verify.json")).json()
            assert badge["ok"] is True
            assert badge["checkpoint"]["state"] == "verified"
            assert badge["badge"].startswith("Log OK · checkpoint 1 of ")
            assert badge["checkpoint"]["signers"] == [signed.signatures[0].name]
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
