"""ORM view of the ledger's tables, for chapkit-compatible set-up code.

``Artifact.metadata`` is the ledger's one MetaData, so
``await conn.run_sync(Artifact.metadata.create_all)`` creates every ledger
table (events, blobs, projections, checkpoints) and the append-only triggers.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from .store.tables import artifacts, metadata


class Base(DeclarativeBase):
    metadata = metadata


class Artifact(Base):
    """A row of the current-state projection (read-only: writes go through the manager)."""

    __table__ = artifacts


__all__ = ["Artifact", "Base"]
