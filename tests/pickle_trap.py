"""A pickle that records being unpickled: proof that refused content never ran its code."""

from __future__ import annotations

from typing import Any

TRIPPED: list[str] = []


def _trip() -> None:
    TRIPPED.append("unpickled")


class Payload:
    """Unpickling this calls ``_trip``: a stand-in for ``os.system``."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return _trip, ()
