"""NumPy values inside ``data``: converted exactly (the same on every backend), or refused naming the path."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, DataNotSerializableError, InvalidArtifactDataError, Ledger
from ledger_support import SECRET

VALUES = {
    "i64": np.int64(-(2**63)),
    "u64": np.uint64(2**64 - 1),
    "i8": np.int8(-5),
    "f32": np.float32(0.1),
    "f16": np.float16(1.5),
    "f64": np.float64(2.5),
    "flag": np.bool_(True),
    "label": np.str_("cat"),
    "matrix": np.arange(6, dtype=np.float32).reshape(2, 3) / np.float32(3),
    "ids": np.array([1, 2, 3], dtype=np.uint16),
    "masks": [np.array([True, False])],
    "names": np.array(["a", "bc"]),
}
PLAIN = {
    "i64": -(2**63),
    "u64": 2**64 - 1,
    "i8": -5,
    "f32": 0.10000000149011612,  # float(np.float32(0.1)): the float32 exactly, not 0.1
    "f16": 1.5,
    "f64": 2.5,
    "flag": True,
    "label": "cat",
    "matrix": [[float(np.float32(i) / np.float32(3)) for i in range(r, r + 3)] for r in (0, 3)],
    "ids": [1, 2, 3],
    "masks": [[True, False]],
    "names": ["a", "bc"],
}


async def test_numpy_values_are_stored_as_the_plain_values_they_equal(
    manager: ArtifactManager, engine: AsyncEngine
) -> None:
    out = await manager.save(ArtifactIn(data={"metadata": VALUES}))
    assert out.data == {"metadata": PLAIN}
    for key, value in PLAIN.items():
        assert type(out.data["metadata"][key]) is type(value), key
    got = await manager.find_by_id(out.id)
    assert got is not None
    assert got.data == {"metadata": PLAIN}
    assert [a.id for a in (await manager.find(where={"data.metadata.f32": float(np.float32(0.1))})).items] == [out.id]
    assert [a.id for a in (await manager.find(where={"data.metadata.flag": True})).items] == [out.id]
    patched = await manager.patch(out.id, data={"metadata": {"f64": np.float64(4.0), "ids": np.array([7])}})
    assert patched.data["metadata"]["f64"] == 4.0
    assert patched.data["metadata"]["ids"] == [7]
    assert (await Ledger(engine, keyring=SECRET).verify()).ok


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (np.complex64(1 + 2j), "complex"),
        (np.array([1j]), "complex"),
        (np.datetime64("2026-03-01T12:00"), "ISO strings"),
        (np.timedelta64(3, "s"), "durations"),
        (np.array([{"a": 1}], dtype=object), "dtype object"),
        (np.array([1.0, np.nan]), "NaN or infinities"),
        (np.float64("inf"), "numpy.float64"),
        (np.longdouble(1) / np.longdouble(3), "that no float64 holds exactly"),
        (np.array([b"x"]), "dtype |S1"),
    ],
)
async def test_numpy_values_without_an_exact_json_form_are_refused(
    manager: ArtifactManager, value: object, fragment: str
) -> None:
    with pytest.raises(DataNotSerializableError, match=r"data\['m'\]\[1\]\['v'\]") as caught:
        await manager.save(ArtifactIn(data={"m": [0, {"v": value}]}))
    assert fragment in str(caught.value)
    with pytest.raises(InvalidArtifactDataError):
        await manager.save(ArtifactIn(data={"v": value}))
    assert await manager.count() == 0


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**30])
async def test_integers_beyond_64_bits_are_refused_never_rounded(manager: ArtifactManager, value: int) -> None:
    with pytest.raises(DataNotSerializableError, match="beyond 64 bits"):
        await manager.save(ArtifactIn(data={"n": [value]}))
    assert await manager.count() == 0
