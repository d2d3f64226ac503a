"""Line-level unified diffs of text with word-level spans on changed lines (pure)."""

from __future__ import annotations

import difflib
import re
from typing import Final

from ..schemas.content_diffs import TextContentDiff, TextHunk, TextLine, TextSpan

MAX_LINES: Final = 20_000
"""Lines compared per side; beyond it the diff covers the first ``MAX_LINES`` and says ``truncated``."""
MAX_OUTPUT_LINES: Final = 2_000
"""Lines (context included) kept in the hunks."""
MAX_WORD_LINE: Final = 2_000
"""Longest line (in characters) that gets word-level spans; longer ones are marked changed whole."""
CONTEXT: Final = 3

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def _spans(tokens: list[str], changed: set[int]) -> list[TextSpan]:
    spans: list[TextSpan] = []
    for index, token in enumerate(tokens):
        flag = index in changed
        if spans and spans[-1].changed == flag:
            spans[-1].text += token
        else:
            spans.append(TextSpan(text=token, changed=flag))
    return spans


def word_spans(old: str, new: str) -> tuple[list[TextSpan], list[TextSpan]]:
    """The spans of a removed line and the added line that replaced it, changed words marked."""
    if len(old) > MAX_WORD_LINE or len(new) > MAX_WORD_LINE:
        return [TextSpan(text=old, changed=True)], [TextSpan(text=new, changed=True)]
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    gone: set[int] = set()
    came: set[int] = set()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            gone.update(range(i1, i2))
            came.update(range(j1, j2))
    return _spans(a, gone), _spans(b, came)


def _whole(text: str, changed: bool = False) -> list[TextSpan]:
    return [TextSpan(text=text, changed=changed)] if text else []


def text_diff(old: str | None, new: str | None) -> TextContentDiff:
    """The unified diff of two texts (None: no content on that side)."""
    a_all = (old or "").splitlines()
    b_all = (new or "").splitlines()
    truncated = len(a_all) > MAX_LINES or len(b_all) > MAX_LINES
    a, b = a_all[:MAX_LINES], b_all[:MAX_LINES]
    result = TextContentDiff(old_lines=len(a_all), new_lines=len(b_all))
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    kept = 0
    for group in matcher.get_grouped_opcodes(CONTEXT):
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
                    TextLine(op="context", old_number=i + 1, new_number=j + 1, spans=_whole(a[i]))
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                )
                continue
            result.lines_removed += i2 - i1
            result.lines_added += j2 - j1
            removed = [TextLine(op="remove", old_number=i + 1, spans=_whole(a[i], True)) for i in range(i1, i2)]
            added = [TextLine(op="add", new_number=j + 1, spans=_whole(b[j], True)) for j in range(j1, j2)]
            if tag == "replace" and kept + len(hunk.lines) < MAX_OUTPUT_LINES:  # (lines past it are cut)
                # pair the lines in order and mark the words that differ
                for gone, came in zip(removed, added, strict=False):
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
    result.truncated = truncated
    if truncated:
        result.note = f"bounded: at most {MAX_LINES:,} lines per side compared and {MAX_OUTPUT_LINES:,} diff lines kept"
    return result
