"""Diffs that show values: what changed inside an artifact's content between two versions.

- :mod:`.content`: choosing the kind of a content diff, loading and decoding what it needs
- :mod:`.text`: line-level unified diffs with word-level spans (pure)
- :mod:`.frames`: DataFrame rows and columns added, removed and changed (pure)

The result models live in :mod:`artifact_ledger.schemas.content_diffs`.
"""

from .content import content_diff

__all__ = ["content_diff"]
