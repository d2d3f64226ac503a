"""``aliases(id, limit=, after=)`` (keyset pages) and ``aliases_paginated(page, size, id=)``: pages
of the alias listings read in the database, equal to the slices of ``aliases()`` (every backend)."""

from __future__ import annotations

import pytest
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, InvalidArgumentError

NAMES = ["b", "a", "A", "Z/1", "z 2", "ä", "a-1", "a.1", "m", "prod", "staging", "ñ", "0", "9"]


async def test_pages_equal_the_slices_of_the_whole_list(manager: ArtifactManager) -> None:
    one = await manager.save(ArtifactIn(data={"n": 1}))
    two = await manager.save(ArtifactIn(data={"n": 2}))
    for n, name in enumerate(NAMES):
        await manager.set_alias(name, one.id if n % 3 else two.id)
    await manager.remove_alias("m")  # its row stays, with no target: no alias
    await manager.set_alias("b", two.id)  # moved from one to two
    for aid in (None, one.id, two.id, ULID()):
        whole = await manager.aliases(aid)
        for size in (1, 2, 5, len(whole) or 1, 50):
            for page in range(1, -(-len(whole) // size) + 2):
                items, total = await manager.aliases_paginated(page, size, id=aid)
                assert (items, total) == (whole[(page - 1) * size : page * size], len(whole))
            walked, after = [], None
            while True:
                found = await manager.aliases(aid, limit=size + 1, after=after)
                walked.extend(found[:size])
                if len(found) <= size:
                    break
                after = found[size - 1].name
            assert walked == whole
        names = [a.name for a in whole]
        for n, name in enumerate(names):
            assert await manager.aliases(aid, after=name) == whole[n + 1 :]
    assert len(await manager.aliases()) == len(NAMES) - 1


async def test_bad_pages_are_refused(manager: ArtifactManager) -> None:
    for page, size in ((0, 10), (1, 0), (True, 5), (1, 2.0)):
        with pytest.raises(InvalidArgumentError, match=r"page|size"):
            await manager.aliases_paginated(page, size)  # type: ignore[arg-type]
    for limit in (0, -1, True, "2"):
        with pytest.raises(InvalidArgumentError, match="limit"):
            await manager.aliases(limit=limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="after"):
        await manager.aliases(after=3)  # type: ignore[arg-type]
