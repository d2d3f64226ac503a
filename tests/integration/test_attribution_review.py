"""Attribution, from an adversarial review: what a new write may be attributed to (SQLite and
PostgreSQL). An actor, correlation id or causation id is a plain name; a reason is text without
terminal control characters; recorded history is still held only to what the log can record."""

from __future__ import annotations

from typing import Any

import pytest

from artifact_ledger import ArtifactIn, ArtifactManager, InvalidAttributionError, attribution
from artifact_ledger.ambient import validate
from artifact_ledger.events import Attribution

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"actor": ""}, r"actor '' is empty"),
    ({"actor": "   "}, r"actor '   ' is empty"),
    ({"actor": "alice "}, r"white space around it; give 'alice'"),
    ({"actor": "al\nice"}, r"U\+000A"),
    ({"actor": "alice\x1b[2K"}, r"U\+001B"),
    ({"actor": "ad\u202emin"}, r"U\+202E \(RIGHT-TO-LEFT OVERRIDE\)"),
    ({"actor": "ali\u200bce"}, r"U\+200B \(ZERO WIDTH SPACE\)"),
    ({"actor": "jose\u0301"}, r"not in Unicode normal form NFC; give 'jos\\xe9'"),
    ({"reason": ""}, r"reason '' is empty"),
    ({"reason": "ok\x1b[31m red"}, r"reason .* holds U\+001B"),
    ({"reason": "bell\x07"}, r"U\+0007"),
]


@pytest.mark.parametrize(("kwargs", "message"), REFUSED)
async def test_a_save_or_patch_attributed_to_a_name_no_one_can_find_is_refused(
    manager: ArtifactManager, kwargs: dict[str, Any], message: str
) -> None:
    saved = await manager.save(ArtifactIn(data={"n": 1}))
    with pytest.raises(InvalidAttributionError, match=message):
        await manager.patch(saved.id, {"n": 2}, **kwargs)
    with pytest.raises(InvalidAttributionError, match=message):
        await manager.save(ArtifactIn(data={"n": 3}), **kwargs)
    assert len(await manager.history(saved.id)) == 1
    assert await manager.count() == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"actor": "\n"},
        {"correlation_id": "run 42 "},
        {"causation_id": "cause\t1"},
        {"correlation_id": ""},
        {"reason": "\x1b]0;pwned\x07"},
    ],
)
def test_an_attribution_block_refuses_them_too(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidAttributionError), attribution(**kwargs):
        pass


async def test_names_and_reasons_people_write_are_recorded_as_given(manager: ArtifactManager) -> None:
    saved = await manager.save(ArtifactIn(data={"n": 1}), actor="José Müller", reason="first\n\tdraft\r\n")
    with attribution(actor="svc:nightly/42", correlation_id="run-42", causation_id="evt 7"):
        patched = await manager.patch(saved.id, {"n": 2}, reason="fix: 価格 → 値段 👍")
    assert (saved.created_by, patched.updated_by) == ("José Müller", "svc:nightly/42")
    history = await manager.history(saved.id)
    assert [(v.actor, v.reason) for v in history] == [
        ("José Müller", "first\n\tdraft\r\n"),
        ("svc:nightly/42", "fix: 価格 → 値段 👍"),
    ]
    assert history[1].correlation_id == "run-42"
    found = await manager.audit(actor="José Müller")
    assert [str(e.artifact_id) for e in found.entries] == [str(saved.id)]


def test_recorded_history_is_held_only_to_what_the_log_can_record() -> None:
    """Bundle import checks recorded events with validate(): history written before these rules
    (an empty actor, a line break in one) still imports."""
    old = Attribution(actor="al\nice", reason="", correlation_id=" run ", causation_id="e\u0301")
    assert validate(old) is old
