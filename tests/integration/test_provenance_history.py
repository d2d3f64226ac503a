"""An artifact's alias and link events: ``provenance_history(id)`` beside ``history(id)``, the
``history --provenance`` command, and audit filters by alias/link type and ``prefix.*`` patterns
(SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from rich.console import Console
from ulid import ULID

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactVersion,
    AuditEntry,
    InvalidArgumentError,
    Ledger,
)
from artifact_ledger.cli import main
from artifact_ledger.cli.render import history_table
from artifact_ledger.events import expand_event_types


async def _story(m: ArtifactManager) -> tuple[ULID, ULID, ULID]:
    """data <- model (two versions) <- report; production moves model v1 -> v2 -> report v1, then is removed."""
    data = await m.save(ArtifactIn(data={"name": "data"}))
    model = await m.save(ArtifactIn(data={"name": "model"}))
    await m.save(ArtifactIn(id=model.id, data={"name": "model", "epoch": 2}))
    report = await m.save(ArtifactIn(data={"name": "report"}))
    await m.set_alias("production", model.id, version=1, actor="alice", reason="first")
    await m.set_alias("staging", data.id)
    await m.link(model.id, data.id, "derived_from", actor="bob")
    await m.set_alias("production", model.id, actor="carol")
    await m.link(report.id, model.id, "evaluated_on", src_version=1, dst_version=2)
    await m.protect_alias("production")
    await m.set_alias("production", report.id, reason="the report is what we ship now")
    await m.unlink(model.id, data.id, "derived_from", reason="wrong data")
    await m.remove_alias("production", reason="retired")
    return data.id, model.id, report.id


async def test_provenance_history_lists_the_events_that_named_the_artifact(manager: ArtifactManager) -> None:
    m = manager
    data, model, report = await _story(m)
    events = await m.provenance_history(model)
    assert [(e.event_type, e.details.get("name") or e.details.get("kind")) for e in events] == [
        ("alias.set", "production"),  # pointed at v1
        ("link.added", "derived_from"),  # model derived_from data
        ("alias.set", "production"),  # moved to v2
        ("link.added", "evaluated_on"),  # report evaluated_on model
        ("alias.protected", "production"),
        ("alias.set", "production"),  # moved away to the report
        ("link.removed", "derived_from"),
    ]
    assert [e.actor for e in events[:3]] == ["alice", "bob", "carol"]
    assert events[5].details["artifact_id"] == str(report)
    assert events[5].details["from_artifact_id"] == str(model)
    assert events[-1].reason == "wrong data"
    positions = [e.position for e in events]
    assert positions == sorted(positions)
    # an alias event's artifact_id is the alias's own stream, not the model
    assert all(e.artifact_id != model for e in events)

    # history(id) is unchanged: the model's own two versions
    assert [v.version for v in await m.history(model)] == [1, 2]

    # the data: staging, and the link to it that came and went; production never named it
    assert [(e.event_type, e.details.get("name")) for e in await m.provenance_history(data)] == [
        ("alias.set", "staging"),
        ("link.added", None),
        ("link.removed", None),
    ]
    # the report: the link from it, production moved to it, and its removal (from_artifact_id)
    assert [e.event_type for e in await m.provenance_history(report)] == ["link.added", "alias.set", "alias.removed"]
    bare = await m.save(ArtifactIn(data={"name": "bare"}))
    assert await m.provenance_history(bare.id) == []


async def test_provenance_history_of_unknown_ids(manager: ArtifactManager) -> None:
    missing = ULID()
    with pytest.raises(ArtifactNotFoundError, match=str(missing)):
        await manager.provenance_history(missing)
    a = await manager.save(ArtifactIn(data={}))
    await manager.set_alias("x", a.id)
    stream = (await manager.audit(event_type="alias.set")).entries[0].artifact_id
    with pytest.raises(ArtifactNotFoundError, match=str(stream)):  # an alias's stream is not an artifact
        await manager.provenance_history(stream)
    with pytest.raises(ArtifactNotFoundError, match="not-an-id"):
        await manager.provenance_history("not-an-id")


async def test_audit_filters_alias_and_link_types_and_patterns(manager: ArtifactManager) -> None:
    m = manager
    await _story(m)

    async def types(event_type: str | list[str]) -> list[str]:
        return [e.event_type for e in (await m.audit(event_type=event_type, limit=1000)).entries]

    assert await types("alias.set") == ["alias.set"] * 4
    assert await types("alias.*") == [
        "alias.set",
        "alias.set",
        "alias.set",
        "alias.protected",
        "alias.set",
        "alias.removed",
    ]
    assert await types("link.*") == ["link.added", "link.added", "link.removed"]
    assert await types(["link.removed", "alias.removed"]) == ["link.removed", "alias.removed"]
    assert await types(["alias.*", "alias.set"]) == await types("alias.*")
    assert len(await types("artifact.*")) == 4  # three creates and an update
    for bad in ("nope.*", ".*", "*", "alias.", "alias*"):
        with pytest.raises(InvalidArgumentError, match="unknown event type"):
            await m.audit(event_type=bad)


def test_expand_event_types() -> None:
    assert expand_event_types(["link.*"]) == ["link.added", "link.removed"]
    assert expand_event_types(["artifact.moved", "alias.*", "alias.set"]) == [
        "artifact.moved",
        "alias.protected",
        "alias.removed",
        "alias.set",
    ]
    assert expand_event_types(["zzz.*"]) == ["zzz.*"]  # kept, for the caller to refuse


async def _history(url: str, id: ULID) -> list[ArtifactVersion]:
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        return await m.history(id)


def both_events(shown: dict[str, Any]) -> list[AuditEntry]:
    return [AuditEntry.model_validate(e) for e in shown["provenance"]]


# ---- the command line ---------------------------------------------------------------------------


async def _cli(url: str, *argv: str) -> int:
    return await asyncio.to_thread(main, ["--db", url, *argv])


async def test_history_command_with_provenance(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        data, model, report = await _story(m)
    capsys.readouterr()
    assert await _cli(url, "history", str(model), "--json") == 0
    plain = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in plain] == [1, 2]
    assert await _cli(url, "history", str(model), "--provenance", "--json") == 0
    both = json.loads(capsys.readouterr().out)
    assert both["versions"] == plain
    assert [e["event_type"] for e in both["provenance"]][:2] == ["alias.set", "link.added"]
    assert len(both["provenance"]) == 7

    assert await _cli(url, "history", str(model), "--provenance") == 0
    out = capsys.readouterr().out
    assert "parent / other" in out
    assert str(data) in out  # the other ends (ids are never wrapped)
    assert str(report) in out

    wide = Console(width=200, record=True, file=io.StringIO())
    wide.print(history_table(await _history(url, model), both_events(both)))
    lines = [line for line in wide.export_text().splitlines() if "│" in line]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines]
    assert [c[:3] for c in cells] == [
        ["1", "created", ""],
        ["2", "updated", ""],
        ["", "alias.set production -> v1", ""],
        ["", "link.added: v2 derived_from other's v1", str(data)],
        ["", "alias.set production -> v2 from v1", ""],
        ["", "link.added: other's v1 evaluated_on v2", str(report)],
        ["", "alias.protected production (on)", ""],
        ["", "alias.set production moved to other's v1 (was v2)", str(report)],
        ["", "link.removed: v2 derived_from other's v1", str(data)],
    ]
    assert await _cli(url, "history", str(model)) == 0
    assert "alias." not in capsys.readouterr().out
    assert await _cli(url, "audit", "--type", "link.*", "--json") == 0
    assert [e["event_type"] for e in json.loads(capsys.readouterr().out)["entries"]] == [
        "link.added",
        "link.added",
        "link.removed",
    ]


async def test_provenance_history_reads_the_alias_events_that_hold_the_id_and_keeps_only_those_naming_it(
    manager: ArtifactManager,
) -> None:
    """Alias events are picked in the database by the id's text in their payload (not every alias event
    of the ledger), then each is checked: an alias named after the id (in quotes, as the payload
    holds it), pointing elsewhere, does not name the artifact; a scan of every alias and link event
    agrees."""
    m = manager
    data, model, report = await _story(m)
    await m.set_alias(f'"{model}"', data)  # an alias whose name is the model's id in quotes, on the data
    for n in range(30):  # noise: aliases that never named the model
        await m.set_alias(f"other-{n}", data if n % 2 else report)
    await m.set_alias("other-3", model, reason="briefly")
    await m.set_alias("other-3", data)

    everything = (await m.audit(event_type=["alias.*", "link.*"], limit=1000)).entries

    def names(entry: AuditEntry, aid: str) -> bool:
        d = entry.details
        return aid in (d.get("artifact_id"), d.get("from_artifact_id"), d.get("src_id"), d.get("dst_id"))

    for aid in (data, model, report):
        got = await m.provenance_history(aid)
        expected = [e for e in everything if names(e, str(aid))]
        assert [e.position for e in got] == [e.position for e in expected]
        assert [e.position for e in got] == sorted(e.position for e in got)
    model_names = [
        e.details.get("name") for e in await m.provenance_history(model) if e.event_type.startswith("alias.")
    ]
    assert f'"{model}"' not in model_names
    assert model_names.count("other-3") == 2  # pointed at the model, then away
