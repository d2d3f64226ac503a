"""Property: after any sequence of alias and link commands (valid or refused), ``ledger_aliases`` and
``ledger_links`` equal a fold of the alias and link events read back from the log, written here
independently of the projector; a rebuild reproduces both tables row for row, and an export
imported into a new SQLite ledger gives the same aliases and links.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine
from test_closure_properties import SECRET, fresh_engine, rows

from artifact_ledger import ArtifactIn, Ledger, LedgerError
from artifact_ledger.events import ALIAS_EVENTS, LINK_ADDED, LINK_EVENTS
from artifact_ledger.transfer import export_ledger, import_bundle

MAX_EXAMPLES = {"sqlite-file": 12, "sqlite-memory": 15, "postgresql": 10}
NAMES = ("prod", "staging")
KINDS = ("derived_from", "used", "produced_by")

commands = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(NAMES), st.integers(0, 3), st.sampled_from([None, 1, 2])),
        st.tuples(st.just("remove"), st.sampled_from(NAMES), st.just(0), st.just(None)),
        st.tuples(st.just("protect"), st.sampled_from(NAMES), st.just(0), st.booleans()),
        st.tuples(st.just("link"), st.sampled_from(KINDS), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("unlink"), st.sampled_from(KINDS), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("update"), st.just(""), st.integers(0, 3), st.just(None)),
        st.tuples(st.just("delete"), st.just(""), st.integers(0, 3), st.booleans()),
    ),
    max_size=25,
)


async def fold(ledger: Ledger) -> tuple[dict[str, tuple[Any, ...]], set[tuple[Any, ...]]]:
    """The alias rows and link rows the log's alias and link events imply."""
    aliases: dict[str, tuple[Any, ...]] = {}
    held: dict[str, tuple[Any, ...]] = {}
    links: set[tuple[Any, ...]] = set()
    for e in await ledger.events_since(0, limit=10_000):
        p = e.payload
        if e.type in ALIAS_EVENTS:
            aliases[p["name"]] = (
                p["name"],
                e.artifact_id,
                e.version,
                p["artifact_id"],
                p["version"],
                int(p["protected"]),
            )
        elif e.type in LINK_EVENTS:
            if e.type == LINK_ADDED:
                held[e.artifact_id] = (
                    e.position,
                    p["kind"],
                    p["src_id"],
                    p["src_version"],
                    p["dst_id"],
                    p["dst_version"],
                )
            else:
                start = held.pop(e.artifact_id)
                links.add((e.artifact_id, start[0], e.position, *start[1:]))
    links.update((sid, start[0], None, *start[1:]) for sid, start in held.items())
    return aliases, links


async def tables(engine: AsyncEngine) -> tuple[dict[str, tuple[Any, ...]], set[tuple[Any, ...]]]:
    alias_rows = await rows(
        engine, "SELECT name, stream_id, stream_version, artifact_id, version, protected FROM ledger_aliases"
    )
    link_rows = await rows(
        engine,
        "SELECT stream_id, valid_from, valid_to, kind, src_id, src_version, dst_id, dst_version FROM ledger_links",
    )
    return {r[0]: r for r in alias_rows}, set(link_rows)


async def scenario(backend: str, steps: Sequence[tuple[str, str, int, Any]]) -> None:
    async with fresh_engine(backend) as engine, Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as m:
            ids = [str((await m.save(ArtifactIn(data={"n": i}))).id) for i in range(4)]
            for op, name, a, b in steps:
                try:
                    if op == "set":
                        await m.set_alias(name, ids[a], version=b, reason="r")
                    elif op == "remove":
                        await m.remove_alias(name, reason="r")
                    elif op == "protect":
                        await m.protect_alias(name, protected=bool(b), reason="r")
                    elif op == "link":
                        await m.link(ids[a], ids[b], name)
                    elif op == "unlink":
                        await m.unlink(ids[a], ids[b], name)
                    elif op == "update":
                        await m.save(ArtifactIn(id=ids[a], data={"n": a, "again": True}))
                    else:
                        await m.delete_by_id(ids[a], cascade=bool(b))
                except LedgerError:
                    pass
        expected = await fold(ledger)
        assert await tables(engine) == expected
        assert (await ledger.verify()).ok
        before = await tables(engine)
        await ledger.rebuild()
        assert await tables(engine) == before
        with tempfile.TemporaryDirectory() as tmp:
            await export_ledger(engine, Path(tmp) / "bundle")
            async with Ledger.open(f"sqlite+aiosqlite:///{Path(tmp) / 'copy.db'}", secret=SECRET) as copy:
                await import_bundle(copy.engine, Path(tmp) / "bundle")
                assert await tables(copy.engine) == before
                assert (await copy.verify()).ok


def test_alias_and_link_projections_equal_the_fold_of_their_events(backend: str) -> None:
    @settings(
        max_examples=MAX_EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=commands)
    def run(steps: list[tuple[str, str, int, Any]]) -> None:
        asyncio.run(scenario(backend, steps))

    run()
