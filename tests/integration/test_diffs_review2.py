"""Diffs and merge patches, from a second adversarial review (SQLite file and memory, PostgreSQL)."""

from __future__ import annotations

import asyncio
import copy
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from artifact_ledger import ArtifactIn, ArtifactManager, RedactedError
from artifact_ledger.diffs.text import text_diff
from artifact_ledger.jsondiff import json_patch


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


# -- round trips: the produced diff, applied to the old version, gives the new one -----------------


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")  # RFC 6901: ~1 first, then ~0


def apply_patch(document: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add/remove/replace, strictly: a pointer must reach an existing parent, an ``add`` to an
    object must not find the member there, a ``remove``/``replace`` must, array indexes are whole numbers."""
    document = copy.deepcopy(document)
    for op in ops:
        if op["path"] == "":
            document = None if op["op"] == "remove" else op["value"]
            continue
        assert op["path"].startswith("/"), op
        *parents, last = [_unescape(token) for token in op["path"].split("/")[1:]]
        parent = document
        for token in parents:
            parent = parent[_index(token)] if isinstance(parent, list) else parent[token]
        if isinstance(parent, list):
            index = _index(last)
            if op["op"] == "add":
                parent.insert(index, op["value"])
            elif op["op"] == "remove":
                del parent[index]
            else:
                parent[index] = op["value"]
        else:
            assert isinstance(parent, dict), (op, parent)
            assert (last in parent) == (op["op"] != "add"), (op, parent)
            if op["op"] == "remove":
                del parent[last]
            else:
                parent[last] = op["value"]
    return document


def _index(token: str) -> int:
    assert re.fullmatch(r"0|[1-9][0-9]*", token), token
    return int(token)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON documents: types too (1, 1.0 and True differ) and the sign of zero."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


KEYS = st.lists(st.sampled_from(["a", "/", "~", "0", "1", "~0", "~1", " ", "é"]), max_size=3).map("".join)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, -0.0, 1.0, 0.5])
    | st.text(alphabet="ab/~", max_size=3)
)
DOCUMENTS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=16
)


@settings(max_examples=500, deadline=None)
@given(DOCUMENTS, DOCUMENTS)
def test_json_patch_round_trips_and_is_empty_only_for_equal_documents(old: Any, new: Any) -> None:
    ops = json_patch(old, new)
    assert same(apply_patch(old, ops), new), (old, new, ops)
    assert (ops == []) == same(old, new)


LINES = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "a b", "c, d", "", "x\ty"]), st.sampled_from(["\n", "\r\n", "\r", "\u2028", ""])
    ),
    max_size=10,
).map(lambda pairs: "".join(text + end for text, end in pairs))


@settings(max_examples=500, deadline=None)
@given(LINES, LINES)
def test_text_hunks_turn_the_old_lines_into_the_new(old: str, new: str) -> None:
    """Context and removed lines are the old text's, in order; applying the hunks gives the new lines;
    the counts are the lines marked; a change only in line breaks is still shown (a hunk or the note)."""
    diff = text_diff(old, new)
    before, after = old.splitlines(), new.splitlines()
    out: list[str] = []
    at = 0
    for hunk in diff.hunks:
        start = hunk.old_start - 1 if hunk.old_count else hunk.old_start
        out.extend(before[at:start])
        at = start
        for line in hunk.lines:
            if line.op in ("context", "remove"):
                assert before[at] == line.text
                assert line.old_number == at + 1
                at += 1
            if line.op in ("context", "add"):
                out.append(line.text)
                assert line.new_number == len(out)
        for line in hunk.lines:
            assert "".join(span.text for span in line.spans) == line.text
    out.extend(before[at:])
    assert out == after, diff.unified()
    assert diff.lines_added == sum(line.op == "add" for hunk in diff.hunks for line in hunk.lines)
    assert diff.lines_removed == sum(line.op == "remove" for hunk in diff.hunks for line in hunk.lines)
    if old != new:
        assert diff.hunks or diff.note


def test_stored_diffs_of_data_and_content_round_trip(url: str) -> None:
    """Through the ledger: the data diff and the JSON content diff of two saved versions, applied to
    the first version as read back, give the second as read back (keys with / ~ and "", digits)."""
    from artifact_ledger import Ledger

    async def scenario(old: Any, new: Any) -> None:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            first = await m.save(ArtifactIn(data={"d": old, "content": old}))
            second = await m.save(ArtifactIn(id=first.id, data={"d": new, "content": new}))
            if second.version == 1:
                assert same(first.data, second.data)
                return
            diff = await m.diff(first.id, 1, 2)
            ops = [op.model_dump() for op in diff.data]
            assert same(apply_patch({"d": first.data["d"]}, ops)["d"], second.data["d"]), ops  # type: ignore[index]
            content = diff.content_diff
            if content is None:
                assert same(first.data["content"], second.data["content"])  # type: ignore[index]
            elif content.kind == "json":
                ops = [op.model_dump() for op in content.ops]
                assert same(apply_patch(first.data["content"], ops), second.data["content"]), ops  # type: ignore[index]
            else:
                assert content.kind == "text"  # two str: a text diff

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(DOCUMENTS.filter(lambda d: d is not None), DOCUMENTS.filter(lambda d: d is not None))
    def run(old: Any, new: Any) -> None:
        asyncio.run(scenario(old, new))

    run()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            {"content": "alpha\nbeta\n", "content_type": "text/markdown"},
            {"content": b"alpha\ngamma\n", "content_type": "text/markdown"},
        ),
        ({"content": "alpha\nbeta\n"}, {"content": b"alpha\ngamma\n", "content_type": "text/plain"}),
        ({"content": b"alpha\nbeta\n", "content_type": "text/plain; charset=latin-1"}, {"content": "alpha\ngamma\n"}),
    ],
)
async def test_a_str_and_text_bytes_diff_as_text(
    manager: ArtifactManager, old: dict[str, Any], new: dict[str, Any]
) -> None:
    """A str is stored by the JSON codec whatever its media type, text bytes by the bytes codec: the
    same markdown saved once as a str and once as bytes 'changed kind (json to text)' and was
    compared by hash and size only."""
    a = await manager.save(ArtifactIn(data=old))
    await manager.save(ArtifactIn(id=a.id, data=new))
    diff = (await manager.diff(a.id, 1, 2)).content_diff
    assert diff is not None
    assert diff.kind == "text", diff
    assert (diff.lines_added, diff.lines_removed) == (1, 1)
    assert [line.text for hunk in diff.hunks for line in hunk.lines] == ["alpha", "beta", "gamma"]
    reverse = (await manager.diff(a.id, 2, 1)).content_diff
    assert reverse is not None
    assert reverse.kind == "text"


async def test_json_that_is_no_str_against_text_still_changed_kind(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"content": {"k": "alpha"}}))
    await manager.save(ArtifactIn(id=a.id, data={"content": b"alpha\n", "content_type": "text/plain"}))
    diff = (await manager.diff(a.id, 1, 2)).content_diff
    assert diff is not None
    assert diff.kind == "bytes"
    assert diff.note == "the content changed kind (json to text): compared by hash and size"


async def test_a_frame_of_repeated_rows_diffs_in_bounded_time(manager: ArtifactManager) -> None:
    """Rows matched as sequences went through difflib unbounded: quadratic in repeated rows (8,000
    equal rows took 7-12 s, the 50,000 compared about 6 minutes). Now bounded as text lines are: an
    exact alignment while it examines at most MAX_PAIRS pairs of equal rows, then without the most
    repeated rows, then the changed middle paired by position (``truncated``, said in the note)."""
    import time

    from artifact_ledger import DataFrame

    rows = 20_000
    a = await manager.save(ArtifactIn(data={"content": DataFrame(columns=["a", "b"], data=[[0, "x"]] * rows)}))
    inserted = [[0, "x"]] * (rows // 2) + [[1, "y"]] + [[0, "x"]] * (rows // 2)
    await manager.save(ArtifactIn(id=a.id, data={"content": DataFrame(columns=["a", "b"], data=inserted)}))
    # CPU time of this process (all its threads): other processes on a loaded machine stretch only the wall clock
    started = time.process_time()
    diff = (await manager.diff(a.id, 1, 2)).content_diff
    assert time.process_time() - started < 10
    assert diff is not None
    assert diff.kind == "dataframe"
    assert diff.rows_added + diff.rows_changed >= 1  # the inserted row shows, exactly or as the middle replaced
    if diff.truncated:
        assert "alignment budget" in (diff.note or "")
    else:
        assert (diff.rows_added, diff.rows_removed, diff.rows_changed) == (1, 0, 0)


async def test_concurrent_patches_with_one_expected_version_write_exactly_one(engine: Any) -> None:
    """Ten patches racing from version 1 (separate managers, one group commit or not): one writes
    version 2, the other nine raise ConcurrencyError naming the versions, and none is lost silently;
    a no-op patch among racers appends nothing."""
    from artifact_ledger import ConcurrencyError, Ledger
    from ledger_support import SECRET

    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as m:
            a = await m.save(ArtifactIn(data={"n": 0}))

        async def one(n: int) -> int | str:
            async with ledger.manager() as m:
                try:
                    return (await m.patch(a.id, {"n": n}, expected_version=1)).version
                except ConcurrencyError as exc:
                    return "refused" if "not the expected version 1" in str(exc) else str(exc)

        got = await asyncio.gather(*(one(n) for n in range(1, 11)))
        assert sorted(got, key=str) == [2] + ["refused"] * 9
        async with ledger.manager() as m:
            history = await m.history(a.id)
            assert len(history) == 2
            assert (await m.patch(a.id, dict(history[-1].data or {}), expected_version=2)).version == 2  # no-op
            assert len(await m.history(a.id)) == 2


def test_the_cli_diff_prints_bidirectional_controls_escaped(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Bidirectional overrides and isolates (U+202E and kin, 'Trojan Source') reorder what a terminal
    shows, so a changed line can read as something else: escaped (\\u202e) like other controls."""
    from artifact_ledger import Ledger
    from artifact_ledger.cli import main

    tricky = "access = 'user\u202e \u2066// admin\u2069 \u2066'"

    async def seed() -> str:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            art = await m.save(ArtifactIn(data={"content": "a\n" + tricky + "\n"}))
            await m.save(ArtifactIn(id=art.id, data={"content": "b\n" + tricky + "!\n"}))
            return str(art.id)

    assert main(["--db", url, "diff", asyncio.run(seed()), "1", "2"]) == 0
    out = capsys.readouterr().out
    assert not any(ch in out for ch in "\u202e\u2066\u2069"), out
    assert "\\u202e" in out
    assert "\\u2066" in out


async def test_a_patch_setting_content_to_a_listing_s_placeholder_is_refused(manager: ArtifactManager) -> None:
    """A listing puts an UnavailableContent where content was redacted or expired; patching it back as
    content (a read-modify-write of the listed data) pickled the placeholder and stored it as the new
    content, 361 bytes declared text/plain. Now refused by name, nothing written."""
    from artifact_ledger import InvalidArtifactDataError, UnavailableContent

    a = await manager.save(ArtifactIn(data={"content": b"abc", "content_type": "text/plain", "n": 1}))
    await manager.redact(a.id, reason="erasure request")
    (listed,) = await manager.find_all()
    placeholder = listed.data["content"]  # type: ignore[index]
    assert isinstance(placeholder, UnavailableContent)
    count = await event_count(manager)
    with pytest.raises(InvalidArtifactDataError, match=rf"patch of {a.id}: content is .*redacted"):
        await manager.patch(a.id, {"content": placeholder, "n": 2})
    with pytest.raises(InvalidArtifactDataError, match=rf"patch of {a.id}: content is .*redacted"):
        await manager.patch(a.id, dict(listed.data or {}))
    assert await event_count(manager) == count
    assert (await manager.patch(a.id, {"n": 2})).version == 2  # leaving content out still works


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ({"content": "café\n"}, {"content": "café\n".encode(), "content_type": "text/plain"}, "str -> text/plain"),
        (
            {"content": "café\n".encode("latin-1"), "content_type": "text/plain; charset=latin-1"},
            {"content": "café\n".encode(), "content_type": "text/plain; charset=utf-8"},
            "text/plain; charset=latin-1 -> text/plain; charset=utf-8",
        ),
    ],
)
async def test_the_same_text_stored_differently_says_so(
    manager: ArtifactManager, old: dict[str, Any], new: dict[str, Any], said: str
) -> None:
    """Content whose hash changed while its text did not (a str saved again as text bytes, another
    charset): the text diff had no line and no note, as if nothing changed."""
    a = await manager.save(ArtifactIn(data=old))
    assert (await manager.save(ArtifactIn(id=a.id, data=new))).version == 2
    diff = (await manager.diff(a.id, 1, 2)).content_diff
    assert diff is not None
    assert diff.kind == "text"
    assert diff.hunks == []
    assert diff.note == f"the same text, stored otherwise ({said})"
