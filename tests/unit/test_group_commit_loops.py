"""The committer belongs to one event loop: an engine shared by several loops (threads) gets one
committer per loop, so no command waits on a group another loop's task drains; the on/off
setting is the engine's, for all of them; and a committer never keeps its engine alive."""

from __future__ import annotations

import asyncio
import gc
import weakref

from artifact_ledger import create_engine
from artifact_ledger.group_commit import Committer, committer_for, set_enabled


async def test_each_loop_has_its_own_committer_and_the_setting_is_the_engines() -> None:
    engine = create_engine("sqlite+aiosqlite://")
    try:
        here = committer_for(engine)
        assert committer_for(engine) is here

        async def elsewhere() -> tuple[Committer, bool]:
            committer = committer_for(engine)
            return committer, committer.enabled

        there, enabled_there = await asyncio.to_thread(asyncio.run, elsewhere())
        assert there is not here
        assert enabled_there
        assert here.enabled
        set_enabled(engine, False)
        assert not here.enabled
        assert not there.enabled
        here.enabled = True
        assert there.enabled
    finally:
        await engine.dispose()


async def test_a_committer_does_not_keep_its_engine_alive() -> None:
    engine = create_engine("sqlite+aiosqlite://")
    committer = committer_for(engine)
    set_enabled(engine, False)
    sync = weakref.ref(engine.sync_engine)
    await engine.dispose()
    del engine
    gc.collect()
    assert sync() is None
    assert not committer.enabled  # its engine is gone: nothing to group for
