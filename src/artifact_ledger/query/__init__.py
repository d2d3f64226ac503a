"""Finding artifacts by what they hold: the filter language (:mod:`.language`), its compilation to
SQL (:mod:`.compile`, with the backend's expressions from ``store/json_paths.py``), keyset cursors
(:mod:`.cursor`) and the runner of ``find``/``count`` (:mod:`.find`)."""

from __future__ import annotations

from .find import MAX_LIMIT, FindPage

__all__ = ["MAX_LIMIT", "FindPage"]
