"""Content: what an artifact's ``data["content"]`` becomes in the blob table, and back.

Content is encoded to bytes by one codec and stored in the blob table keyed by the SHA-256
of those bytes. Decoding gives back an object of the same Python type (``bytearray`` and
``memoryview`` come back as ``bytes``):

- ``json``: exact dict/list/str/int/float/bool/None, as canonical JSON (:mod:`artifact_ledger.codec`)
- ``bytes``: bytes, bytearray, memoryview, stored as they are
- ``dataframe``: :class:`artifact_ledger.dataframe.DataFrame`, as canonical JSON ``{"columns", "data"}``
- ``pandas``: a ``pandas.DataFrame`` of JSON-able columns, as canonical JSON of its columns, index,
  dtypes and rows
- ``numpy``: a ``numpy.ndarray`` without Python objects, as ``.npy`` written with ``allow_pickle=False``
- ``pickle``: anything else, as a signed pickle whose signature is checked before unpickling

numpy and pandas are optional: they are imported only when content needs them.

The package is split by concern; the names callers use are re-exported here, so they import from
``artifact_ledger.content``:

- :mod:`.encoding`: choosing a codec (:func:`encode_content`) and verified decoding (:func:`decode_content`)
- :mod:`.codecs`: codec names, media types, and the JSON, bytes and numpy codecs
- :mod:`.frames`: the two DataFrame formats (ours and pandas')
- :mod:`.pickle_signing`: the signed-pickle envelope
- :mod:`.keyring`: :class:`Keyring`, the signing keys and their key-file format
"""

from .codecs import (
    BYTES_MEDIA_TYPE,
    DATAFRAME_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    NUMPY_MEDIA_TYPE,
    PICKLE_MEDIA_TYPE,
)
from .encoding import EncodedContent, decode_content, encode_content
from .keyring import Keyring

__all__ = [
    "BYTES_MEDIA_TYPE",
    "DATAFRAME_MEDIA_TYPE",
    "JSON_MEDIA_TYPE",
    "NUMPY_MEDIA_TYPE",
    "PICKLE_MEDIA_TYPE",
    "EncodedContent",
    "Keyring",
    "decode_content",
    "encode_content",
]
