"""Logging and tracing on SQLite and PostgreSQL: one DEBUG line per committed write, warnings for
drift refusals and slow writes, nothing printed unless configured, spans when a tracer is installed."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger, ProjectionDriftError, logs
from ledger_support import SECRET

WRITES = "artifact_ledger.writes"


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == WRITES and r.levelno == level]


async def test_one_debug_line_per_committed_write(manager: ArtifactManager, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="artifact_ledger")
    parent = await manager.save(ArtifactIn(data={"n": 1}))
    await manager.save(ArtifactIn(id=parent.id, data={"n": 2}))
    await manager.save(ArtifactIn(id=parent.id, data={"n": 2}))  # identical: nothing appended
    children = await manager.save_all([ArtifactIn(parent_id=parent.id, data={"c": i}) for i in range(3)])
    await manager.delete_by_id(parent.id, cascade=True)
    async with manager.transaction():
        await manager.restore(parent.id)
        await manager.restore(children[0].id)

    def shown(*pairs: tuple[object, int]) -> str:
        return ", ".join(sorted(f"{artifact} v{version}" for artifact, version in pairs))

    assert lines(caplog) == [
        f"save: artifact {parent.id} version 1 at position 1",
        f"save: artifact {parent.id} version 2 at position 2",
        f"save: artifact {parent.id} unchanged at version 2 (nothing appended)",
        f"save_all: 3 events to 3 artifacts ({shown(*((c.id, 1) for c in children))}) at positions 3-5",
        f"delete: 4 events to 4 artifacts ({shown((parent.id, 3), *((c.id, 2) for c in children))}) at positions 6-9",
        f"transaction: 2 events to 2 artifacts ({shown((parent.id, 4), (children[0].id, 3))}) at positions 10-11",
    ]
    assert lines(caplog, logging.WARNING) == []


async def test_a_refused_write_logs_no_commit(manager: ArtifactManager, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="artifact_ledger")
    saved = await manager.save(ArtifactIn(data={"n": 1}))
    with pytest.raises(Exception, match="expected version 7"):
        await manager.save(ArtifactIn(id=saved.id, data={"n": 2}), expected_version=7)
    assert lines(caplog) == [f"save: artifact {saved.id} version 1 at position 1"]


async def test_drift_refusal_is_a_warning(
    manager: ArtifactManager, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    saved = await manager.save(ArtifactIn(data={"n": 1}))
    await manager.save(ArtifactIn(id=saved.id, data={"n": 2}))
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE ledger_artifacts SET version = 1 WHERE id = :i"), {"i": str(saved.id)})
    caplog.set_level(logging.WARNING, logger="artifact_ledger")
    with pytest.raises(ProjectionDriftError):
        await manager.save(ArtifactIn(id=saved.id, data={"n": 3}))
    (warning,) = lines(caplog, logging.WARNING)
    assert warning.startswith("save refused: projection drift: ")
    assert str(saved.id) in warning


async def test_slow_write_is_a_warning(
    manager: ArtifactManager, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "SLOW_WRITE_SECONDS", 0.0)
    caplog.set_level(logging.WARNING, logger="artifact_ledger")
    await manager.save(ArtifactIn(data={"n": 1}))
    (warning,) = lines(caplog, logging.WARNING)
    assert warning.startswith("slow write: save took ")


def test_silent_unless_configured(tmp_path: object) -> None:
    """A library must not print: even a warning goes nowhere until the application configures logging."""
    script = (
        "import asyncio\n"
        "from artifact_ledger import ArtifactIn, Ledger, logs\n"
        "logs.SLOW_WRITE_SECONDS = 0.0\n"
        "async def main():\n"
        "    async with Ledger.open('sqlite+aiosqlite:///:memory:', secret='s') as ledger:\n"
        "        async with ledger.manager() as m:\n"
        "            await m.save(ArtifactIn(data={'n': 1}))\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("artifact_ledger").handlers)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider with an in-memory exporter, as the one the library finds (not set globally)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    yield exporter
    provider.shutdown()


async def test_spans_for_writes_reads_and_verify(manager: ArtifactManager, spans: InMemorySpanExporter) -> None:
    saved = await manager.save(ArtifactIn(data={"n": 1}))
    await manager.find_by_id(saved.id)
    await manager.move(saved.id, None)
    ledger = Ledger(manager.repository.session.bind, keyring=SECRET)  # type: ignore[arg-type]
    assert (await ledger.verify()).ok
    names = [s.name for s in spans.get_finished_spans()]
    assert names == ["artifact_ledger.save", "artifact_ledger.read", "artifact_ledger.move", "artifact_ledger.verify"]
    assert all(s.instrumentation_scope.name == "artifact_ledger" for s in spans.get_finished_spans())


async def test_no_spans_without_a_tracer_provider(manager: ArtifactManager) -> None:
    """With opentelemetry-api but no SDK provider installed, span() is a no-op context."""
    assert logs.span("save").__class__.__name__ == "nullcontext"
    await manager.save(ArtifactIn(data={"n": 1}))
