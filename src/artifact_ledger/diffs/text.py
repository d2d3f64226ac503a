"""Line-level unified diffs of text with word-level spans on changed lines (pure).

Lines are compared with their endings, so a text whose line endings (``\\r\\n`` to ``\\n``) or
final newline changed shows those lines changed, and the note says what differs (the spans
carry the text without its ending). The alignment is bounded: common leading and trailing lines
are set aside first, difflib aligns the rest exactly while it would examine at most
``MAX_PAIRS`` pairs of equal lines (``MAX_WORD_PAIRS`` pairs of equal words in a changed line),
then without the items that repeat most (its ``autojunk``), and past that the rest is shown as
replaced whole (``truncated``).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Final, Literal, TypeVar

from ..schemas.content_diffs import TextContentDiff, TextHunk, TextLine, TextSpan

MAX_LINES: Final = 20_000
"""Lines compared per side; beyond it the diff covers the first ``MAX_LINES`` and says ``truncated``."""
MAX_OUTPUT_LINES: Final = 2_000
"""Lines (context included) kept in the hunks."""
MAX_WORD_LINE: Final = 2_000
"""Longest line (in characters) that gets word-level spans; longer ones are marked changed whole."""
MAX_PAIRS: Final = 2_000_000
"""Most pairs of equal lines the alignment of two texts may examine: difflib's matching is quadratic
in them (20,000 identical lines took a minute)."""
MAX_WORD_PAIRS: Final = 10_000
"""Most pairs of equal words the alignment of two changed lines may examine (up to ``MAX_OUTPUT_LINES``
pairs of lines get word spans); past it the lines are marked changed whole."""
CONTEXT: Final = 3

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_ENDINGS: Final = {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}
_LINE_BREAKS: Final = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""The characters ``str.splitlines`` breaks at (``\\r\\n`` counts as one break)."""

Opcode = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]
Item = TypeVar("Item", bound=Hashable)


def _pairs(a: Sequence[Item], b: Sequence[Item], counts: Counter[Item], most: int | None = None) -> int:
    return sum(n for n in (counts[x] for x in a) if most is None or n <= most)


def align(a: Sequence[Item], b: Sequence[Item], budget: int) -> tuple[list[Opcode], bool]:
    """difflib's opcodes turning ``a`` into ``b`` examining at most ``budget`` pairs of equal items, and
    whether the budget cut it short (the part between the common leading and trailing items is then
    one ``replace``). Lines here, words of a line, rows of a DataFrame in :mod:`.frames`."""
    lo, shortest = 0, min(len(a), len(b))
    while lo < shortest and a[lo] == b[lo]:
        lo += 1
    hi = 0
    while hi < shortest - lo and a[len(a) - 1 - hi] == b[len(b) - 1 - hi]:
        hi += 1
    mid_a, mid_b = a[lo : len(a) - hi], b[lo : len(b) - hi]
    counts = Counter(mid_b)
    coarse = False
    if _pairs(mid_a, mid_b, counts) <= budget:
        inner = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False).get_opcodes()
    elif len(mid_b) >= 200 and _pairs(mid_a, mid_b, counts, len(mid_b) // 100 + 1) <= budget:
        inner = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=True).get_opcodes()  # popular items left out
    else:
        inner, coarse = [("replace", 0, len(mid_a), 0, len(mid_b))], True
    codes: list[Opcode] = [("equal", 0, lo, 0, lo)] if lo else []
    codes.extend((tag, i1 + lo, i2 + lo, j1 + lo, j2 + lo) for tag, i1, i2, j1, j2 in inner if i1 < i2 or j1 < j2)
    if hi:
        codes.append(("equal", len(a) - hi, len(a), len(b) - hi, len(b)))
    return codes, coarse


class _Aligned(difflib.SequenceMatcher[str]):
    """difflib's hunks (``get_grouped_opcodes``) of opcodes found by :func:`align`."""

    def __init__(self, codes: list[Opcode]) -> None:
        super().__init__(None, "", "")
        self._codes = codes

    def get_opcodes(self) -> list[Opcode]:
        return list(self._codes)  # difflib edits the list it gets


def _spans(tokens: list[str], changed: set[int]) -> list[TextSpan]:
    runs: list[tuple[bool, list[str]]] = []
    for index, token in enumerate(tokens):
        flag = index in changed
        if runs and runs[-1][0] == flag:
            runs[-1][1].append(token)
        else:
            runs.append((flag, [token]))
    return [TextSpan(text="".join(parts), changed=flag) for flag, parts in runs]


def word_spans(old: str, new: str) -> tuple[list[TextSpan], list[TextSpan]]:
    """The spans of a removed line and the added line that replaced it, changed words marked."""
    if len(old) > MAX_WORD_LINE or len(new) > MAX_WORD_LINE:
        return [TextSpan(text=old, changed=True)], [TextSpan(text=new, changed=True)]
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    codes, coarse = align(a, b, MAX_WORD_PAIRS)
    if coarse:
        return [TextSpan(text=old, changed=True)], [TextSpan(text=new, changed=True)]
    gone: set[int] = set()
    came: set[int] = set()
    for tag, i1, i2, j1, j2 in codes:
        if tag != "equal":
            gone.update(range(i1, i2))
            came.update(range(j1, j2))
    return _spans(a, gone), _spans(b, came)


def _whole(text: str, changed: bool = False) -> list[TextSpan]:
    return [TextSpan(text=text, changed=changed)] if text else []


def _ending(line: str) -> str:
    """The line's line break (``splitlines`` breaks at ``\\r\\n``, ``\\n``, ``\\r`` and a few more), or ``""``."""
    if line.endswith("\r\n"):
        return "\r\n"
    return line[-1] if line and line[-1] in _LINE_BREAKS else ""


def _bare(line: str) -> str:
    return line[: len(line) - len(_ending(line))]


def _endings_note(a: list[str], b: list[str]) -> list[str]:
    """What differs in the line breaks of two texts (split with their endings), in words."""
    notes = []

    def styles(lines: list[str]) -> str:
        found = sorted({_ending(line) for line in lines} - {""})
        return "/".join(_ENDINGS[e] if e in _ENDINGS else f"U+{ord(e):04X}" for e in found) or "none"

    old_styles, new_styles = styles(a), styles(b)
    if old_styles != new_styles and "none" not in (old_styles, new_styles):
        notes.append(f"line endings changed ({old_styles} -> {new_styles})")
    old_final, new_final = bool(a and _ending(a[-1])), bool(b and _ending(b[-1]))
    if a and b and old_final != new_final:
        notes.append(f"the {'new' if old_final else 'old'} text has no line break at its end")
    return notes


def text_diff(old: str | None, new: str | None) -> TextContentDiff:
    """The unified diff of two texts (None: no content on that side)."""
    a_all = (old or "").splitlines(keepends=True)
    b_all = (new or "").splitlines(keepends=True)
    truncated = len(a_all) > MAX_LINES or len(b_all) > MAX_LINES
    a, b = a_all[:MAX_LINES], b_all[:MAX_LINES]
    result = TextContentDiff(old_lines=len(a_all), new_lines=len(b_all))
    codes, coarse = align(a, b, MAX_PAIRS)
    kept = 0
    for group in _Aligned(codes).get_grouped_opcodes(CONTEXT):
        first, last = group[0], group[-1]
        hunk = TextHunk(
            old_start=first[1] + 1 if last[2] > first[1] else first[1],
            old_count=last[2] - first[1],
            new_start=first[3] + 1 if last[4] > first[3] else first[3],
            new_count=last[4] - first[3],
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                hunk.lines.extend(
                    TextLine(op="context", old_number=i + 1, new_number=j + 1, spans=_whole(_bare(a[i])))
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                )
                continue
            result.lines_removed += i2 - i1
            result.lines_added += j2 - j1
            removed = [TextLine(op="remove", old_number=i + 1, spans=_whole(_bare(a[i]), True)) for i in range(i1, i2)]
            added = [TextLine(op="add", new_number=j + 1, spans=_whole(_bare(b[j]), True)) for j in range(j1, j2)]
            if tag == "replace":
                # pair the lines in order and mark the words that differ, in the lines that are kept
                room = max(MAX_OUTPUT_LINES - kept - len(hunk.lines), 0)
                for gone, came in list(zip(removed, added, strict=False))[:room]:
                    gone.spans, came.spans = word_spans(gone.text, came.text)
            hunk.lines.extend(removed + added)
        room = MAX_OUTPUT_LINES - kept
        if room <= 0:
            truncated = True
            continue  # keep counting added/removed lines; stop keeping them
        if len(hunk.lines) > room:
            hunk.lines = hunk.lines[:room]
            truncated = True
        kept += len(hunk.lines)
        result.hunks.append(hunk)
    notes = _endings_note(a_all, b_all)
    if truncated or coarse:
        result.truncated = True
        notes.append(
            f"bounded: at most {MAX_LINES:,} lines per side compared and {MAX_OUTPUT_LINES:,} diff lines kept"
            + (", and lines past the alignment budget shown as replaced" if coarse else "")
        )
    result.note = "; ".join(notes) or None
    return result
