"""``find``'s and the listings' lean row-to-model loop (``schemas/stored.py``) equals the general one.

The present's rows become ``ArtifactOut`` in :func:`outs_from_stored` (one JSON parse per page,
ids and timestamps parsed once each); the general path (:meth:`Reads._models` with content, or
tree nodes) still decodes row by row. Both are run here over the same projection rows, on
SQLite and PostgreSQL, and must give equal models, field by field, types included.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from artifact_ledger import ArtifactIn, ArtifactManager, codec
from artifact_ledger.ids import ulid_from_text
from artifact_ledger.schemas import ArtifactOut, construct
from artifact_ledger.schemas.stored import outs_from_stored
from artifact_ledger.store.statements import REPLY_COLUMNS
from artifact_ledger.store.tables import stamp_reader


def _general(row: Any) -> ArtifactOut:
    """One row decoded field by field, as the general path does."""
    stamp = stamp_reader()
    aid, parent, level, version, data, _, _, tags, created, updated, by, upd = row
    return construct(
        ArtifactOut,
        {
            "id": ulid_from_text(aid),
            "parent_id": None if parent is None else ulid_from_text(parent),
            "level": level,
            "data": codec.loads(data),
            "tags": codec.loads(tags),
            "created_at": stamp(created),
            "updated_at": stamp(updated),
            "version": version,
            "created_by": by,
            "updated_by": upd,
        },
    )


async def test_the_lean_loop_equals_the_general_one(manager: ArtifactManager, session: AsyncSession) -> None:
    root = await manager.save(ArtifactIn(data={"k": "root", "n": 1.5, "u": "é\u2028", "deep": {"a": [1, None, True]}}))
    kids = await manager.save_all(
        [ArtifactIn(parent_id=root.id, data={"k": i, "s": "x" * i}, tags=[f"t{i}", 'q"t']) for i in range(5)]
    )
    await manager.save(ArtifactIn(id=kids[0].id, parent_id=root.id, data={"k": "changed"}, tags=[]))
    columns = ", ".join(REPLY_COLUMNS)  # the driver's values, as find() gets them (no type processing)
    rows = list((await session.execute(text(f"SELECT {columns} FROM ledger_artifacts ORDER BY id"))).all())
    assert len(rows) == 6
    lean = outs_from_stored(ArtifactOut, rows)
    general = [_general(r) for r in rows]
    assert [m.model_dump() for m in lean] == [m.model_dump() for m in general]
    for a, b in zip(lean, general, strict=True):
        assert a.model_fields_set == b.model_fields_set
        assert type(a.id) is type(b.id)
        assert type(a.created_at) is type(b.created_at)
        assert a.created_at.tzinfo is not None
    # The page's models share no mutable state: changing one leaves the others alone.
    lean[1].data["k"] = "mutated"
    lean[1].model_fields_set.discard("version")
    assert lean[2].data["k"] != "mutated"
    assert "version" in lean[2].model_fields_set
    # And find() itself gives what get() gives, artifact by artifact.
    page = await manager.find({"data.k": {"exists": True}}, limit=10)
    assert [m.model_dump() for m in page.items] == [(await manager.find_by_id(m.id)).model_dump() for m in page.items]  # type: ignore[union-attr]


def test_loads_each_parses_a_page_in_one_call_and_each_text_when_that_fails() -> None:
    texts = ['{"a":1}', "[1,2]", '"s"', "null", "3.5"]
    assert codec.loads_each(texts) == [{"a": 1}, [1, 2], "s", None, 3.5]
    assert codec.loads_each([]) == []
    many = [f'{{"i":{i}}}' for i in range(5000)]  # past one chunk
    assert codec.loads_each(many) == [{"i": i} for i in range(5000)]
    # A text holding two values would shift the rest: the count is checked and each text parsed alone.
    with pytest.raises(ValueError, match=r"(?i)trailing|unexpected|invalid"):
        codec.loads_each(['{"a":1}', "1,2"])
    with pytest.raises(ValueError, match=r"(?i)empty"):
        codec.loads_each(['{"a":1}', ""])
