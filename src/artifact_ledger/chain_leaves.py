"""The leaves of chain format 2 (``chain_v2.leaves``) cut from a payload value instead of its text.

``chain_v2.leaves`` splits the stored payload text with the standard library's JSON decoder,
which decodes every member to find where it ends: the larger part of sealing an event. The
writer has the payload as a value before it writes its text, and the ledger's canonical JSON
is compositional: the text of a member inside the canonical text of an object is exactly the
canonical text of the member's value (keys sorted, no whitespace, the same number and string
forms). So each leaf's value text is the canonical JSON of that member, written on its own,
and the result is the same mapping ``chain_v2.leaves(codec.dumps_trusted(payload).decode())``
gives (a property test holds the two together).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import chain_v2, codec

_DATA = chain_v2.DATA
_DATA_PATH = chain_v2.path_text((_DATA,))
_DATA_PREFIX = _DATA_PATH[:-1] + ","
_text = chain_v2.encode_text


def leaves_of(payload: Mapping[str, Any]) -> dict[str, str]:
    """Leaf path text -> value text of the payload ``payload`` (a value ``codec.dumps_trusted`` accepts).

    A value it cannot write raises as ``codec.dumps_trusted`` would.
    """
    data = payload.get(_DATA)
    if any(type(k) is not str for k in payload) or (type(data) is dict and any(type(k) is not str for k in data)):
        # not JSON: the text's own path raises the error the ledger gives for it (NotJSONError naming where)
        return chain_v2.leaves(codec.dumps_trusted(payload).decode("utf-8"))
    found: dict[str, str] = {}
    for name, value in payload.items():
        if name == _DATA and type(value) is dict:
            found[_DATA_PATH] = chain_v2.DATA_MARKER
            for key, item in value.items():
                found[_DATA_PREFIX + _text(key) + "]"] = codec.dumps_trusted(item).decode("utf-8")
        else:
            found["[" + _text(name) + "]"] = codec.dumps_trusted(value).decode("utf-8")
    return found


def leaves_of_text(payload: str) -> dict[str, str]:
    """``chain_v2.leaves(payload)``, read faster when ``payload`` is canonical JSON (as the ledger writes it).

    The text is parsed once and written again; only when that gives back exactly the same
    text are the leaves cut from the value (:func:`leaves_of`), which by the same
    compositionality are the very substrings ``chain_v2.leaves`` would cut. Any other text
    (whitespace, a repeated member, a number the ledger would spell differently, something
    that is not JSON) goes to ``chain_v2.leaves``, which reads it as stored or refuses it.
    """
    try:
        value = codec.loads(payload)
        if type(value) is dict and codec.dumps_trusted(value) == payload.encode("utf-8"):
            return leaves_of(value)
    except (
        ValueError,
        TypeError,
        UnicodeEncodeError,
    ):  # not JSON orjson reads or writes: the text's own reading decides
        pass
    return chain_v2.leaves(payload)
