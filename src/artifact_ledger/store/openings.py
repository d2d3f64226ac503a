"""The statements of chain format 2's openings and of redaction, built from ``tables.py`` per backend.

Kept beside the core statements and compiled with the same machinery
(:func:`statements.compile_for`), once per backend, as ``store/retention.py`` does. Rows of
``ledger_openings`` become :class:`~artifact_ledger.chain_v2.Opening` values here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, null, select, update
from sqlalchemy.sql.elements import BindParameter

from .. import codec
from ..chain_v2 import Opening
from .statements import ZERO, Statement, compile_for
from .tables import CHAIN_FORMAT_2_KEY, artifacts, events, expired_blobs, info, openings

_STATE = ("type", "data", "content_hash", "content_codec", "content_type", "content_size", "tags")

__all__ = ["OpeningStatements", "adopt_format_2", "opening_from_row", "opening_statements", "opening_values"]


def _p(name: str) -> BindParameter[Any]:
    return bindparam(name)


def _hex_map(text: Any) -> dict[str, bytes]:
    if text is None:
        return {}
    found = codec.loads(text)
    if type(found) is not dict or not all(type(v) is str for v in found.values()):
        raise ValueError(f"an opening's leaf map is not an object of hex texts: {str(text)[:60]!r}")
    return {str(k): bytes.fromhex(v) for k, v in found.items()}


def opening_from_row(salt: Any, salts: Any, erased: Any) -> Opening:
    """An opening as stored (``salt`` bytes or NULL, ``salts`` / ``erased`` JSON of path -> hex); a
    damaged row raises :class:`ValueError` (or :class:`TypeError`), which a verifier reports."""
    if salt is not None:
        salt = bytes(salt)
        if len(salt) != 32:
            raise ValueError(f"an event salt has {len(salt)} bytes, not 32")
    return Opening(salt, _hex_map(salts), _hex_map(erased))


def opening_values(position: int, opening: Opening) -> tuple[Any, ...]:
    """The stored columns of ``opening`` (``position, salt, salts, erased``)."""

    def text(leaves: Mapping[str, bytes]) -> str | None:
        return codec.dumps_trusted({k: v.hex() for k, v in leaves.items()}).decode() if leaves else None

    return (position, opening.salt, text(opening.salts), text(opening.erased))


class OpeningStatements:
    """Every opening and redaction statement for one backend, by attribute."""

    def __init__(self, dialect: str) -> None:
        o, e = openings, events
        built: dict[str, tuple[Any, Sequence[str]]] = {
            "first_opening": (select(func.min(o.c.position)), ()),
            "last_opening": (select(func.max(o.c.position)), ()),
            "openings_between": (
                select(o.c.position, o.c.salt, o.c.salts, o.c.erased)
                .where(o.c.position > _p("low"), o.c.position <= _p("high"))
                .order_by(o.c.position),
                ("low", "high"),
            ),
            "opening_at": (
                select(o.c.position, o.c.salt, o.c.salts, o.c.erased).where(o.c.position == _p("position")),
                ("position",),
            ),
            # One artifact's events with their openings, oldest first: what a redaction plans from.
            "stream_with_openings": (
                select(*e.c, o.c.position, o.c.salt, o.c.salts, o.c.erased)
                .select_from(e.outerjoin(o, o.c.position == e.c.position))
                .where(e.c.artifact_id == _p("artifact_id"))
                .order_by(e.c.position)
                .limit(_p("limit"))
                .offset(ZERO),
                ("artifact_id", "limit"),
            ),
            "update_opening": (
                update(o)
                .where(o.c.position == _p("position"))
                .values(salt=null(), salts=_p("salts"), erased=_p("erased")),
                ("salts", "erased", "position"),
            ),
            "update_payload": (
                update(e).where(e.c.position == _p("position")).values(payload=_p("payload")),
                ("payload", "position"),
            ),
            "update_state": (
                update(artifacts).where(artifacts.c.id == _p("id")).values({name: _p(name) for name in _STATE}),
                (*_STATE, "id"),
            ),
            "expired_blob_at": (select(expired_blobs.c.hash).where(expired_blobs.c.hash == _p("hash")), ("hash",)),
            "delete_expired_blob": (delete(expired_blobs).where(expired_blobs.c.hash == _p("hash")), ("hash",)),
            "insert_info": (insert(info).values(key=_p("key"), value=_p("value")), ("key", "value")),
            "info_value": (select(info.c.value).where(info.c.key == _p("key")), ("key",)),
            # The events whose payload names a blob (its hash as text): who else still refers to it.
            "payloads_naming": (
                select(e.c.position, e.c.payload)
                .where(e.c.payload.contains(_p("needle")))
                .limit(_p("limit"))
                .offset(ZERO),
                ("needle", "limit"),
            ),
        }
        for name, (construct, names) in built.items():
            setattr(self, name, compile_for(dialect, f"openings_{name}", construct, names))

    def __getattr__(self, name: str) -> Statement:  # only reached for names that are not statements
        raise AttributeError(f"no opening statement named {name!r}")


async def adopt_format_2(driver: Any, position: int) -> None:
    """Record that the ledger seals chain format 2 from ``position`` on, unless it says so already
    (an import of format-2 events: the writer must never seal format 1 after them)."""
    sql = opening_statements(driver.sql.dialect)
    if not await driver.fetch(sql.info_value, CHAIN_FORMAT_2_KEY):
        await driver.pipeline([(sql.insert_info, (CHAIN_FORMAT_2_KEY, str(position)), False)])


@cache
def opening_statements(dialect: str) -> OpeningStatements:
    """The opening and redaction statements for ``dialect``, built once."""
    return OpeningStatements(dialect)
