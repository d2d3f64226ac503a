"""Verify's drift pass over aliases and links: fold each alias's and link's stream from the log and
compare the result with ``ledger_aliases`` and ``ledger_links`` row for row.

The fold is the specification of the two projections (``projections/provenance.py`` writes the
same rows event by event): an alias's row is its stream's last payload, with the stream's last
version, position, time and actor; a link's rows are the intervals between each ``link.added``
and the ``link.removed`` after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import codec
from ..events import ALIAS_EVENTS, LEDGER_EVENTS, LINK_ADDED, LINK_EVENTS, LINK_REMOVED
from ..store.provenance import provenance_statements
from ..store.recorder import Recorder
from ..store.rows import ACTOR, ARTIFACT_ID, PAYLOAD, POSITION, RECORDED_AT, TYPE, VERSION
from .retention_check import RetentionFold

__all__ = ["ProvenanceFold"]


class InvalidStreamError(ValueError):
    """A stream of alias or link events that no writer of ours produces."""


class ProvenanceFold:
    """The alias and link rows the log implies, gathered stream by stream."""

    def __init__(self) -> None:
        self.aliases: dict[str, tuple[Any, ...]] = {}
        """name -> the expected ledger_aliases row (``ALIAS_COLUMNS`` order, timestamp as stored)."""
        self.alias_streams: dict[str, str] = {}
        """name -> the stream that set it first (two streams of one name: drift)."""
        self.links: set[tuple[Any, ...]] = set()
        self.last: dict[str, int] = {}
        self.retention = RetentionFold()
        """Holds and retention runs (``projections/retention_check.py``)."""

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        """Fold one stream (oldest first); raises :class:`InvalidStreamError` for one no writer makes."""
        stream_id = rows[-1][ARTIFACT_ID]
        types = {r[TYPE] for r in rows}
        for expected, r in enumerate(rows, 1):
            if r[VERSION] != expected:
                raise InvalidStreamError(f"stream {stream_id} skips from version {expected - 1} to {r[VERSION]}")
        if self.retention.add(rows, _payload):
            pass
        elif types <= LEDGER_EVENTS:
            if len(rows) != 1:  # a redaction, or the switch to chain format 2: one event, its own stream
                raise InvalidStreamError(f"stream {stream_id} holds {len(rows)} {sorted(types)[0]} events, not one")
        elif types <= ALIAS_EVENTS:
            payload = _payload(rows[-1])
            names = {_payload(r)["name"] for r in rows}
            if len(names) != 1:
                raise InvalidStreamError(f"alias stream {stream_id} names several aliases: {sorted(names)}")
            name = payload["name"]
            last = rows[-1]
            self.aliases[name] = (
                name,
                stream_id,
                last[VERSION],
                payload["artifact_id"],
                payload["version"],
                1 if payload["protected"] else 0,
                last[POSITION],
                last[RECORDED_AT],
                last[ACTOR],
            )
            if name in self.alias_streams:
                raise InvalidStreamError(f"alias {name!r} has two streams: {self.alias_streams[name]} and {stream_id}")
            self.alias_streams[name] = stream_id
        elif types <= LINK_EVENTS:
            held: tuple[Any, ...] | None = None
            for r in rows:
                p = _payload(r)
                if r[TYPE] == LINK_ADDED:
                    if held is not None:
                        raise InvalidStreamError(f"link stream {stream_id} is added twice at position {r[POSITION]}")
                    held = (
                        stream_id,
                        r[POSITION],
                        p["kind"],
                        p["src_id"],
                        p["src_version"],
                        p["dst_id"],
                        p["dst_version"],
                    )
                elif r[TYPE] == LINK_REMOVED:
                    if held is None:
                        raise InvalidStreamError(f"link stream {stream_id} removes a link it does not hold")
                    self.links.add((held[0], held[1], r[POSITION], *held[2:]))
                    held = None
            if held is not None:
                self.links.add((held[0], held[1], None, *held[2:]))
        else:
            raise InvalidStreamError(f"stream {stream_id} mixes event types {sorted(types)}")
        self.last[stream_id] = rows[-1][POSITION]

    async def compare(self, driver: Recorder) -> list[tuple[str | None, str]]:
        """(stream id, problem) for every alias or link row that differs from the fold."""
        sql = provenance_statements(driver.sql.dialect)
        alias_rows, link_rows = await driver.pipeline([(sql.all_aliases, (), False), (sql.all_links, (), False)])
        try:
            problems: list[tuple[str | None, str]] = await self.retention.compare(driver)
        except (ValueError, TypeError, OverflowError) as exc:  # a stored value no writer of ours wrote
            problems = [
                (
                    None,
                    "ledger_holds, ledger_expired_content or ledger_expired_blobs holds a value that cannot be "
                    f"read, written outside artifact-ledger ({exc})",
                )
            ]
        stored = {r[0]: tuple(r) for r in alias_rows}
        for name in sorted(set(stored) | set(self.aliases)):
            want, have = self.aliases.get(name), stored.get(name)
            if want is None:
                assert have is not None
                problems.append((have[1], f"ledger_aliases has a row for alias {name!r} that no event in the log set"))
            elif have is None:
                problems.append(
                    (want[1], f"alias {name!r} is in the log (stream {want[1]}) but has no ledger_aliases row")
                )
            elif _alias_key(have, driver) != _alias_key(want, driver):
                problems.append(
                    (want[1], f"the ledger_aliases row of alias {name!r} differs from the fold of its stream {want[1]}")
                )
        have_links = {tuple(r) for r in link_rows}
        for row in sorted(have_links - self.links, key=repr)[:1]:
            problems.append(
                (
                    row[0],
                    f"ledger_links has a row of link stream {row[0]} from position {row[1]!r} its events do not give",
                )
            )
        for row in sorted(self.links - have_links, key=repr)[:1]:
            problems.append(
                (
                    row[0],
                    f"link stream {row[0]} gives a ledger_links row from position {row[1]} that is missing or differs",
                )
            )
        return problems


def _payload(row: Sequence[Any]) -> dict[str, Any]:
    payload = codec.loads(row[PAYLOAD])
    if not isinstance(payload, dict):
        raise InvalidStreamError(f"event {row[POSITION]} has a payload that is not an object")
    return payload


def _alias_key(row: Sequence[Any], driver: Recorder) -> tuple[Any, ...]:
    return (*row[:7], _stored_time(row[7], driver), row[8])


def _stored_time(value: Any, driver: Recorder) -> Any:
    """A stored timestamp as a datetime; one that no writer of ours wrote (SQLite text that is not a
    time) as itself, tagged, so that it differs from every fold instead of raising."""
    try:
        return driver.read_ts(value)
    except (ValueError, TypeError, OverflowError):
        return ("unreadable", value)
