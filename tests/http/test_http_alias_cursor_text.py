"""An alias keyset cursor (``after``) that no alias name can hold: a NUL, a lone surrogate.

PostgreSQL refused the NUL as an IntegrityViolationError ("the database refused the value", 409 through
HTTP), SQLite took it and answered a page; a lone surrogate was a bare UnicodeEncodeError on SQLite. The
same bad input is now InvalidArgumentError (400 through HTTP) on both backends, before any read.
"""

from __future__ import annotations

import httpx
import pytest
from http_support import API, assert_problem

from artifact_ledger import ArtifactIn, InvalidArgumentError, Ledger


@pytest.mark.parametrize("after", ["\x00", "a\x00b", "\ud800", "x\udfff"])
async def test_a_cursor_no_alias_name_can_hold_is_refused(ledger: Ledger, after: str) -> None:
    async with ledger.manager() as m:
        one = await m.save(ArtifactIn(data={"n": 1}))
        await m.set_alias("x", one.id)
        for aid in (None, one.id):
            with pytest.raises(InvalidArgumentError, match="after"):
                await m.aliases(aid, limit=5, after=after)
        assert [a.name for a in await m.aliases(limit=5, after="")] == ["x"]  # a cursor before every name


async def test_a_nul_cursor_through_http_is_400(client: httpx.AsyncClient, ledger: Ledger) -> None:
    async with ledger.manager() as m:
        one = await m.save(ArtifactIn(data={"n": 1}))
        await m.set_alias("x", one.id)
    for url in ("/api/v1/aliases", f"{API}/{one.id}/$aliases"):
        response = await client.get(url, params={"after": "a\x00b", "limit": 5})
        assert_problem(response, 400)
