"""A writer process for the crash test: batches of 50 saves, each batch one transaction, forever.

``python batch_writer.py URL SECRET``. Prints ``R`` once ready, then ``B <batch>`` before each
transaction and ``C <batch>`` after its commit (unbuffered), until it is killed.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactRepository, create_engine

BATCH = 50


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(url: str, secret: str) -> None:
    engine = create_engine(url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        manager = ArtifactManager(ArtifactRepository(session, secret=secret))
        await manager.count()  # connected: the kill may now land anywhere in a write
        say("R")
        while True:
            batch = uuid.uuid4().hex
            say(f"B {batch}")
            async with manager.transaction():
                root = await manager.save(ArtifactIn(data={"batch": batch, "i": 0}))
                for i in range(1, BATCH):
                    await manager.save(ArtifactIn(parent_id=root.id, data={"batch": batch, "i": i}))
            say(f"C {batch}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
