"""A listing's placeholder for content that is gone (``UnavailableContent``) saved back as content
(a read-modify-write of listed data) is refused on every backend; nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, InvalidArtifactDataError, Ledger, UnavailableContent
from ledger_support import SECRET


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET) as opened:
        yield opened


async def test_saving_a_listing_s_placeholder_as_content_is_refused(ledger: Ledger) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "doc", "email": "e@x", "content": b"secret"}))
        await m.redact(a.id, reason="erasure request")
        [listed] = [x for x in await m.find_all() if x.id == a.id]
        placeholder = listed.data["content"]
        assert isinstance(placeholder, UnavailableContent)
        before = len(await m.history(a.id))
        for save in (
            lambda: m.save(ArtifactIn(id=a.id, data={**listed.data, "name": "doc 2"})),
            lambda: m.save_all([ArtifactIn(data={"name": "copy", "content": placeholder})]),
        ):
            with pytest.raises(InvalidArtifactDataError, match="content is the placeholder a listing gives"):
                await save()
        assert len(await m.history(a.id)) == before
        assert len(await m.find_all()) == 1
