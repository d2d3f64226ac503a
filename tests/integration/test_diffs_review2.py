"""Diffs and merge patches, from a second adversarial review (SQLite file and memory, PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, ArtifactManager, RedactedError


async def event_count(manager: ArtifactManager) -> int:
    return int((await manager.repo.session.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def test_a_patch_of_content_type_over_redacted_content_is_refused_by_name(manager: ArtifactManager) -> None:
    """The declared type stores the content again; erased content cannot be: that read the erased
    reference's empty hash as a blob (MissingBlobError, 'blob  is missing', a 500 over HTTP)."""
    a = await manager.save(ArtifactIn(data={"content": b"abc", "content_type": "text/plain", "n": 1}))
    await manager.redact(a.id, reason="erasure request")
    count = await event_count(manager)
    with pytest.raises(RedactedError, match=rf"artifact {a.id} version 1 was redacted.*'text/csv'") as caught:
        await manager.patch(a.id, {"content_type": "text/csv"})
    assert (caught.value.artifact_id, caught.value.version) == (str(a.id), 1)
    assert await event_count(manager) == count  # nothing written
    replaced = await manager.patch(a.id, {"content_type": "text/csv", "content": b"x,y\n"})  # new content: fine
    assert (replaced.version, replaced.data["content"]) == (2, b"x,y\n")  # type: ignore[index]


def _shows_a_change(diff: object) -> bool:
    from artifact_ledger.schemas.content_diffs import DataFrameContentDiff

    assert isinstance(diff, DataFrameContentDiff)
    counts = (diff.rows_added, diff.rows_removed, diff.rows_changed)
    lists = (diff.columns_added, diff.columns_removed, diff.columns_changed, diff.dtype_changes)
    return any(counts) or any(lists) or bool(diff.note)


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ({1: [1, 2]}, {"1": [1, 2]}, "column label 1 -> '1'"),
        ({None: [1]}, {"None": [1]}, "column label None -> 'None'"),
        ({"a": [1], "b": [2]}, {"b": [2], "a": [1]}, "column order changed"),
        ("named index", "unnamed index", "index name 'k' -> None"),
        ("range index", "labelled index", "index labels changed (rows matched by position"),
        ("ledger frame", "pandas frame", "format changed (DataFrame -> pandas.DataFrame)"),
        ("range index", "index of the same labels", "differ in how they are stored"),
    ],
)
async def test_a_frame_diff_never_looks_unchanged_when_the_frame_changed(
    manager: ArtifactManager, old: object, new: object, said: str
) -> None:
    """Column labels are compared as text, so 1 -> '1' (or None -> 'None'), a new column order, an
    index renamed or relabelled, or a frame saved as the other frame type gave a content diff with
    nothing in it (no rows, no columns, no note) while the content's hash changed."""
    pd = pytest.importorskip("pandas")
    from artifact_ledger import DataFrame

    frames = {
        "named index": pd.DataFrame({"a": [1]}).rename_axis("k"),
        "unnamed index": pd.DataFrame({"a": [1]}),
        "range index": pd.DataFrame({"a": [1, 2]}),
        "labelled index": pd.DataFrame({"a": [1, 2]}, index=[10, 20]),
        "index of the same labels": pd.DataFrame({"a": [1, 2]}, index=pd.Index([0, 1])),
        "ledger frame": DataFrame(columns=["a"], data=[[1]]),
        "pandas frame": pd.DataFrame({"a": [1]}),
    }
    a = await manager.save(ArtifactIn(data={"content": frames.get(old) if isinstance(old, str) else pd.DataFrame(old)}))
    b = await manager.save(
        ArtifactIn(id=a.id, data={"content": frames.get(new) if isinstance(new, str) else pd.DataFrame(new)})
    )
    assert b.version == 2
    diff = (await manager.diff(a.id, 1, 2)).content_diff
    assert diff is not None
    assert _shows_a_change(diff), diff
    assert said in (diff.note or ""), diff.note


def test_the_cli_diff_prints_control_characters_of_keys_and_column_labels_escaped(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON content key or a DataFrame column label holding ESC went to the terminal raw (in the
    patch's paths and the sample's changed cells): escaped like text content's control characters."""
    from artifact_ledger import Ledger
    from artifact_ledger.cli import main
    from artifact_ledger.dataframe import DataFrame

    hostile = "k\x1b[2J\x9b31m"

    async def seed() -> list[str]:
        ids = []
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            pairs = [
                ({hostile: 1}, {hostile: 2}),
                (DataFrame(columns=[hostile], data=[[1]]), DataFrame(columns=[hostile], data=[[2]])),
            ]
            for old, new in pairs:
                art = await m.save(ArtifactIn(data={"content": old}))
                await m.save(ArtifactIn(id=art.id, data={"content": new}))
                ids.append(str(art.id))
        return ids

    for artifact_id in asyncio.run(seed()):
        assert main(["--db", url, "diff", artifact_id, "1", "2"]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out
        assert "\x9b" not in out
        assert "k\\x1b[2J\\x9b31m" in out, out
