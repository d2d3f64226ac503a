"""Verify's drift pass over holds and retention runs: fold each hold's and each run's stream from
the log and compare the result with ``ledger_holds``, ``ledger_expired_content`` and
``ledger_expired_blobs`` row for row (``projections/retention.py`` writes the same rows event by event).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..events import HOLD_EVENTS, RETENTION_APPLIED
from ..store.recorder import Recorder
from ..store.retention import retention_statements
from ..store.rows import ACTOR, ARTIFACT_ID, POSITION, RECORDED_AT, TYPE, VERSION

__all__ = ["RetentionFold"]


class RetentionFold:
    """The hold and expiry rows the log implies, gathered stream by stream."""

    def __init__(self) -> None:
        self.holds: dict[str, tuple[Any, ...]] = {}
        self.expired: dict[tuple[str, int], tuple[Any, ...]] = {}
        self.blobs: dict[str, int] = {}

    def add(self, rows: Sequence[Sequence[Any]], payload: Callable[[Sequence[Any]], dict[str, Any]]) -> bool:
        """Fold one stream if it is a hold's or a run's (True), else leave it to the caller (False).

        Raises ``ValueError`` for a stream no writer of ours produces."""
        types = {r[TYPE] for r in rows}
        stream_id = rows[-1][ARTIFACT_ID]
        if types <= HOLD_EVENTS:
            targets = {payload(r)["artifact_id"] for r in rows}
            if len(targets) != 1:
                raise ValueError(f"hold stream {stream_id} names several artifacts: {sorted(targets)}")
            last = rows[-1]
            aid = targets.pop()
            if aid in self.holds:
                raise ValueError(f"artifact {aid} has two hold streams: {self.holds[aid][1]} and {stream_id}")
            held = payload(last)["held"]
            self.holds[aid] = (
                aid,
                stream_id,
                last[VERSION],
                1 if held else 0,
                last[POSITION],
                last[RECORDED_AT],
                last[ACTOR],
            )
            return True
        if types == {RETENTION_APPLIED}:
            for r in rows:
                p = payload(r)
                for aid, version, digest in p["expired"]:
                    if (aid, version) in self.expired:
                        raise ValueError(f"artifact {aid} version {version} is expired twice (event {r[POSITION]})")
                    self.expired[(aid, version)] = (aid, version, digest, r[POSITION])
                for digest, _size in p["deleted"]:
                    self.blobs[digest] = max(self.blobs.get(digest, 0), r[POSITION])
            return True
        return False

    async def compare(self, driver: Recorder) -> list[tuple[str | None, str]]:
        """(artifact or stream id, problem) for every hold or expiry row that differs from the fold."""
        sql = retention_statements(driver.sql.dialect)
        hold_rows, expired_rows, blob_rows = await driver.pipeline(
            [(sql.all_holds, (), False), (sql.all_expired, (), False), (sql.all_expired_blobs, (), False)]
        )
        problems: list[tuple[str | None, str]] = []
        stored = {r[0]: tuple(r) for r in hold_rows}
        for aid in sorted(set(stored) | set(self.holds)):
            want, have = self.holds.get(aid), stored.get(aid)
            if want is None or have is None or _hold_key(have, driver) != _hold_key(want, driver):
                problems.append(
                    (aid, f"the ledger_holds row of artifact {aid} differs from the fold of its hold stream")
                )
                break
        have_expired = {(r[0], int(r[1])): (r[0], int(r[1]), r[2], int(r[3])) for r in expired_rows}
        for key in sorted(
            set(have_expired) ^ set(self.expired) | {k for k in have_expired if have_expired[k] != self.expired.get(k)}
        ):
            problems.append(
                (key[0], f"the ledger_expired_content row of artifact {key[0]} version {key[1]} differs from the log")
            )
            break
        have_blobs = {r[0]: int(r[1]) for r in blob_rows}
        if have_blobs != self.blobs:
            digest = sorted(
                set(have_blobs) ^ set(self.blobs) | {h for h in have_blobs if have_blobs[h] != self.blobs.get(h)}
            )[0]
            problems.append(
                (None, f"the ledger_expired_blobs row of blob {digest} differs from the log's retention events")
            )
        return problems


def _hold_key(row: Sequence[Any], driver: Recorder) -> tuple[Any, ...]:
    return (*row[:5], driver.read_ts(row[5]), row[6])
