"""Fuzz: the content decoders, fed random bytes and random JSON, raise only their documented errors.

``decode_content`` documents ``UntrustedContentError`` (corrupt, forged, unknown codec) and
``MissingExtraError`` (numpy/pandas absent: installed here, so never) and, for a pickle that
verifies, ``LedgerError``. Anything else (a ``KeyError`` from a crafted pandas document, a
``RecursionError``, a numpy ``MemoryError``) would be a crash. A per-example deadline catches
hangs.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from artifact_ledger import Keyring, UntrustedContentError
from artifact_ledger.codec import dumps
from artifact_ledger.content import decode_content, encode_content

KEYRING = Keyring.from_secret("fuzz")
CODECS = ["json", "bytes", "dataframe", "pandas", "numpy", "pickle"]
FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


def decode(codec: str, data: bytes) -> None:
    """Decode with the matching hash; only the documented error may escape, and it names the blob."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        decode_content(codec, data, digest, KEYRING)
    except UntrustedContentError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith(f"blob {digest}")


@FUZZ
@given(codec=st.sampled_from([*CODECS, "", "PICKLE", "exe"]), data=st.binary(max_size=512))
@example(codec="json", data=b"[" * 5000)
@example(codec="numpy", data=b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (10**12,), }")
@example(codec="pickle", data=b"ALPK\x01" + bytes(40) + b"cos\nsystem\n(S'true'\ntR.")
def test_random_bytes(codec: str, data: bytes) -> None:
    decode(codec, data)


@FUZZ
@given(codec=st.sampled_from(CODECS), value=json_values)
def test_random_json_documents(codec: str, value: Any) -> None:
    decode(codec, dumps(value))


frame_documents = st.fixed_dictionaries(
    {
        "format": st.sampled_from([1, 1, 2, "1", None]),
        "columns": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"kind": st.sampled_from(["range", "values", "other"])}, optional={"start": json_values}
            ),
        ),
        "index": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from(["range", "values"]),
                    "start": st.integers(-5, 10**12),
                    "stop": st.integers(-5, 10**12),
                    "step": st.integers(-3, 3),
                    "name": json_values,
                    "dtype": st.sampled_from(["int64", "object", "datetime64[ns, UTC]", "category", "float16", "x"]),
                    "values": st.lists(json_values, max_size=4),
                    "freq": st.sampled_from([None, "D", "nonsense"]),
                }
            ),
        ),
        "dtypes": st.lists(st.sampled_from(["int64", "object", "bool", "timedelta64[ns]", "Int8", "nope"]), max_size=3),
        "data": st.lists(st.lists(json_values, max_size=3), max_size=3),
    }
)


@FUZZ
@given(document=frame_documents)
def test_near_valid_pandas_documents(document: dict[str, Any]) -> None:
    decode("pandas", dumps(document))


@FUZZ
@given(columns=json_values, data=json_values)
def test_near_valid_dataframe_documents(columns: Any, data: Any) -> None:
    decode("dataframe", dumps({"columns": columns, "data": data}))


@FUZZ
@given(
    shape=st.lists(st.integers(0, 2**40), max_size=3),
    descr=st.sampled_from(["<f8", "|O", "<U5", "|V3", "bogus", "<M8[ns]"]),
    body=st.binary(max_size=64),
)
def test_crafted_npy_headers(shape: list[int], descr: str, body: bytes) -> None:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({', '.join(map(str, shape))},), }}"
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + body
    decode("numpy", raw)


@FUZZ
@given(value=json_values, flip=st.integers(0, 10_000))
def test_a_wrong_hash_is_always_refused(value: Any, flip: int) -> None:
    encoded = encode_content(value, None, KEYRING)
    wrong = bytearray(encoded.data)
    wrong[flip % len(wrong)] ^= 1
    with pytest.raises(UntrustedContentError, match="corrupted"):
        decode_content(encoded.codec, bytes(wrong), encoded.hash, KEYRING)
