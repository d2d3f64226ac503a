"""Content codecs and signed pickle: round trips, content types, and refusing untrusted blobs."""

from __future__ import annotations

import decimal
import hashlib
import hmac
import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from artifact_ledger.content import (
    DATAFRAME_MEDIA_TYPE,
    EncodedContent,
    Keyring,
    decode_content,
    encode_content,
)
from artifact_ledger.dataframe import DataFrame
from artifact_ledger.errors import (
    ContentTypeMismatchError,
    InvalidArtifactDataError,
    MissingExtraError,
    UntrustedContentError,
)
from pickle_trap import TRIPPED, Payload

HEADER = 4 + 1 + 8 + 32  # magic, version, key id, HMAC


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_secret("unit-test secret")


def round_trip(content: object, keyring: Keyring, declared: str | None = None) -> tuple[EncodedContent, Any]:
    encoded = encode_content(content, declared, keyring)
    assert encoded.size == len(encoded.data)
    assert encoded.hash == hashlib.sha256(encoded.data).hexdigest()
    return encoded, decode_content(encoded.codec, encoded.data, encoded.hash, keyring)


def with_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Point:
    """A plain user class: only pickle can store it."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))


# -- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"b": [1, 2.5, None, True], "a": {"nested": "x"}},
        [1, "two", 3.0, False, None, [], {}],
        "a string",
        "",
        42,
        -0.5,
        True,
        None,
    ],
)
def test_json_values_round_trip_as_json(value: object, keyring: Keyring) -> None:
    encoded, decoded = round_trip(value, keyring)
    assert encoded.codec == "json"
    assert encoded.media_type == "application/json"
    assert decoded == value
    assert type(decoded) is type(value)


@pytest.mark.parametrize(
    "value",
    [
        (1, 2),  # would come back as a list
        {1, 2},
        {1: "int key"},
        [1, (2, 3)],
        float("nan"),
        2**70,
        decimal.Decimal("1.5"),
        Point(1, 2),
    ],
)
def test_values_json_cannot_return_exactly_are_pickled(value: object, keyring: Keyring) -> None:
    encoded, decoded = round_trip(value, keyring)
    assert encoded.codec == "pickle"
    assert encoded.media_type == "application/x-pickle"
    assert type(decoded) is type(value)
    assert decoded == value or value != value  # NaN != NaN


def test_nan_is_pickled_and_comes_back_nan(keyring: Keyring) -> None:
    _, decoded = round_trip(float("nan"), keyring)
    assert decoded != decoded


@pytest.mark.parametrize("value", [b"\x00\xffraw", bytearray(b"abc"), memoryview(b"view"), b""])
def test_bytes_like_round_trip_as_bytes(value: bytes | bytearray | memoryview, keyring: Keyring) -> None:
    encoded, decoded = round_trip(value, keyring)
    assert encoded.codec == "bytes"
    assert encoded.media_type == "application/octet-stream"
    assert encoded.data == bytes(value)
    assert type(decoded) is bytes
    assert decoded == bytes(value)


def test_dataframe_round_trips_as_canonical_json(keyring: Keyring) -> None:
    frame = DataFrame(columns=["b", "a"], data=[[1, "x"], [2.5, None]])
    encoded, decoded = round_trip(frame, keyring)
    assert encoded.codec == "dataframe"
    assert encoded.media_type == DATAFRAME_MEDIA_TYPE
    assert encoded.data == b'{"columns":["b","a"],"data":[[1,"x"],[2.5,null]]}'
    assert type(decoded) is DataFrame
    assert decoded == frame


def test_dataframe_with_non_json_cells_is_pickled(keyring: Keyring) -> None:
    frame = DataFrame(columns=["p"], data=[[Point(1, 2)]])
    encoded, decoded = round_trip(frame, keyring)
    assert encoded.codec == "pickle"
    assert type(decoded) is DataFrame
    assert decoded == frame


def test_custom_class_round_trips_through_signed_pickle(keyring: Keyring) -> None:
    encoded, decoded = round_trip(Point(3, 4), keyring)
    assert encoded.codec == "pickle"
    assert encoded.data[:5] == b"ALPK\x01"
    assert encoded.data[5:13] == keyring.signing_key_id
    assert decoded == Point(3, 4)


def test_sklearn_model_still_predicts_after_round_trip(keyring: Keyring) -> None:
    np = pytest.importorskip("numpy")
    linear_model = pytest.importorskip("sklearn.linear_model")
    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = linear_model.LinearRegression().fit(features, 2 * features[:, 0] + 1)
    encoded, decoded = round_trip(model, keyring)
    assert encoded.codec == "pickle"
    assert type(decoded) is type(model)
    np.testing.assert_allclose(decoded.predict(np.array([[10.0]])), [21.0])


# -- numpy ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda np: np.arange(5, dtype="int32"),
        lambda np: np.array([1.5, np.nan, -np.inf]),
        lambda np: np.arange(12, dtype="float64").reshape(3, 4),
        lambda np: np.asfortranarray(np.arange(6).reshape(2, 3)),
        lambda np: np.array([True, False]),
        lambda np: np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"),
        lambda np: np.array(["ab", "c"]),
        lambda np: np.array(7),
    ],
)
def test_numpy_arrays_round_trip_without_pickle(make: Any, keyring: Keyring) -> None:
    np = pytest.importorskip("numpy")
    array = make(np)
    encoded, decoded = round_trip(array, keyring)
    assert encoded.codec == "numpy"
    assert encoded.media_type == "application/x-npy"
    assert encoded.data.startswith(b"\x93NUMPY")
    assert type(decoded) is np.ndarray
    assert decoded.dtype == array.dtype
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


def test_object_arrays_and_numpy_scalars_are_pickled(keyring: Keyring) -> None:
    np = pytest.importorskip("numpy")
    objects = np.array([Point(1, 2), None], dtype=object)
    encoded, decoded = round_trip(objects, keyring)
    assert encoded.codec == "pickle"
    assert decoded[0] == Point(1, 2)
    encoded, decoded = round_trip(np.float64(1.5), keyring)
    assert encoded.codec == "pickle"
    assert type(decoded) is np.float64


# -- pandas ---------------------------------------------------------------------------------------


def mixed_frame(pd: Any, np: Any) -> Any:
    return pd.DataFrame(
        {
            "int": [1, -2, 3],
            "small": np.array([1, 2, 3], dtype="uint8"),
            "float": [1.5, np.nan, -0.0],
            "f32": np.array([0.1, 0.2, 0.3], dtype="float32"),
            "str": ["a", None, "ç"],
            "bool": [True, False, True],
            "when": pd.to_datetime(["2024-01-01T12:00:00.123456", None, "1969-12-31"], format="ISO8601"),
            "ns": pd.to_datetime(["2024-01-01T00:00:00.000000001", "2024-01-02T00:00:00.000000000", None]).astype(
                "datetime64[ns]"
            ),
            "tz": pd.to_datetime(["2024-03-31T00:30", "2024-03-31T03:30", None]).tz_localize("Europe/Oslo"),
            "delta": pd.to_timedelta([1, None, -3], unit="s"),
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "obj": pd.Series(["x", 1, None], dtype=object),
        }
    )


def test_pandas_frame_round_trips_values_order_and_dtypes(keyring: Keyring) -> None:
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    frame = mixed_frame(pd, np)
    encoded, decoded = round_trip(frame, keyring)
    assert encoded.codec == "pandas"
    assert encoded.media_type == DATAFRAME_MEDIA_TYPE
    assert type(decoded) is pd.DataFrame
    assert list(decoded.columns) == list(frame.columns)
    assert decoded.dtypes.map(str).tolist() == frame.dtypes.map(str).tolist()
    pd.testing.assert_frame_equal(decoded, frame)


@pytest.mark.parametrize(
    "make",
    [
        lambda pd: pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["r1", "r2"], name="row")),
        lambda pd: pd.DataFrame({"v": [1, 2, 3]}, index=pd.date_range("2024-01-01", periods=3, freq="D")),
        lambda pd: pd.DataFrame({"v": [1, 2]}, index=pd.RangeIndex(10, 14, 2, name="r")),
        lambda pd: pd.DataFrame([[1, 2], [3, 4]]),  # RangeIndex columns
        lambda pd: pd.DataFrame([[1, 2]], columns=["a", "a"]),  # duplicate labels
        lambda pd: pd.DataFrame({"v": [1, 2]}, index=[5, 5]),
        lambda pd: pd.DataFrame(),
        lambda pd: pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="str")}),
        lambda pd: pd.DataFrame(index=[1, 2, 3]),
    ],
)
def test_pandas_index_and_shape_edge_cases_round_trip(make: Any, keyring: Keyring) -> None:
    pd = pytest.importorskip("pandas")
    frame = make(pd)
    encoded, decoded = round_trip(frame, keyring)
    assert encoded.codec == "pandas"
    pd.testing.assert_frame_equal(decoded, frame)


@pytest.mark.parametrize(
    "make",
    [
        lambda pd: pd.DataFrame({"o": [Point(1, 2), None]}),
        lambda pd: pd.DataFrame({"o": pd.Series(["x", float("nan")], dtype=object)}),
    ],
)
def test_pandas_frames_neither_json_nor_arrow_hold_exactly_fall_back_to_pickle(make: Any, keyring: Keyring) -> None:
    pd = pytest.importorskip("pandas")
    frame = make(pd)
    encoded, decoded = round_trip(frame, keyring)
    assert encoded.codec == "pickle"
    assert type(decoded) is pd.DataFrame
    pd.testing.assert_frame_equal(decoded, frame)


def test_pandas_frame_with_attrs_is_pickled_to_keep_them(keyring: Keyring) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"v": [1]})
    frame.attrs["source"] = "sensor"
    encoded, decoded = round_trip(frame, keyring)
    assert encoded.codec == "pickle"
    assert decoded.attrs == {"source": "sensor"}


# -- content types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "declared",
    [
        "application/vnd.chapkit.dataframe+json",
        "Application/VND.Chapkit.DataFrame+JSON ",
        "application/vnd.artifact-ledger.dataframe+json",
    ],
)
def test_dataframe_media_type_aliases_are_normalised(declared: str, keyring: Keyring) -> None:
    frame = DataFrame(columns=["a"], data=[[1]])
    encoded, decoded = round_trip(frame, keyring, declared)
    assert encoded.media_type == DATAFRAME_MEDIA_TYPE
    assert encoded.codec == "dataframe"
    assert decoded == frame


def test_declared_dataframe_type_accepts_pandas_and_a_columns_data_dict(keyring: Keyring) -> None:
    document = {"columns": ["a"], "data": [[1], [2]]}
    encoded, decoded = round_trip(document, keyring, "application/vnd.chapkit.dataframe+json")
    assert (encoded.codec, encoded.media_type) == ("json", DATAFRAME_MEDIA_TYPE)
    assert type(decoded) is dict
    assert decoded == document
    pd = pytest.importorskip("pandas")
    encoded, decoded = round_trip(pd.DataFrame(document["data"], columns=["a"]), keyring, DATAFRAME_MEDIA_TYPE)
    assert (encoded.codec, encoded.media_type) == ("pandas", DATAFRAME_MEDIA_TYPE)
    assert type(decoded) is pd.DataFrame


@pytest.mark.parametrize(
    ("content", "declared", "codec"),
    [
        (b"a,b\n1,2\n", "text/csv", "bytes"),
        (b"\x89PNG...", "image/png", "bytes"),
        ("a,b\n1,2\n", "text/csv", "json"),
        ({"k": 1}, "application/vnd.example+json", "json"),
        (Point(1, 1), "application/vnd.example.model", "pickle"),
    ],
)
def test_other_declared_types_are_kept_and_the_codec_inferred(
    content: object, declared: str, codec: str, keyring: Keyring
) -> None:
    encoded, decoded = round_trip(content, keyring, declared)
    assert (encoded.codec, encoded.media_type) == (codec, declared)
    assert decoded == content


def test_media_type_parameters_are_kept_and_the_base_lowercased(keyring: Keyring) -> None:
    encoded = encode_content("x", "Text/Plain ; charset=utf-8", keyring)
    assert encoded.media_type == "text/plain; charset=utf-8"
    encoded = encode_content({"a": 1}, "APPLICATION/JSON; charset=utf-8", keyring)
    assert (encoded.codec, encoded.media_type) == ("json", "application/json; charset=utf-8")


@pytest.mark.parametrize("declared", ["application/x-pickle", "application/python-pickle"])
@pytest.mark.parametrize("content", [{"plain": "json"}, b"bytes", Point(0, 0)])
def test_declared_pickle_always_pickles(declared: str, content: object, keyring: Keyring) -> None:
    encoded, decoded = round_trip(content, keyring, declared)
    assert (encoded.codec, encoded.media_type) == ("pickle", declared)
    assert type(decoded) is type(content)
    assert decoded == content


def test_declared_json_and_bytes_force_their_codec(keyring: Keyring) -> None:
    assert encode_content("text", "application/json", keyring).codec == "json"
    assert encode_content(bytearray(b"x"), "application/octet-stream", keyring).codec == "bytes"


@pytest.mark.parametrize(
    ("content", "declared"),
    [
        ({1, 2}, "application/json"),
        ((1, 2), "application/json"),
        ({"x": float("inf")}, "application/json"),
        (DataFrame(columns=["a"], data=[[1]]), "application/json"),
        ("not bytes", "application/octet-stream"),
        ([1, 2], "application/octet-stream"),
        ([1, 2], "application/x-npy"),
        ([[1]], DATAFRAME_MEDIA_TYPE),
        ({"columns": ["a"], "data": [[1]], "extra": 1}, "application/vnd.chapkit.dataframe+json"),
        ({"columns": "a", "data": [[1]]}, DATAFRAME_MEDIA_TYPE),
        ({"columns": ["a"], "data": [[{1, 2}]]}, DATAFRAME_MEDIA_TYPE),
        (Point(1, 2), DATAFRAME_MEDIA_TYPE),
    ],
)
def test_declared_type_contradicting_the_content_is_refused(content: object, declared: str, keyring: Keyring) -> None:
    with pytest.raises(ContentTypeMismatchError) as caught:
        encode_content(content, declared, keyring)
    message = str(caught.value)
    assert repr(declared) in message
    assert type(content).__qualname__ in message


def test_declared_npy_refuses_object_arrays(keyring: Keyring) -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(ContentTypeMismatchError, match=r"application/x-npy.*ndarray.*pickle"):
        encode_content(np.array([object()]), "application/x-npy", keyring)
    assert encode_content(np.zeros(2), "application/x-npy", keyring).codec == "numpy"


def test_content_that_cannot_be_pickled_is_refused_clearly(keyring: Keyring) -> None:
    with pytest.raises(InvalidArtifactDataError, match="pickled"):
        encode_content(lambda: None, None, keyring)


# -- integrity and signatures ---------------------------------------------------------------------


@pytest.fixture
def evil_pickle() -> bytes:
    payload = pickle.dumps(Payload(), protocol=5)
    pickle.loads(payload)  # control: the payload really does run code when unpickled
    assert TRIPPED == ["unpickled"]
    TRIPPED.clear()
    return payload


def test_raw_unsigned_pickle_is_refused_without_running_it(evil_pickle: bytes, keyring: Keyring) -> None:
    with pytest.raises(UntrustedContentError, match="unsigned pickle"):
        decode_content("pickle", evil_pickle, with_hash(evil_pickle), keyring)
    assert TRIPPED == []


def test_pickle_signed_with_an_unknown_key_is_refused(evil_pickle: bytes, keyring: Keyring) -> None:
    forger = Keyring.generate()
    blob = b"ALPK\x01" + forger.sign(evil_pickle) + evil_pickle
    with pytest.raises(UntrustedContentError, match="key this ledger does not hold") as caught:
        decode_content("pickle", blob, with_hash(blob), keyring)
    assert forger.signing_key_id.hex() in str(caught.value)
    assert "previous=" in str(caught.value)
    assert TRIPPED == []


def test_key_id_of_a_held_key_with_a_forged_hmac_is_refused(evil_pickle: bytes, keyring: Keyring) -> None:
    forged_mac = hmac.new(b"attacker key of 16+ bytes", evil_pickle, hashlib.sha256).digest()
    blob = b"ALPK\x01" + keyring.signing_key_id + forged_mac + evil_pickle
    with pytest.raises(UntrustedContentError, match="signature does not verify: refusing to unpickle"):
        decode_content("pickle", blob, with_hash(blob), keyring)
    assert TRIPPED == []


def test_tampered_pickle_bytes_are_caught_by_the_hmac(evil_pickle: bytes, keyring: Keyring) -> None:
    encoded = encode_content(Point(1, 2), None, keyring)
    # Swap in the attacker's payload but keep the original signature, and recompute the outer
    # hash so the blob looks intact: only the HMAC can catch it.
    blob = encoded.data[:HEADER] + evil_pickle
    with pytest.raises(UntrustedContentError, match="signature does not verify"):
        decode_content("pickle", blob, with_hash(blob), keyring)
    flipped = bytearray(encoded.data)
    flipped[-2] ^= 0x01
    with pytest.raises(UntrustedContentError, match="signature does not verify"):
        decode_content("pickle", bytes(flipped), with_hash(bytes(flipped)), keyring)
    assert TRIPPED == []


@pytest.mark.parametrize(
    "blob",
    [b"ALPK", b"ALPK\x01" + bytes(39), b"ALPK\x02" + bytes(40) + b"payload", b""],
)
def test_malformed_signed_pickles_are_refused(blob: bytes, keyring: Keyring) -> None:
    with pytest.raises(UntrustedContentError, match="refusing to unpickle"):
        decode_content("pickle", blob, with_hash(blob), keyring)


@pytest.mark.parametrize("content", [{"a": 1}, b"raw", DataFrame(columns=["a"], data=[[1]]), Point(1, 2)])
def test_hash_mismatch_is_refused_before_decoding(content: object, keyring: Keyring) -> None:
    encoded = encode_content(content, None, keyring)
    tampered = encoded.data[:-1] + bytes([encoded.data[-1] ^ 0x01])
    with pytest.raises(UntrustedContentError, match=rf"blob {encoded.hash} is corrupted.*SHA-256"):
        decode_content(encoded.codec, tampered, encoded.hash, keyring)


def test_expected_hash_is_compared_case_insensitively(keyring: Keyring) -> None:
    encoded = encode_content([1], None, keyring)
    assert decode_content("json", encoded.data, encoded.hash.upper(), keyring) == [1]


@pytest.mark.parametrize(
    ("codec", "blob"),
    [
        ("json", b"{not json"),
        ("dataframe", b'{"columns":["a"],"data":[[1,2]]}'),
        ("dataframe", b'{"columns":["a"]}'),
        ("dataframe", b"[1]"),
        ("pandas", b'{"format":1}'),
        ("pandas", b"[]"),
        ("pandas", b"\xff"),
        ("numpy", b"\x93NUMPY garbage"),
        ("numpy", b"PK\x03\x04 an npz is not an npy"),
        ("no-such-codec", b"x"),
    ],
)
def test_garbage_matching_its_hash_raises_only_untrusted_content(codec: str, blob: bytes, keyring: Keyring) -> None:
    if codec in ("pandas", "numpy"):
        pytest.importorskip("pandas" if codec == "pandas" else "numpy")
    with pytest.raises(UntrustedContentError, match=r"corrupted|does not know"):
        decode_content(codec, blob, with_hash(blob), keyring)


def test_pandas_dtype_outside_the_codec_is_refused(keyring: Keyring) -> None:
    pytest.importorskip("pandas")
    blob = (
        b'{"columns":{"dtype":"str","freq":null,"kind":"values","name":null,"values":["c"]},'
        b'"data":[["a"]],"dtypes":["category"],"format":1,'
        b'"index":{"kind":"range","name":null,"start":0,"step":1,"stop":1}}'
    )
    with pytest.raises(UntrustedContentError, match="category"):
        decode_content("pandas", blob, with_hash(blob), keyring)


# -- keys -----------------------------------------------------------------------------------------


def test_rotation_old_blobs_verify_new_blobs_use_the_new_key() -> None:
    old = Keyring.from_secret("old secret")
    blob = encode_content(Point(5, 6), None, old)
    rotated = Keyring.from_secret("new secret", previous=["old secret"])
    assert decode_content("pickle", blob.data, blob.hash, rotated) == Point(5, 6)
    fresh = encode_content(Point(7, 8), None, rotated)
    assert fresh.data[5:13] == Keyring.key_id(hashlib.sha256(b"new secret").digest())
    with pytest.raises(UntrustedContentError, match="does not hold"):
        decode_content("pickle", fresh.data, fresh.hash, old)
    with pytest.raises(UntrustedContentError, match="does not hold"):
        decode_content("pickle", blob.data, blob.hash, Keyring.from_secret("new secret"))


def test_keyring_keys_and_ids() -> None:
    key = bytes(range(32))
    ring = Keyring(key, verify_keys=[b"v" * 16])
    assert Keyring.key_id(key) == hashlib.sha256(key).digest()[:8]
    assert ring.signing_key_id == Keyring.key_id(key)
    assert ring.key_ids == (Keyring.key_id(key), Keyring.key_id(b"v" * 16))
    assert Keyring.from_secret(key).signing_key_id == ring.signing_key_id
    assert Keyring.from_secret("s").signing_key_id == Keyring.key_id(hashlib.sha256(b"s").digest())
    assert key.hex() not in repr(ring)
    assert Keyring.generate().signing_key_id != Keyring.generate().signing_key_id


@pytest.mark.parametrize(
    "build",
    [
        lambda: Keyring(b"short"),
        lambda: Keyring(b"k" * 16, verify_keys=[b"short"]),
        lambda: Keyring.from_secret(b"short bytes"),
        lambda: Keyring.from_secret("fine", previous=[b"short"]),
    ],
)
def test_keys_shorter_than_16_bytes_are_refused(build: Any) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        build()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_key_file_is_created_0600_and_reloads_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    first = Keyring.from_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    again = Keyring.from_key_file(path)
    assert again.signing_key_id == first.signing_key_id
    blob = encode_content(Point(1, 1), None, first)
    assert decode_content("pickle", blob.data, blob.hash, again) == Point(1, 1)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_key_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "ledger.key"
    Keyring.from_key_file(path)
    path.chmod(mode)
    with pytest.raises(ValueError, match=r"chmod 600"):
        Keyring.from_key_file(path)


def test_key_file_later_lines_only_verify(tmp_path: Path) -> None:
    old, new = b"o" * 32, b"n" * 32
    path = tmp_path / "ledger.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# signing key first\n{new.hex()}\n\n{old.hex()}\n")
    ring = Keyring.from_key_file(path, create=False)
    assert ring.signing_key_id == Keyring.key_id(new)
    blob = encode_content(Point(2, 2), None, Keyring(old))
    assert decode_content("pickle", blob.data, blob.hash, ring) == Point(2, 2)


def test_key_file_missing_without_create_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Keyring.from_key_file(tmp_path / "absent.key", create=False)
    for name, text in [("bad.key", "not hex\n"), ("empty.key", "\n# nothing\n")]:
        path = tmp_path / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        with pytest.raises(ValueError, match=name):
            Keyring.from_key_file(path, create=False)


# -- optional dependencies ------------------------------------------------------------------------


def test_decoding_numpy_without_numpy_names_the_extra(monkeypatch: pytest.MonkeyPatch, keyring: Keyring) -> None:
    np = pytest.importorskip("numpy")
    encoded = encode_content(np.arange(3), None, keyring)
    monkeypatch.setitem(sys.modules, "numpy", None)  # makes `import numpy` raise ImportError
    with pytest.raises(MissingExtraError, match=r"artifact-ledger\[examples\]"):
        decode_content(encoded.codec, encoded.data, encoded.hash, keyring)


def test_module_imports_and_works_without_numpy_or_pandas() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["numpy"] = None
        sys.modules["pandas"] = None
        from artifact_ledger.content import Keyring, decode_content, encode_content
        from artifact_ledger.dataframe import DataFrame
        ring = Keyring.generate()
        for value in ({"a": [1]}, b"x", DataFrame(columns=["a"], data=[[1]]), {1, 2}):
            e = encode_content(value, None, ring)
            assert decode_content(e.codec, e.data, e.hash, ring) == value, value
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
