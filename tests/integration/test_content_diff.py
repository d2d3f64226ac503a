"""diff shows content values: a JSON patch, a unified text diff with word spans, DataFrame rows and
columns, bytes hash and size; bounded for huge content; empty, identical, added and removed content."""

from __future__ import annotations

import time

import orjson
import pytest

from artifact_ledger import ArtifactIn, ArtifactManager
from artifact_ledger.content import frames as frames_content
from artifact_ledger.dataframe import DataFrame
from artifact_ledger.diffs import content, frames, text
from artifact_ledger.schemas.content_diffs import (
    BytesContentDiff,
    DataFrameContentDiff,
    JsonContentDiff,
    PatchOperation,
    TextContentDiff,
)


async def versions(manager: ArtifactManager, *datas: dict[str, object]) -> str:
    first = await manager.save(ArtifactIn(data=datas[0]))
    for data in datas[1:]:
        await manager.save(ArtifactIn(id=first.id, data=data))
    return str(first.id)


async def test_json_content_is_an_rfc6902_patch(manager: ArtifactManager) -> None:
    aid = await versions(
        manager, {"content": {"f1": 0.71, "gone": 1, "k": [1, 2]}}, {"content": {"f1": 0.74, "new": True, "k": [1, 2]}}
    )
    diff = await manager.diff(aid, 1, 2)
    assert isinstance(diff.content_diff, JsonContentDiff)
    assert diff.content_diff.ops == [
        PatchOperation(op="remove", path="/gone", old=1),
        PatchOperation(op="replace", path="/f1", old=0.71, value=0.74),
        PatchOperation(op="add", path="/new", value=True),
    ]
    whole = await versions(manager, {"content": [1]}, {"content": {"a": 1}})
    root = (await manager.diff(whole, 1, 2)).content_diff
    assert isinstance(root, JsonContentDiff)
    assert root.ops == [PatchOperation(op="replace", path="", old=[1], value={"a": 1})]  # the root is "", not "/"
    assert (await manager.diff(whole, 1, 2)).model_dump(mode="json")["content_diff"]["kind"] == "json"


async def test_a_sign_of_zero_change_is_an_operation(manager: ArtifactManager) -> None:
    # 0.0 == -0.0, so the patch was empty while the stored content (and its hash) changed
    aid = await versions(manager, {"content": {"x": 0.0}}, {"content": {"x": -0.0}})
    diff = await manager.diff(aid, 1, 2)
    assert isinstance(diff.content_diff, JsonContentDiff)
    assert diff.content_diff.ops == [PatchOperation(op="replace", path="/x", old=0.0, value=-0.0)]
    assert str(diff.content_diff.ops[0].value) == "-0.0"


async def test_text_content_is_a_unified_diff_with_word_spans(manager: ArtifactManager) -> None:
    old = "title\nthe quick brown fox\nunchanged\nlast line\n"
    new = "title\nthe quick red fox\nunchanged\nlast line\nappended\n"
    aid = await versions(manager, {"content": old}, {"content": new})
    result = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(result, TextContentDiff)
    assert (result.lines_added, result.lines_removed, result.old_lines, result.new_lines) == (2, 1, 4, 5)
    lines = result.hunks[0].lines
    removed = next(line for line in lines if line.op == "remove")
    added = next(line for line in lines if line.op == "add")
    assert (removed.old_number, added.new_number) == (2, 2)
    assert [(s.text, s.changed) for s in removed.spans] == [("the quick ", False), ("brown", True), (" fox", False)]
    assert [(s.text, s.changed) for s in added.spans] == [("the quick ", False), ("red", True), (" fox", False)]
    assert "-the quick brown fox\n+the quick red fox" in result.unified()
    assert "+appended" in result.unified()
    assert not result.truncated


async def test_text_type_bytes_diff_as_text_and_plain_bytes_as_hash_and_size(manager: ArtifactManager) -> None:
    aid = await versions(
        manager,
        {"content": b"a\nb\n", "content_type": "text/markdown"},
        {"content": b"a\nc\n", "content_type": "text/markdown"},
    )
    result = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(result, TextContentDiff)
    assert (result.lines_added, result.lines_removed) == (1, 1)
    raw = await versions(manager, {"content": b"abc"}, {"content": b"abcdef"})
    summary = (await manager.diff(raw, 1, 2)).content_diff
    assert isinstance(summary, BytesContentDiff)
    assert (summary.old_size, summary.new_size, summary.size_delta) == (3, 6, 3)
    assert summary.old_sha256 != summary.new_sha256
    assert summary.note is None


async def test_pickled_content_is_hash_and_size_without_unpickling(manager: ArtifactManager) -> None:
    aid = await versions(manager, {"content": {1, 2}}, {"content": {1, 2, 3}})
    result = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(result, BytesContentDiff)
    assert result.note is not None
    assert "pickle" in result.note


async def test_dataframe_rows_and_columns(manager: ArtifactManager) -> None:
    old = DataFrame(columns=["id", "score", "dropped"], data=[[1, 0.5, "x"], [2, 0.6, "y"], [3, 0.7, "z"]])
    new = DataFrame(columns=["id", "score", "added"], data=[[0, 0.1, True], [1, 0.5, True], [2, 0.9, True]])
    aid = await versions(manager, {"content": old}, {"content": new})
    result = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(result, DataFrameContentDiff)
    assert (result.old_shape, result.new_shape) == ((3, 3), (3, 3))
    assert (result.columns_added, result.columns_removed, result.columns_changed) == (["added"], ["dropped"], ["score"])
    assert (result.rows_added, result.rows_removed, result.rows_changed) == (1, 1, 1)
    assert result.added_sample[0].values == {"id": 0, "score": 0.1, "added": True}
    assert result.removed_sample[0].values == {"id": 3, "score": 0.7, "dropped": "z"}
    change = result.changed_sample[0]
    assert (change.old_row, change.new_row) == (1, 2)
    assert [(c.column, c.old, c.new) for c in change.cells] == [("score", 0.6, 0.9)]


async def test_repeated_column_labels_never_hide_a_change(manager: ArtifactManager) -> None:
    # the second "a" was named "a#2" like the real "a#2" column: a change in that column diffed as none
    old = DataFrame(columns=["a", "a", "a#2"], data=[[1, 2, 3]])
    new = DataFrame(columns=["a", "a", "a#2"], data=[[1, 2, 4]])
    aid = await versions(manager, {"content": old}, {"content": new})
    result = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(result, DataFrameContentDiff)
    assert (result.rows_changed, result.columns_changed) == (1, ["a#2"])
    assert [(c.column, c.old, c.new) for c in result.changed_sample[0].cells] == [("a#2", 3, 4)]
    moved = await versions(
        manager, {"content": old}, {"content": DataFrame(columns=["a", "a", "a#2"], data=[[1, 5, 3]])}
    )
    result = (await manager.diff(moved, 1, 2)).content_diff
    assert isinstance(result, DataFrameContentDiff)
    assert [(c.column, c.old, c.new) for c in result.changed_sample[0].cells] == [("a#3", 2, 5)]  # the second "a"
    assert frames.read_frame(old.model_dump()).columns == ["a", "a#3", "a#2"]


async def test_content_added_removed_identical_and_empty(manager: ArtifactManager) -> None:
    aid = await versions(manager, {"n": 1}, {"n": 1, "content": {"a": 1}}, {"n": 2, "content": {"a": 1}}, {"n": 2})
    added = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(added, JsonContentDiff)
    assert added.ops == [PatchOperation(op="add", path="", value={"a": 1})]
    assert (await manager.diff(aid, 2, 3)).content_diff is None  # identical content
    removed = (await manager.diff(aid, 3, 4)).content_diff
    assert isinstance(removed, JsonContentDiff)
    assert removed.ops == [PatchOperation(op="remove", path="", old={"a": 1})]
    doc = await versions(manager, {"content": ""}, {"content": "one\ntwo"}, {"title": "x"})
    grown = (await manager.diff(doc, 1, 2)).content_diff
    assert isinstance(grown, TextContentDiff)
    assert (grown.lines_added, grown.lines_removed) == (2, 0)
    assert grown.hunks[0].header == "@@ -0,0 +1,2 @@"
    gone = (await manager.diff(doc, 2, 3)).content_diff
    assert isinstance(gone, TextContentDiff)
    assert (gone.lines_added, gone.lines_removed) == (0, 2)
    frame = await versions(manager, {"x": 1}, {"content": DataFrame(columns=["a"], data=[[1], [2]])})
    born = (await manager.diff(frame, 1, 2)).content_diff
    assert isinstance(born, DataFrameContentDiff)
    assert (born.old_shape, born.rows_added) == (None, 2)
    kinds = await versions(manager, {"content": {"a": 1}}, {"content": b"raw"})
    changed = (await manager.diff(kinds, 1, 2)).content_diff
    assert isinstance(changed, BytesContentDiff)
    assert changed.note
    assert "json to bytes" in changed.note


async def test_huge_content_is_bounded_and_says_so(manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "MAX_LINES", 50)
    monkeypatch.setattr(text, "MAX_OUTPUT_LINES", 10)
    monkeypatch.setattr(frames, "MAX_ROWS", 5)
    monkeypatch.setattr(frames, "SAMPLE", 2)
    old = "\n".join(f"line {i}" for i in range(100))
    new = "\n".join(f"line {i}" if i % 3 else f"LINE {i}" for i in range(100))
    aid = await versions(manager, {"content": old}, {"content": new})
    result = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(result, TextContentDiff)
    assert result.truncated
    assert result.note
    assert sum(len(h.lines) for h in result.hunks) == 10
    assert result.lines_removed == 17  # lines 0, 3, …, 48 of the first 50
    big = await versions(
        manager,
        {"content": DataFrame(columns=["a"], data=[[i] for i in range(10)])},
        {"content": DataFrame(columns=["a"], data=[[-i] for i in range(10)])},
    )
    frame = (await manager.diff(big, 1, 2)).content_diff
    assert isinstance(frame, DataFrameContentDiff)
    assert frame.truncated
    assert frame.rows_changed == 4
    assert len(frame.changed_sample) == 2


async def test_line_ending_and_final_newline_changes_are_shown(manager: ArtifactManager) -> None:
    # the lines were compared without their endings: such a change diffed as "nothing changed"
    crlf = await versions(manager, {"content": "a\r\nb\r\n"}, {"content": "a\nb\n"})
    result = (await manager.diff(crlf, 1, 2)).content_diff
    assert isinstance(result, TextContentDiff)
    assert (result.lines_removed, result.lines_added) == (2, 2)
    assert result.note == "line endings changed (CRLF -> LF)"
    assert [line.text for line in result.hunks[0].lines] == ["a", "b", "a", "b"]  # spans hold no line break
    final = await versions(
        manager,
        {"content": b"x\ny\n", "content_type": "text/plain"},
        {"content": b"x\ny", "content_type": "text/plain"},
    )
    result = (await manager.diff(final, 1, 2)).content_diff
    assert isinstance(result, TextContentDiff)
    assert (result.lines_removed, result.lines_added, result.note) == (
        1,
        1,
        "the new text has no line break at its end",
    )
    assert "-y\n+y" in result.unified()


def test_text_diffs_of_repeated_lines_and_words_stay_bounded_in_time() -> None:
    # difflib's exact matching is quadratic in repeated lines: 20,000 identical lines took ~1 minute,
    # 300 changed lines of 2,000 repeated words ~90 s. CPU time, not wall time: a loaded machine (other
    # processes on the same cores) stretches the wall clock, not the work this process does.
    started = time.process_time()
    result = text.text_diff("x\n" * 20_000, "y\n" + "x\n" * 19_999 + "z\n")
    assert (result.old_lines, result.new_lines) == (20_000, 20_001)
    assert result.truncated
    repeated = text.text_diff(
        "\n".join(str(i % 150) for i in range(20_000)), "\n".join(str(i % 149) for i in range(20_000))
    )
    assert repeated.truncated
    assert repeated.note is not None
    assert "alignment budget" in repeated.note
    words = text.text_diff("\n".join(["a " * 999] * 300), "\n".join(["b " + "a " * 998] * 300))
    assert words.lines_added == words.lines_removed == 300
    assert time.process_time() - started < 10
    line = words.hunks[0].lines[300]
    assert (line.op, line.spans[0].text, line.spans[0].changed) == ("add", "b", True)


def test_a_wide_frame_diffs_in_time_linear_in_its_columns() -> None:
    # the columns were matched with list.index and `in` on lists: 20,000 columns took 21 s here
    pd = pytest.importorskip("pandas")
    n = 20_000
    old = pd.DataFrame([[1] * n], columns=[f"c{i}" for i in range(n)])
    new = old.copy()
    new.iloc[0, n - 1] = 2
    docs = [orjson.loads(frames_content.pandas_bytes(frame) or b"") for frame in (old, new)]
    started = time.process_time()  # CPU time: other processes on a loaded machine do not count
    result = frames.frame_diff(*docs)
    assert time.process_time() - started < 5
    assert (result.columns_changed, result.rows_changed, result.columns_added) == (["c19999"], 1, [])


async def test_big_blobs_and_bad_text_fall_back_to_hash_and_size(
    manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content, "MAX_DECODE_BYTES", 10)
    aid = await versions(manager, {"content": "short"}, {"content": "a text longer than ten bytes"})
    big = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(big, BytesContentDiff)
    assert big.truncated
    assert (big.old_size, big.new_size) == (7, 30)  # canonical JSON strings, quotes included
    monkeypatch.undo()
    latin = await versions(
        manager,
        {"content": b"caf\xe9\n", "content_type": "text/plain; charset=latin-1"},
        {"content": b"cafe\n", "content_type": "text/plain; charset=latin-1"},
    )
    decoded = (await manager.diff(latin, 1, 2)).content_diff
    assert isinstance(decoded, TextContentDiff)
    assert decoded.hunks[0].lines[0].text == "café"
    bad = await versions(
        manager,
        {"content": b"\xff\xfe", "content_type": "text/plain"},
        {"content": b"ok", "content_type": "text/plain"},
    )
    summary = (await manager.diff(bad, 1, 2)).content_diff
    assert isinstance(summary, BytesContentDiff)
    assert summary.note is not None
    assert "charset" in summary.note


async def test_pandas_frames_match_rows_by_index_label(manager: ArtifactManager) -> None:
    pd = pytest.importorskip("pandas")
    old = pd.DataFrame({"score": [0.5, 0.25, 0.75]}, index=["a", "b", "c"])
    new = pd.DataFrame({"score": [0.0, 0.25, 0.5], "n": [1, 2, 3]}, index=["z", "b", "c"])
    new["score"] = new["score"].astype("float32")  # exact in both widths: only c changes
    aid = await versions(manager, {"content": old}, {"content": new})
    result = (await manager.diff(aid, 1, 2)).content_diff
    assert isinstance(result, DataFrameContentDiff)
    assert (result.rows_added, result.rows_removed, result.rows_changed) == (1, 1, 1)
    assert result.added_sample[0].label == "z"
    assert result.removed_sample[0].label == "a"
    assert (result.changed_sample[0].label, result.changed_sample[0].cells[0].new) == ("c", 0.5)
    assert result.columns_added == ["n"]
    assert [(t.column, t.old, t.new) for t in result.dtype_changes] == [("score", "float64", "float32")]
