"""The codec registry on every backend: registered codecs, the Arrow DataFrame codec, and their errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    CodecRoundTripError,
    ContentTypeMismatchError,
    InvalidArgumentError,
    UnknownCodecError,
    UntrustedContentError,
    codecs,
)


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def encode_point(p: Point) -> bytes:
    return f"{p.x},{p.y}".encode()


def decode_point(data: bytes) -> Point:
    x, y = data.split(b",")
    return Point(int(x), int(y))


def is_point(value: object) -> bool:
    return type(value) is Point


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    yield
    for codec in codecs.registered():
        codecs.unregister(codec.name)


async def stored(session: AsyncSession, artifact_id: object) -> tuple[str, str]:
    row = (
        await session.execute(
            text("SELECT content_codec, content_type FROM ledger_artifacts WHERE id = :id"), {"id": str(artifact_id)}
        )
    ).one()
    return str(row[0]), str(row[1])


async def event_count(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


# ---- registered codecs --------------------------------------------------------------------------------


async def test_a_registered_codec_stores_and_reads_back_its_type(
    manager: ArtifactManager, session: AsyncSession
) -> None:
    codecs.register("point", encode_point, decode_point, is_point, sample=Point(1, 2))
    out = await manager.save(ArtifactIn(data={"name": "p", "content": Point(3, -4)}))
    assert out.data["content"] == Point(3, -4)
    assert await stored(session, out.id) == ("point", "application/vnd.artifact-ledger.codec.point")
    blob = (await session.execute(text("SELECT data FROM ledger_blobs"))).scalar_one()
    assert bytes(blob) == b"3,-4"  # no pickle: the codec's own bytes
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert found.data == {"name": "p", "content": Point(3, -4)}


async def test_registered_codecs_are_asked_in_order_before_the_built_ins(
    manager: ArtifactManager, session: AsyncSession
) -> None:
    codecs.register("first", lambda v: b"1" + encode_point(v), lambda b: decode_point(b[1:]), is_point)
    codecs.register("second", encode_point, decode_point, is_point)
    codecs.register("upper", lambda s: s.upper().encode(), lambda b: b.decode().lower(), lambda v: v == "abc")
    out = await manager.save(ArtifactIn(data={"content": Point(1, 1)}))
    assert await stored(session, out.id) == ("first", "application/vnd.artifact-ledger.codec.first")
    text_out = await manager.save(ArtifactIn(data={"content": "abc"}))  # JSON would take it, but "upper" is first
    assert (await stored(session, text_out.id))[0] == "upper"
    assert text_out.data["content"] == "abc"
    assert [c.name for c in codecs.registered()] == ["first", "second", "upper"]
    assert codecs.names()[-3:] == ["first", "second", "upper"]
    assert codecs.names()[-4] == "pickle"


async def test_declaring_a_codecs_media_type_forces_it(manager: ArtifactManager, session: AsyncSession) -> None:
    codecs.register("point", encode_point, decode_point, is_point, media_type="application/vnd.example.point")
    codecs.register("point2", lambda p: encode_point(p)[::-1], lambda b: decode_point(b[::-1]), is_point)
    out = await manager.save(
        ArtifactIn(data={"content": Point(5, 6), "content_type": "application/vnd.example.point; v=1"})
    )
    assert await stored(session, out.id) == ("point", "application/vnd.example.point; v=1")
    assert (await manager.find_by_id(out.id)).data["content"] == Point(5, 6)  # type: ignore[union-attr]
    with pytest.raises(ContentTypeMismatchError, match=r"codec 'point' does not take it"):
        await manager.save(ArtifactIn(data={"content": "text", "content_type": "application/vnd.example.point"}))


async def test_a_codec_that_loses_information_writes_nothing(manager: ArtifactManager, session: AsyncSession) -> None:
    codecs.register("lossy", lambda p: str(p.x).encode(), lambda b: Point(int(b), 0), is_point)
    before = await event_count(session)
    with pytest.raises(CodecRoundTripError, match=r"codec 'lossy' does not round-trip a .*Point"):
        await manager.save(ArtifactIn(data={"content": Point(1, 2)}))
    assert await event_count(session) == before
    assert (await session.execute(text("SELECT count(*) FROM ledger_blobs"))).scalar_one() == 0
    # the same codec round-trips a point on the x axis: that save goes through
    out = await manager.save(ArtifactIn(data={"content": Point(7, 0)}))
    assert out.data["content"] == Point(7, 0)


async def test_a_codec_whose_encode_raises_or_returns_text_writes_nothing(
    manager: ArtifactManager, session: AsyncSession
) -> None:
    codecs.register("broken", lambda p: 1 / 0, decode_point, is_point)
    with pytest.raises(CodecRoundTripError, match=r"codec 'broken' could not encode .*ZeroDivisionError"):
        await manager.save(ArtifactIn(data={"content": Point(1, 2)}))
    codecs.unregister("broken")
    codecs.register("texty", lambda p: "1,2", decode_point, is_point)
    with pytest.raises(CodecRoundTripError, match=r"codec 'texty' encoded .* as a builtins.str, not bytes"):
        await manager.save(ArtifactIn(data={"content": Point(1, 2)}))
    assert await event_count(session) == 0


async def test_content_of_a_codec_not_registered_here_is_not_decoded(manager: ArtifactManager) -> None:
    codecs.register("point", encode_point, decode_point, is_point)
    out = await manager.save(ArtifactIn(data={"content": Point(1, 2)}))
    codecs.unregister("point")
    with pytest.raises(UnknownCodecError, match=r"has codec 'point'.*artifact_ledger.codecs.register") as caught:
        await manager.find_by_id(out.id)
    assert isinstance(caught.value, UntrustedContentError)  # older callers catching that still do
    listed = await manager.find_by_id(out.id, include_content=False)  # data without content still reads
    assert listed is not None
    assert listed.data == {}
    codecs.register("point", encode_point, decode_point, is_point)  # registering it again reads it again
    assert (await manager.find_by_id(out.id)).data["content"] == Point(1, 2)  # type: ignore[union-attr]


async def test_a_registered_codec_whose_decode_fails_is_named_not_the_blob(manager: ArtifactManager) -> None:
    codecs.register("point", encode_point, decode_point, is_point)
    out = await manager.save(ArtifactIn(data={"content": Point(1, 2)}))
    codecs.unregister("point")
    codecs.register("point", encode_point, lambda b: Point(*b.split(b";")), is_point)  # its decode changed
    with pytest.raises(UntrustedContentError) as caught:
        await manager.find_by_id(out.id)
    message = str(caught.value)
    assert "match their SHA-256" in message  # the stored bytes are the ones saved: not "corrupted"
    assert "the codec 'point' registered in this process could not decode them" in message
    assert "corrupted" not in message


async def test_declaring_an_unregistered_codec_writes_nothing(manager: ArtifactManager, session: AsyncSession) -> None:
    with pytest.raises(UnknownCodecError, match=r"names codec 'nope', which is not registered"):
        await manager.save(
            ArtifactIn(data={"content": b"x", "content_type": "application/vnd.artifact-ledger.codec.nope"})
        )
    assert await event_count(session) == 0


# ---- registration ------------------------------------------------------------------------------------


def test_register_checks_the_sample_round_trip_and_keeps_nothing_on_failure() -> None:
    with pytest.raises(CodecRoundTripError, match=r"codec 'lossy' does not round-trip"):
        codecs.register("lossy", lambda p: b"0", lambda b: Point(0, 0), is_point, sample=Point(1, 2))
    assert codecs.registered() == []
    with pytest.raises(CodecRoundTripError, match=r"decoding what it encoded raised ValueError"):
        codecs.register("bad", encode_point, lambda b: Point(int(b), 0), is_point, sample=Point(1, 2))
    assert codecs.registered() == []


def test_numpy_style_equality_needs_an_equal_function() -> None:
    np = pytest.importorskip("numpy")
    encode, decode = (lambda a: a.tobytes()), (lambda b: np.frombuffer(b, dtype="int64"))
    is_int_array = lambda v: type(v) is np.ndarray  # noqa: E731
    with pytest.raises(CodecRoundTripError, match=r"comparing a decoded numpy.ndarray .*give register\(\) an equal="):
        codecs.register("ints", encode, decode, is_int_array, sample=np.arange(3))
    with pytest.raises(CodecRoundTripError, match=r"equal returned array"):
        codecs.register("ints", encode, decode, is_int_array, sample=np.arange(3), equal=lambda a, b: a == b)
    codec = codecs.register("ints", encode, decode, is_int_array, sample=np.arange(3), equal=np.array_equal)
    assert codecs.get("ints") is codec


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("", {}, r"a codec name is 1-32 characters"),
        ("Upper", {}, r"a codec name is 1-32 characters"),
        ("x" * 33, {}, r"a codec name is 1-32 characters"),
        (3, {}, r"a codec name is 1-32 characters"),
        ("pickle", {}, r"codec 'pickle' is built in"),
        ("arrow", {}, r"codec 'arrow' is built in"),
        ("redacted", {}, r"codec name 'redacted' is reserved \(it marks content a redaction erased\)"),
        ("ok", {"media_type": "application/json"}, r"media type 'application/json' already names another codec"),
        ("ok", {"media_type": "not a type"}, r"media_type must be a lowercase type/subtype"),
        ("ok", {"media_type": "Application/X"}, r"media_type must be a lowercase type/subtype"),
    ],
)
def test_register_refuses_bad_names_and_media_types(name: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        codecs.register(name, encode_point, decode_point, is_point, **kwargs)
    assert codecs.registered() == []


def test_register_refuses_a_taken_name_or_media_type_and_non_callables() -> None:
    codecs.register("point", encode_point, decode_point, is_point)
    with pytest.raises(InvalidArgumentError, match=r"a codec 'point' is already registered; unregister"):
        codecs.register("point", encode_point, decode_point, is_point)
    with pytest.raises(InvalidArgumentError, match=r"media type .*codec.point' already names another codec"):
        codecs.register(
            "other", encode_point, decode_point, is_point, media_type="application/vnd.artifact-ledger.codec.point"
        )
    with pytest.raises(InvalidArgumentError, match=r"codec 'other': decode must be callable, not builtins.str"):
        codecs.register("other", encode_point, "decode", is_point)  # type: ignore[arg-type]
    with pytest.raises(
        UnknownCodecError, match=r"no codec 'other' is registered in this process \(registered: point\)"
    ):
        codecs.unregister("other")
    assert [c.name for c in codecs.registered()] == ["point"]


async def test_a_codec_cannot_take_the_name_redactions_leave(manager: ArtifactManager, session: AsyncSession) -> None:
    # content stored under codec "redacted" read back as erased: the save succeeded and the content was gone
    with pytest.raises(InvalidArgumentError, match=r"codec name 'redacted' is reserved"):
        codecs.register("redacted", encode_point, decode_point, is_point, sample=Point(1, 2))
    assert codecs.registered() == []
    out = await manager.save(ArtifactIn(data={"content": Point(1, 2)}))  # no codec takes it: signed pickle
    assert (await stored(session, out.id))[0] == "pickle"
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert found.data["content"] == Point(1, 2)


async def test_a_matches_that_raises_is_named(manager: ArtifactManager, session: AsyncSession) -> None:
    def picky(value: object) -> bool:
        raise RuntimeError("boom")

    codecs.register("picky", encode_point, decode_point, picky)
    with pytest.raises(CodecRoundTripError, match=r"codec 'picky': matches\(\) raised RuntimeError .*boom"):
        await manager.save(ArtifactIn(data={"content": Point(1, 2)}))
    assert await event_count(session) == 0


# ---- Arrow --------------------------------------------------------------------------------------------


def _frames(pd: Any) -> dict[str, Any]:
    return {
        "categorical": pd.DataFrame({"c": pd.Categorical(["a", "b", "a"], categories=["b", "a"], ordered=True)}),
        "infinity": pd.DataFrame({"f": [1.0, float("inf"), float("-inf")]}),
        "multiindex": pd.DataFrame(
            {"v": pd.array([1, None], dtype="Int64")},
            index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"]),
        ),
        "period": pd.DataFrame({"p": pd.period_range("2024-01", periods=2, freq="M")}),
    }


@pytest.mark.parametrize("kind", ["categorical", "infinity", "multiindex", "period"])
async def test_frames_json_cannot_carry_go_to_arrow_not_pickle(
    manager: ArtifactManager, session: AsyncSession, kind: str
) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = _frames(pd)[kind]
    out = await manager.save(ArtifactIn(data={"name": kind, "content": frame}))
    assert await stored(session, out.id) == ("arrow", "application/vnd.apache.arrow.stream")
    found = await manager.find_by_id(out.id)
    assert found is not None
    pd.testing.assert_frame_equal(found.data["content"], frame, check_exact=True)
    assert found.data["content"].dtypes.tolist() == frame.dtypes.tolist()


async def test_declared_arrow_keeps_dtypes_index_and_nulls(manager: ArtifactManager, session: AsyncSession) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": pd.array(["x", None, "z"], dtype="string"),
            "t": pd.to_datetime(["2024-01-01", None, "2024-03-01"]).tz_localize("UTC"),
            "f": [0.5, float("nan"), 2.0],
        },
        index=pd.Index([10, 20, 30], name="row"),
    )
    data = {"content": frame, "content_type": "application/vnd.apache.arrow.stream"}
    out = await manager.save(ArtifactIn(data=data))
    assert await stored(session, out.id) == ("arrow", "application/vnd.apache.arrow.stream")
    found = await manager.find_by_id(out.id)
    assert found is not None
    back = found.data["content"]
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert back.index.name == "row"
    assert back["i"].isna().tolist() == [False, True, False]
    # saving the same frame again appends nothing: its Arrow bytes are the same
    again = await manager.save(ArtifactIn(id=out.id, data=data))
    assert again.version == out.version


async def test_declared_arrow_refuses_what_arrow_would_change(manager: ArtifactManager, session: AsyncSession) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    with_attrs = pd.DataFrame({"v": [1]})
    with_attrs.attrs["source"] = "sensor"
    with pytest.raises(ContentTypeMismatchError, match=r"Arrow would not give the frame back exactly"):
        await manager.save(
            ArtifactIn(data={"content": with_attrs, "content_type": "application/vnd.apache.arrow.stream"})
        )
    with pytest.raises(ContentTypeMismatchError, match=r"it is not a pandas.DataFrame"):
        await manager.save(ArtifactIn(data={"content": [1], "content_type": "application/vnd.apache.arrow.stream"}))
    assert await event_count(session) == 0


async def test_a_frame_holding_an_integer_beyond_64_bits_is_pickled_or_refused_by_name(
    manager: ArtifactManager, session: AsyncSession
) -> None:
    # pyarrow raised OverflowError out of save (not a LedgerError) for such an object column
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"n": [2**70, 1]}, dtype=object)
    out = await manager.save(ArtifactIn(data={"content": frame}))
    assert (await stored(session, out.id))[0] == "pickle"  # neither JSON nor Arrow carries it exactly
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert found.data["content"]["n"].tolist() == [2**70, 1]
    with pytest.raises(ContentTypeMismatchError, match=r"Arrow would not give the frame back exactly"):
        await manager.save(ArtifactIn(data={"content": frame, "content_type": "application/vnd.apache.arrow.stream"}))
    assert await event_count(session) == 1


async def test_a_large_frame_is_checked_as_a_small_one(manager: ArtifactManager, session: AsyncSession) -> None:
    # From 4 MiB of table on, the round-trip check decodes on a thread beside the stream's writing:
    # it still keeps what Arrow gives back exactly and refuses what it would change.
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    pa = pytest.importorskip("pyarrow")
    from artifact_ledger.content import arrow

    rows = 600_000
    kept = pd.DataFrame({"c": pd.Categorical(np.arange(rows) % 7), "x": np.arange(rows, dtype=float)})
    changed = pd.DataFrame({"n": pd.Series(range(rows), dtype=object), "x": np.arange(rows, dtype=float)})
    for frame in (kept, changed):
        assert pa.Table.from_pandas(frame).nbytes >= arrow._BESIDE_BYTES
    out = await manager.save(ArtifactIn(data={"content": kept, "content_type": "application/vnd.apache.arrow.stream"}))
    found = await manager.find_by_id(out.id)
    assert found is not None
    pd.testing.assert_frame_equal(found.data["content"], kept, check_exact=True)
    # Arrow reads an object column of ints back as int64: not the frame that was saved
    with pytest.raises(ContentTypeMismatchError, match=r"Arrow would not give the frame back exactly"):
        await manager.save(ArtifactIn(data={"content": changed, "content_type": "application/vnd.apache.arrow.stream"}))
    assert await event_count(session) == 1


async def test_frames_json_can_carry_keep_the_json_format(manager: ArtifactManager, session: AsyncSession) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "s": ["x", None]})
    out = await manager.save(ArtifactIn(data={"content": frame}))
    assert (await stored(session, out.id))[0] == "pandas"  # ledgers written before Arrow keep their hashes


async def test_arrow_garbage_under_its_own_hash_is_refused_not_decoded() -> None:
    pytest.importorskip("pyarrow")
    from artifact_ledger import codec
    from artifact_ledger.content import Keyring, decode_content

    junk = b"not an arrow stream"
    with pytest.raises(UntrustedContentError, match=r"is not valid arrow content"):
        decode_content("arrow", junk, codec.sha256(junk).hex(), Keyring.generate())
