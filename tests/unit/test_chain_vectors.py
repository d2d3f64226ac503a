"""The hash chain's golden vectors (``tests/vectors``, specified in ``docs/chain.md``) against every implementation.

The library (``chain.py``), the standard-library bundle verifier (``verify_bundle.py``) and
the reference code in ``docs/chain.md`` must each produce every expected byte and refuse
every refused input; the chain cases also verify as a bundle, and as rows of a database
through ``Ledger.verify`` on every backend.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import InvalidArtifactDataError, InvalidAttributionError, Ledger, chain, codec
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.store.tables import PROJECTORS, checkpoints, events
from ledger_support import SECRET

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


EVENTS = load("events.json")
REFUSED = load("refused.json")
TIMES = load("times.json")
CHAIN: list[dict[str, Any]] = EVENTS["chain"]
VALID: list[dict[str, Any]] = [*CHAIN, *EVENTS["standalone"]]
ARGUMENTS = (
    "position",
    "event_id",
    "artifact_id",
    "version",
    "type",
    "schema_version",
    "recorded_at",
    "actor",
    "reason",
    "correlation_id",
    "causation_id",
)
LIBRARY_ERRORS: dict[str, type[Exception]] = {
    "InvalidAttributionError": InvalidAttributionError,
    "InvalidArtifactDataError": InvalidArtifactDataError,
    "NotJSONError": codec.NotJSONError,
}


def named(cases: list[dict[str, Any]]) -> dict[str, Any]:
    return {"argvalues": cases, "ids": [case["name"] for case in cases]}


def reference() -> dict[str, Any]:
    """The reference implementation in docs/chain.md, executed."""
    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / "docs" / "chain.md").read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 1
    namespace: dict[str, Any] = {}
    exec(blocks[0], namespace)
    return namespace


REFERENCE = reference()


def test_the_vectors_cover_what_the_specification_promises() -> None:
    assert len(VALID) >= 11
    assert len(REFUSED["cases"]) >= 16
    assert len(TIMES["times"]) + len(TIMES["refused_times"]) + len(TIMES["refused_texts"]) >= 30
    years = {case["fields"]["recorded_at"][:4] for case in VALID}
    assert {"0001", "0999", "9999"} <= years
    assert EVENTS["genesis"] == CHAIN[0]["prev_hash"] == "0" * 64
    for before, after in itertools.pairwise(CHAIN):
        assert after["prev_hash"] == before["hash"]
        assert after["fields"]["position"] == before["fields"]["position"] + 1
    assert tuple(chain.ENVELOPE_FIELDS) == standalone.ENVELOPE_FIELDS == tuple(sorted(chain.ENVELOPE_FIELDS))
    assert (chain.INT_MIN, chain.INT_MAX) == (standalone.INT_MIN, standalone.INT_MAX)


# ---- events that hash --------------------------------------------------------------------------


@pytest.mark.parametrize("case", **named(VALID))
def test_library(case: dict[str, Any]) -> None:
    fields, expected = case["fields"], bytes.fromhex(case["envelope_hex"])
    envelope = chain.canonical_envelope(*(fields[name] for name in ARGUMENTS))
    assert envelope == expected == case["envelope"].encode()
    digest = chain.event_hash(bytes.fromhex(case["prev_hash"]), envelope, case["payload"].encode())
    assert digest.hex() == case["hash"]
    assert codec.dumps(json.loads(case["payload"])) == case["payload"].encode()  # what the ledger writes
    if "time" in case:
        when = datetime.fromisoformat(case["time"])
        assert chain.format_time(when) == fields["recorded_at"]
        assert chain.envelope_bytes(**{**fields, "recorded_at": when}) == expected


@pytest.mark.parametrize("case", **named(VALID))
def test_standalone_verifier(case: dict[str, Any]) -> None:
    fields, prev = case["fields"], bytes.fromhex(case["prev_hash"])
    envelope = standalone.canonical_envelope(fields)
    assert envelope == bytes.fromhex(case["envelope_hex"])
    digest = standalone.chained_hash(prev, envelope, standalone.payload_bytes(case["payload"]))
    assert digest.hex() == case["hash"]
    record = {**fields, "payload": case["payload"], "prev_hash": case["prev_hash"], "hash": case["hash"]}
    event = standalone.parse_event(json.dumps(record, ensure_ascii=False).encode(), "vector")
    assert standalone.event_hash(event) == case["hash"]
    assert standalone.content_ref(event) is None


@pytest.mark.parametrize("case", **named(VALID))
def test_reference_implementation_in_the_docs(case: dict[str, Any]) -> None:
    fields = case["fields"]
    assert REFERENCE["envelope_bytes"](fields).hex() == case["envelope_hex"]
    digest = REFERENCE["event_hash"](bytes.fromhex(case["prev_hash"]), fields, case["payload"])
    assert digest.hex() == case["hash"]
    if "time" in case:
        assert REFERENCE["time_text"](datetime.fromisoformat(case["time"])) == fields["recorded_at"]


def write_bundle(directory: Path, records: list[dict[str, Any]], *, first: int = 1, prev: str = "0" * 64) -> Path:
    """A bundle of ``records`` (event lines as dicts), with a manifest that agrees with them."""
    directory.mkdir(parents=True)
    body = b"".join(json.dumps(r, ensure_ascii=True, sort_keys=True).encode() + b"\n" for r in records)
    (directory / "events.jsonl").write_bytes(body)
    manifest = {
        "format": standalone.FORMAT,
        "format_version": standalone.FORMAT_VERSION,
        "hash_algorithm": "sha256",
        "first_position": first,
        "prev_hash": prev,
        "head_position": first - 1 + len(records),
        "head_hash": records[-1]["hash"],
        "event_count": len(records),
        "events_sha256": hashlib.sha256(body).hexdigest(),
        "blob_count": 0,
        "blob_bytes": 0,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_the_chain_cases_verify_as_a_bundle(tmp_path: Path) -> None:
    records = [{**c["fields"], "payload": c["payload"], "prev_hash": c["prev_hash"], "hash": c["hash"]} for c in CHAIN]
    report = standalone.verify_bundle(write_bundle(tmp_path / "bundle", records))
    assert report.ok, report
    assert (report.events_checked, report.head_position, report.head_hash) == (
        len(CHAIN),
        len(CHAIN),
        CHAIN[-1]["hash"],
    )
    records[2] = {**records[2], "actor": "someone else"}
    changed = standalone.verify_bundle(write_bundle(tmp_path / "changed", records))
    assert (changed.ok, changed.broken_position, changed.reason) == (False, 3, "modified")


async def test_the_chain_cases_verify_as_stored_rows(engine: AsyncEngine) -> None:
    """Rows written straight into ledger_events: Ledger.verify re-derives every envelope from the columns."""
    rows = [
        {
            **case["fields"],
            "recorded_at": datetime.fromisoformat(case["fields"]["recorded_at"][:-1]).replace(tzinfo=UTC),
            "payload": case["payload"],
            "prev_hash": bytes.fromhex(case["prev_hash"]),
            "hash": bytes.fromhex(case["hash"]),
        }
        for case in CHAIN
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(events), rows)
        await conn.execute(insert(checkpoints), [{"projector": name, "position": len(rows)} for name in PROJECTORS])
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify(blobs=False, projections=False)
        head = await ledger.head()
    assert report.ok, report
    assert report.events_checked == len(CHAIN)
    assert str(head) == f"{len(CHAIN)}:{CHAIN[-1]['hash']}"


# ---- inputs that have no canonical bytes -------------------------------------------------------


def forged_line(case: dict[str, Any]) -> dict[str, Any]:
    """The case as a bundle line whose hash a forger computed over its raw bytes, surrogates and all."""
    fields, payload = case["fields"], case["payload"]
    text = json.dumps({name: fields[name] for name in chain.ENVELOPE_FIELDS}, separators=(",", ":"), ensure_ascii=False)
    raw = bytes(32) + text.encode("utf-8", "surrogatepass") + b"\n" + payload.encode("utf-8", "surrogatepass")
    return {**fields, "payload": payload, "prev_hash": "0" * 64, "hash": hashlib.sha256(raw).hexdigest()}


def library_refusal(case: dict[str, Any]) -> Exception:
    fields = case["fields"]
    try:
        chain.canonical_envelope(*(fields[name] for name in ARGUMENTS))
        codec.dumps(json.loads(case["payload"]))  # the payload the ledger would have had to write
    except Exception as exc:
        return exc
    raise AssertionError(f"the library accepted {case['name']}")


@pytest.mark.parametrize("case", **named(REFUSED["cases"]))
def test_library_refuses(case: dict[str, Any]) -> None:
    error = library_refusal(case)
    assert type(error) is LIBRARY_ERRORS[case["library_error"]], repr(error)
    message = str(error)
    assert "lone surrogate" in message or "64 bits" in message or "not JSON" in message, message


def standalone_refusal(case: dict[str, Any]) -> str:
    """What the standalone verifier says about the case's envelope, payload bytes or payload JSON."""
    try:
        standalone.canonical_envelope(case["fields"])
        standalone.payload_bytes(case["payload"])
        standalone.loads(case["payload"])  # what the verifier reads the content reference from
    except ValueError as exc:  # BundleFormatError, or the strict JSON reader's ValueError
        return str(exc)
    raise AssertionError(f"the standalone verifier accepted {case['name']}")


@pytest.mark.parametrize("case", **named(REFUSED["cases"]))
def test_standalone_verifier_refuses(case: dict[str, Any], tmp_path: Path) -> None:
    message = standalone_refusal(case)
    assert re.search("lone surrogate|64 bits|NaN|double", message), message
    # In a bundle, even with a hash that matches its bytes: reported malformed, never a crash or a pass.
    report = standalone.verify_bundle(write_bundle(tmp_path / "bundle", [forged_line(case)]))
    assert (report.ok, report.broken_position, report.reason) == (False, 1, "malformed"), report


@pytest.mark.parametrize("case", **named([c for c in REFUSED["cases"] if c["library_error"] != "NotJSONError"]))
def test_reference_implementation_refuses_the_envelope_cases(case: dict[str, Any]) -> None:
    # (The payload cases are for a verifier that reads the payload; the reference code only hashes its text.)
    with pytest.raises(ValueError, match=r"64 bits|surrogates not allowed"):
        REFERENCE["envelope_bytes"](case["fields"])


# ---- time text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TIMES["times"], ids=lambda case: case["time"])
def test_times(case: dict[str, Any]) -> None:
    when = datetime.fromisoformat(case["time"])
    assert chain.format_time(when) == case["text"]
    assert REFERENCE["time_text"](when) == case["text"]
    assert standalone.check_time_text(case["text"]) == case["text"]


@pytest.mark.parametrize("case", TIMES["refused_times"], ids=lambda case: case["why"])
def test_refused_times(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"naive|outside the years 1 to 9999"):
        chain.format_time(datetime.fromisoformat(case["time"]))
    with pytest.raises((ValueError, OverflowError)):
        REFERENCE["time_text"](datetime.fromisoformat(case["time"]))


@pytest.mark.parametrize("case", TIMES["refused_texts"], ids=lambda case: case["why"])
def test_refused_time_texts(case: dict[str, Any]) -> None:
    with pytest.raises(standalone.BundleFormatError, match=re.escape("YYYY-MM-DDTHH:MM:SS.ffffffZ")):
        standalone.check_time_text(case["text"])
    record = {
        **VALID[0]["fields"],
        "recorded_at": case["text"],
        "payload": "{}",
        "prev_hash": "0" * 64,
        "hash": "0" * 64,
    }
    with pytest.raises(standalone.BundleFormatError, match="recorded_at"):
        standalone.parse_event(json.dumps(record).encode(), "vector")


OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@settings(deadline=None)  # Hypothesis's 0.2 s per example: a loaded machine's pause is not a failure here
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS))
def test_every_time_formats_to_fixed_width_text_the_verifier_accepts(when: datetime) -> None:
    text = chain.format_time(when)
    assert len(text) == chain.TIME_TEXT_LENGTH
    assert standalone.check_time_text(text) == text
    assert datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC) == when
    assert text == REFERENCE["time_text"](when)


def test_stored_sqlite_time_text() -> None:
    assert chain.stored_time_text("0999-12-31 23:59:59.999999") == "0999-12-31T23:59:59.999999Z"
    for bad in ("999-12-31 23:59:59.999999", "0999-12-31T23:59:59.999999", b"0999-12-31 23:59:59.999999", None):
        with pytest.raises(ValueError, match=re.escape("not YYYY-MM-DD HH:MM:SS.ffffff")):
            chain.stored_time_text(bad)  # type: ignore[arg-type]


def test_format_time_refuses_what_is_not_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        chain.format_time(datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="must be a datetime"):
        chain.format_time("2026-01-01T00:00:00.000000Z")  # type: ignore[arg-type]


class PythonZone(tzinfo):
    """A fixed offset written in Python: comparing its datetimes runs Python code, where threads switch."""

    def __init__(self, minutes: int) -> None:
        self.offset = timedelta(minutes=minutes)

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.offset

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return f"python{self.offset}"


class Interrupting(tzinfo):
    """UTC, except that once armed, the next look at its offset first formats another time.

    That is what another thread can do while this one compares a time with the remembered one.
    """

    def __init__(self, other: datetime) -> None:
        self.other = other
        self.armed = False

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if self.armed:
            self.armed = False
            chain.format_time(self.other)
        return timedelta(0)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


def test_format_time_never_returns_the_text_of_a_time_formatted_meanwhile() -> None:
    other = datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    first = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=Interrupting(other))
    assert chain.format_time(first) == "2026-11-26T12:00:00.123456Z"  # now the remembered time
    zone = Interrupting(other)
    second = first.replace(tzinfo=zone)  # the same instant, so comparing the two asks for their offsets
    zone.armed = True
    assert chain.format_time(second) == "2026-11-26T12:00:00.123456Z"  # other was formatted mid-comparison
    assert not zone.armed
    assert chain.format_time(other) == "1999-12-31T23:59:59.999999Z"


def test_format_time_is_thread_safe() -> None:
    """Threads formatting distinct times at once each get their own time's text, never another's.

    Each thread formats its own time over and over, so the one remembered time keeps changing
    hands; the times' zone is Python code, so a thread can be switched out mid-comparison. (The
    earlier cache, which read the remembered pair twice, fails this in most rounds.)
    """
    threads, rounds = 4, 10
    times = [
        datetime(1000 + k * 997, 1 + k, 1 + k * 3, k, k * 7, k * 7, k * 37, tzinfo=PythonZone(k * 45 - 180))
        for k in range(threads)
    ]
    expected = [t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z") for t in times]
    assert len(set(expected)) == threads
    wrong: list[tuple[str, str]] = []

    def hammer(k: int, start: threading.Barrier) -> None:
        start.wait()
        for _ in range(10_000):
            text = chain.format_time(times[k])
            if text != expected[k]:
                wrong.append((expected[k], text))
                return

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, yet let each run a few calls in a row
    try:
        for _ in range(rounds):
            start = threading.Barrier(threads)
            workers = [threading.Thread(target=hammer, args=(k, start)) for k in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert not wrong, wrong[:3]
    finally:
        sys.setswitchinterval(interval)


# ---- the library refuses bad text where it is written ------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"a": "\ud800"}, "['a'] is text with a lone surrogate (U+D800 at index 0"),
        ({"ok": ["x", "y\udc00"]}, "['ok'][1] is text with a lone surrogate (U+DC00 at index 1"),
        ({"\udfff": 1}, "['\\udfff'] (key) is text with a lone surrogate"),
        ({"n": 2**64}, "['n'] is 18446744073709551616, an integer beyond 64 bits"),
        ({"n": -(2**63) - 1}, "['n'] is -9223372036854775809, an integer beyond 64 bits"),
    ],
)
def test_codec_names_what_it_cannot_write(value: Any, fragment: str) -> None:
    for dumps in (codec.dumps, codec.dumps_trusted):
        with pytest.raises(codec.NotJSONError) as refused:
            dumps(value)
        assert fragment in str(refused.value)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("actor", "\ud800", InvalidAttributionError),
        ("reason", "ok \udbff", InvalidAttributionError),
        ("artifact_id", "\udc00", InvalidArtifactDataError),
        ("version", 2**64, InvalidArtifactDataError),
    ],
)
def test_envelope_bytes_names_the_field(field: str, value: Any, error: type[Exception]) -> None:
    fields: dict[str, Any] = {**VALID[0]["fields"], "recorded_at": datetime(2026, 1, 1, tzinfo=UTC), field: value}
    with pytest.raises(error) as refused:
        chain.envelope_bytes(**fields)
    assert str(refused.value).startswith(f"{field} ")
