"""What the verify page and badge say about checkpoints: against which one the log was checked.

With a checkpoint directory configured (``serve --checkpoints DIR``), the log is checked against
the newest note of its ledger there (:func:`~artifact_ledger.checkpoint_dir.check_newest`); the
page and badge name that note (size, when it was written, who signed it) or the one the log
contradicts. Without one they say the check covered the hash chain only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ...checkpoint_dir import NewestCheck, check_newest
from ...integrity import VerifyReport
from ...ledger import Ledger
from ..service import Service

CheckpointState = Literal["verified", "contradicted", "none", "unreadable", "not-configured"]
NOT_CONFIGURED = "chain only — no checkpoint configured"


@dataclass(frozen=True, slots=True)
class CheckpointView:
    """The checkpoint part of a verify report, as the page, the badge and ``/verify.json`` show it."""

    state: CheckpointState
    summary: str
    headline: str = ""
    file: str | None = None
    size: int | None = None
    root: str | None = None
    written_at: datetime | None = None
    signers: tuple[str, ...] = ()
    signatures_checked: bool = False
    problem: str | None = None
    notes: int = 0

    @property
    def ok(self) -> bool:
        """False when a checkpoint contradicts the log or cannot be read (the log is then not trusted)."""
        return self.state not in ("contradicted", "unreadable")

    def badge(self, report: VerifyReport) -> str | None:
        """The badge's text when the checkpoint decides it (None: the chain's own text)."""
        if not report.ok:
            return None
        if self.state == "verified":
            return f"Log OK · checkpoint {self.size:,} of {when(self.written_at)}"
        if self.state == "contradicted":
            return f"Log contradicts checkpoint {self.size:,}"
        if self.state == "unreadable":
            return "Log: checkpoint unreadable"
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "summary": self.summary,
            "file": self.file,
            "size": self.size,
            "root": self.root,
            "written_at": None if self.written_at is None else self.written_at.isoformat(),
            "signers": list(self.signers),
            "signatures_checked": self.signatures_checked,
            "problem": self.problem,
        }


def when(value: datetime | None) -> str:
    """``2026-12-05 10:02 UTC`` (minutes: a note's file time, not a log instant)."""
    return "an unknown time" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _signed(check: NewestCheck) -> str:
    if not check.signers:
        return "unsigned"
    if check.verified_signers is not None:
        return f"signed by {', '.join(check.verified_signers)} (signature checked)"
    return f"signed by {', '.join(check.signers)} (signatures not checked: no verifier key configured)"


async def checkpoint_view(service: Service, ledger: Ledger) -> CheckpointView:
    """The log against the newest checkpoint of the configured directory (none configured: chain only)."""
    if service.checkpoints is None:
        return CheckpointView(state="not-configured", summary=NOT_CONFIGURED, headline=NOT_CONFIGURED)
    check = await check_newest(ledger, service.checkpoints, service.checkpoint_keys)
    hidden = str(service.checkpoints)

    def scrub(text: str | None) -> str | None:  # the server's paths stay on the server
        return None if text is None else text.replace(hidden, "the checkpoint directory")

    facts: dict[str, Any] = {
        "file": check.file,
        "size": None if check.checkpoint is None else check.checkpoint.size,
        "root": None if check.checkpoint is None else check.checkpoint.root,
        "written_at": check.written_at,
        "signers": check.verified_signers if check.verified_signers is not None else check.signers,
        "signatures_checked": check.verified_signers is not None,
        "problem": scrub(check.problem),
        "notes": check.notes,
    }
    if check.state == "none":
        summary = headline = "chain only — the checkpoint directory holds no checkpoint of this ledger yet"
    elif check.state == "unreadable":
        summary = headline = f"checkpoint not checked: {scrub(check.problem)}"
    elif check.state == "contradicted":
        headline = (
            f"contradicted by checkpoint {check.file} (size {facts['size']:,} of "
            f"{when(check.written_at)}, {_signed(check)})"
        )
        summary = f"{headline}: {check.check.problem if check.check is not None else ''}"
    else:
        summary = headline = (
            f"verified · checkpoint size {facts['size']:,} of {when(check.written_at)} {_signed(check)}"
        )
    return CheckpointView(state=check.state, summary=summary, headline=headline, **facts)
