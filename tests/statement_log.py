"""Every SQL statement a ledger runs, whichever way it goes: through SQLAlchemy, or through the
store's recorders on the driver connection (a CTE folding several writes counts once)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from artifact_ledger.store.postgres import PostgresRecorder
from artifact_ledger.store.recorder import Recorder
from artifact_ledger.store.sqlite import SqliteRecorder


@contextmanager
def statements_seen(engine: Engine) -> Iterator[list[str]]:
    """The text of every statement run inside the block (``engine``: the sync engine SQLAlchemy uses)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    originals = [(cls, cls.pipeline, cls.pages, cls.fetch) for cls in (SqliteRecorder, PostgresRecorder)]
    for cls, pipeline, pages, fetch in originals:

        async def run(self: Recorder, steps: Any, original: Any = pipeline) -> Any:
            seen.extend(step[0].sql for step in steps)
            return await original(self, steps)

        def paged(self: Recorder, statement: Any, params: Any, size: int, original: Any = pages) -> AsyncGenerator[Any]:
            seen.append(statement.sql)
            return original(self, statement, params, size)  # type: ignore[no-any-return]

        async def fetched(self: Recorder, statement: Any, *args: Any, original: Any = fetch) -> Any:
            seen.append(statement.sql)  # a backend whose fetch runs a lone statement without its pipeline
            return await original(self, statement, *args)

        cls.pipeline = run  # type: ignore[method-assign]
        cls.pages = paged  # type: ignore[method-assign]
        if "fetch" in cls.__dict__:  # else its fetch goes through the pipeline, counted there
            cls.fetch = fetched  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        for cls, pipeline, pages, fetch in originals:
            cls.pipeline = pipeline  # type: ignore[method-assign]
            cls.pages = pages  # type: ignore[method-assign]
            if "fetch" in cls.__dict__:
                cls.fetch = fetch  # type: ignore[method-assign]
