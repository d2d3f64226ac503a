"""The stdlib bundle verifier holds every retention event to the plan its recorded policy makes on the log.

A real ledger (SQLite in a temp dir) with a held artifact, an aliased one and an honest retention run
is exported once; each case forges a copy, re-sealed so the chain and manifest hold, where the run
claims to have expired (and deleted) content it could not have. A blob a retention event deleted may
be absent from a bundle, so without this check such a forgery hides the loss of any content.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from artifact_ledger import ArtifactIn, Ledger, RetentionPolicy
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.bundle import write_bundle
from bundle_forge import Record, forge, payload, read_events, with_payload
from ledger_support import SECRET

SOURCE_FILE = Path(standalone.__file__)


async def _build(directory: Path) -> dict[str, str]:
    """Three artifacts of three versions each: ``held`` (held), ``aliased`` (v1 aliased), ``free``."""
    ids: dict[str, str] = {}
    async with Ledger.open(f"sqlite+aiosqlite:///{directory / 'source.db'}", secret=SECRET) as source:
        async with source.manager() as m:
            for name in ("held", "aliased", "free"):
                first = await m.save(ArtifactIn(data={"name": name, "content": f"{name}-1".encode()}))
                for n in (2, 3):
                    await m.save(ArtifactIn(id=first.id, data={"name": name, "content": f"{name}-{n}".encode()}))
                ids[name] = str(first.id)
            await m.hold(ids["held"], "litigation")
            await m.set_alias("prod", ids["aliased"], version=1)
        report = await source.apply_retention(RetentionPolicy(keep_last=2, keep_aliased=True), dry_run=False)
        assert sorted((e.artifact_id, e.version) for e in report.expired) == [(ids["free"], 1)]
        await write_bundle(source.engine, directory / "bundle")
    return ids


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    directory = tmp_path_factory.mktemp("retention-bundle")
    ids = asyncio.run(_build(directory))
    return directory / "bundle", ids


def _content_hash(events: list[Record], aid: str, version: int) -> str:
    for record in events:
        if record["artifact_id"] == aid and record["version"] == version:
            return str(payload(record)["content"]["hash"])
    raise AssertionError(f"no version {version} of {aid}")


def _expiring(aid: str, version: int, *, delete: bool = True) -> Callable[[list[Record]], list[Record]]:
    """An edit: the retention event also lists version ``version`` of ``aid`` (and deletes its blob)."""

    def edit(events: list[Record]) -> list[Record]:
        digest = _content_hash(events, aid, version)
        out = []
        for record in events:
            if record["type"] == "retention.applied":
                body = payload(record)
                deleted = [*body["deleted"], [digest, 7]] if delete else body["deleted"]
                record = with_payload(record, expired=[*body["expired"], [aid, version, digest]], deleted=deleted)
            out.append(record)
        return out

    return edit


def _drop_blob(bundle: Path, aid: str, version: int) -> None:
    digest = _content_hash(read_events(bundle), aid, version)
    (bundle / "blobs" / digest[:2] / digest).unlink()


def _standalone(bundle: Path) -> dict[str, Any]:
    """The verifier run as a plain script file (no package on the path), its JSON report."""
    done = subprocess.run(
        [sys.executable, str(SOURCE_FILE), "--json", str(bundle)], capture_output=True, text=True, check=False
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_honest_export_verifies(exported: tuple[Path, dict[str, str]]) -> None:
    bundle, _ = exported
    report = standalone.verify_bundle(bundle)
    assert report.ok, report.problem


@pytest.mark.parametrize(
    ("name", "version", "why"),
    [
        ("held", 1, "which is held: a held artifact keeps all its content"),
        ("aliased", 1, "which its own recorded policy keeps"),  # keep_aliased
        ("free", 3, "which its own recorded policy keeps"),  # keep_last 2
    ],
)
def test_a_forged_run_that_expires_kept_content_is_refused(
    exported: tuple[Path, dict[str, str]], tmp_path: Path, name: str, version: int, why: str
) -> None:
    source, ids = exported
    aid = ids[name]
    bundle = forge(source, tmp_path / "forged", _expiring(aid, version))
    _drop_blob(bundle, aid, version)
    report = standalone.verify_bundle(bundle)
    assert not report.ok
    assert report.reason == standalone.MODIFIED
    assert report.problem is not None
    assert f"expired version {version} of artifact {aid}, {why}" in report.problem
    position = next(e["position"] for e in read_events(bundle) if e["type"] == "retention.applied")
    assert report.broken_position == position
    assert _standalone(bundle)["ok"] is False


def test_a_version_listed_twice_or_with_another_hash_is_refused(
    exported: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    source, ids = exported
    free = ids["free"]
    digest = _content_hash(read_events(source), free, 1)

    def twice(events: list[Record]) -> list[Record]:
        return [
            with_payload(r, expired=[*payload(r)["expired"], [free, 1, digest]])
            if r["type"] == "retention.applied"
            else r
            for r in events
        ]

    report = standalone.verify_bundle(forge(source, tmp_path / "twice", twice))
    assert not report.ok
    assert report.problem is not None
    assert f"version 1 of artifact {free}, whose content an earlier run had already expired" in report.problem

    def other_hash(events: list[Record]) -> list[Record]:
        return [
            with_payload(r, expired=[[free, 1, "ab" * 32]]) if r["type"] == "retention.applied" else r for r in events
        ]

    report = standalone.verify_bundle(forge(source, tmp_path / "other", other_hash))
    assert not report.ok
    assert report.problem is not None
    assert f"whose content is {digest}, not {'ab' * 32}" in report.problem


def test_a_forged_run_that_deletes_a_kept_blob_is_refused(
    exported: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    source, ids = exported
    held = ids["held"]
    digest = _content_hash(read_events(source), held, 2)

    def delete_kept(events: list[Record]) -> list[Record]:
        return [
            with_payload(r, deleted=[*payload(r)["deleted"], [digest, 6]]) if r["type"] == "retention.applied" else r
            for r in events
        ]

    bundle = forge(source, tmp_path / "deleted", delete_kept)
    _drop_blob(bundle, held, 2)
    report = standalone.verify_bundle(bundle)
    assert not report.ok
    assert report.reason == standalone.MODIFIED
    assert report.problem is not None
    assert f"deleted blob {digest}, the content of a version its policy keeps" in report.problem


def test_a_run_whose_policy_has_no_rule_expires_nothing(exported: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """A policy without a rule is a garbage collection's (it deletes blobs no version still has):
    such a run may expire no version, so relabelling a real run as one is refused."""
    source, ids = exported
    empty = {"keep_last": None, "keep_aliased": False, "keep_newer_than": None, "cutoff": None}

    def no_rule(events: list[Record]) -> list[Record]:
        return [with_payload(r, policy=empty) if r["type"] == "retention.applied" else r for r in events]

    report = standalone.verify_bundle(forge(source, tmp_path / "norule", no_rule))
    assert not report.ok
    assert report.reason == standalone.MODIFIED
    assert report.problem is not None
    assert f"expired version 1 of artifact {ids['free']}, which its own recorded policy keeps" in report.problem
