"""One coroutine per CLI command, each a few calls into the public API."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Awaitable, Callable

from rich.markup import escape
from rich.progress import Progress

from ..errors import (
    ArtifactNotFoundError,
    ContentExpiredError,
    CorruptBlobError,
    InvalidArgumentError,
    RedactedError,
    UntrustedContentError,
)
from ..ledger import Ledger
from ..ledger_checkpoints import witness_apart
from ..manager import ArtifactManager
from ..schemas import ArtifactHierarchy
from . import checkpoints as checkpoint_cli
from . import namespaces, provenance, query, redaction, render, retention
from .demo import run_demo
from .diffview import render_content_diff, visible_lines
from .operations import OPERATIONS
from .reading import open_for_reads
from .render import shown_time
from .serve import SERVE


async def dispatch(args: argparse.Namespace) -> int:
    handler: Callable[[argparse.Namespace], Awaitable[int]] = _COMMANDS[args.command]
    return await handler(args)


async def _ls(args: argparse.Namespace) -> int:
    return await query.run_ls(args)


def _when(args: argparse.Namespace) -> str:
    """`` at version N`` / `` as of 2026-03-01 00:00:00 UTC`` / nothing: the point in time asked for."""
    if getattr(args, "version", None):
        return f" at version {args.version}"
    return f" as of {shown_time(args.as_of)}" if args.as_of else ""


async def _refuse_deleted(manager: ArtifactManager, aid: str) -> None:
    """An artifact that is not live but has a history was deleted: say so (exit 3, as for any artifact
    not found), when and by whom, and where its versions are, rather than a bare 'not found'."""
    try:
        versions = await manager.history(aid)
    except ArtifactNotFoundError:
        return
    if not versions or versions[-1].event_type != "artifact.deleted":
        return
    last = versions[-1]
    by = f" by {last.actor}" if last.actor else ""
    before = f", `show {aid} --version {last.version - 1}` the last before it" if last.version > 1 else ""
    raise ArtifactNotFoundError(
        f"artifact {aid} was deleted (version {last.version}, {shown_time(last.recorded_at)}{by}); "
        f"`history {aid}` lists its versions{before}, `restore {aid}` brings it back",
        artifact_id=aid,
    )


async def _show(args: argparse.Namespace) -> int:
    """One artifact; its data and metadata need no key, so content that cannot be decoded here (a
    pickle signed with a key this ledger does not hold, a blob failing its hash) is left out with
    the decoder's reason, which names a key only for a signed pickle; redacted content and content
    a retention run expired likewise."""
    unavailable: str | None = None
    async with open_for_reads(args) as ledger, ledger.manager() as manager:
        try:
            out = await manager.find_by_id(args.id, version=args.version, as_of=args.as_of)
        except (UntrustedContentError, RedactedError, ContentExpiredError) as exc:
            if isinstance(exc, CorruptBlobError):
                raise
            unavailable = str(exc)
            out = await manager.find_by_id(args.id, include_content=False, version=args.version, as_of=args.as_of)
        if out is None and args.version is None and args.as_of is None:
            await _refuse_deleted(manager, args.id)
    if out is None and args.version is not None:  # a version it never had raised VersionNotFoundError
        raise ArtifactNotFoundError(
            f"version {args.version} of artifact {args.id} is its deletion; `history {args.id}` lists its versions",
            artifact_id=args.id,
        )
    if out is None:
        raise ArtifactNotFoundError(f"artifact {args.id} not found{_when(args)}", artifact_id=args.id)
    shown = render.artifact_json(out)
    if args.json:
        render.print_json(shown | ({"content_unavailable": unavailable} if unavailable else {}))
    else:
        render.console.print(render.artifacts_table([out], title=f"artifact {out.id}{_when(args)}"))
        render.console.print_json(data=shown["data"], default=str)
        if unavailable:
            render.console.print(f"content not shown: {unavailable}", markup=False, highlight=False, soft_wrap=True)
    return 0


async def _tree(args: argparse.Namespace) -> int:
    hierarchy = None
    if args.labels:
        labels = {level: label.strip() for level, label in enumerate(args.labels.split(","))}
        hierarchy = ArtifactHierarchy(name="cli", level_labels=labels)
    async with open_for_reads(args) as ledger, ledger.manager(hierarchy) as manager:
        node = await manager.build_tree(args.id, include_content=False, as_of=args.as_of)
        if node is None and args.as_of is None:
            await _refuse_deleted(manager, args.id)
    if node is None:
        raise ArtifactNotFoundError(f"artifact {args.id} not found{_when(args)}", artifact_id=args.id)
    if args.json:
        render.print_json(node.model_dump(mode="json"))
    else:
        if args.as_of:
            render.console.print(f"as of {shown_time(args.as_of)}", markup=False, highlight=False)
        render.console.print(render.tree_view(node))
    return 0


async def _history(args: argparse.Namespace) -> int:
    async with open_for_reads(args) as ledger, ledger.manager() as manager:
        versions = await manager.history(args.id)
        events = await manager.provenance_history(args.id) if args.provenance else None
    if args.json:
        shown = [v.model_dump(mode="json") for v in versions]
        if events is None:
            render.print_json(shown)
        else:
            render.print_json({"versions": shown, "provenance": [e.model_dump(mode="json") for e in events]})
    else:
        render.console.print(render.history_table(versions, events))
    return 0


async def _diff(args: argparse.Namespace) -> int:
    """What changed between two versions; content a retention run expired cannot be compared, so then
    the rest of the diff (data, the content's hash and size, parent, level, tags) is shown with a note."""
    unavailable: str | None = None
    async with open_for_reads(args) as ledger, ledger.manager() as manager:
        try:
            diff = await manager.diff(args.id, args.v1, args.v2)
        except ContentExpiredError as exc:
            unavailable = str(exc)
            diff = await manager.diff(args.id, args.v1, args.v2, content=False)
    if args.json:
        render.print_json(diff.model_dump(mode="json") | ({"content_unavailable": unavailable} if unavailable else {}))
    else:
        render.console.print(visible_lines(str(diff)), markup=False, highlight=False)
        if diff.content_diff is not None:
            render_content_diff(diff.content_diff, render.console)
        if unavailable:
            render.console.print(f"content not compared: {unavailable}", markup=False, highlight=False, soft_wrap=True)
    return 0


async def _audit(args: argparse.Namespace) -> int:
    async with open_for_reads(args) as ledger, ledger.manager() as manager:
        page = await manager.audit(
            artifact_id=args.artifact,
            subtree_of=args.subtree,
            actor=args.actor,
            event_type=args.type_,
            since=args.since,
            until=args.until,
            after=args.after,
            limit=args.limit,
        )
    if args.json:
        render.print_json(page.model_dump(mode="json"))
    else:
        render.console.print(render.audit_table(page))
    return 0


async def _verify(args: argparse.Namespace) -> int:
    if (args.key or args.verify_key_dir or args.verify_witness_key) and not args.checkpoints:
        # They check the signatures of checkpoint notes; without notes, nothing would be checked and
        # the OK below would read as if it had been.
        given = "--key" if args.key else "--key-dir" if args.verify_key_dir else "--witness-key"
        return checkpoint_cli.fail(
            f"{given} checks the signatures of checkpoint notes: give --checkpoints DIR (or git:PATH) too",
            checkpoint_cli.EXIT_USAGE,
        )
    async with Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger:
        with Progress(transient=True, disable=args.json or not render.console.is_terminal) as progress:
            task = progress.add_task("verifying", total=None)
            report = await ledger.verify(
                progress=lambda n: progress.update(task, completed=n),
                since=args.since,
                trusted_head=args.trusted_head,
                blobs=not args.chain_only,
                projections=False if args.chain_only else None,
            )
        notes, contradiction, keys, witnesses = 0, None, [], []
        if args.checkpoints:
            try:
                keys = checkpoint_cli.verifier_keys(ledger, args.key, args.verify_key_dir)
                witnesses = checkpoint_cli.witness_keys(args.verify_witness_key)
                witness_apart(keys, witnesses)
            except InvalidArgumentError as exc:  # a usage error: exit 2, nothing verified against the notes
                return checkpoint_cli.fail(str(exc), checkpoint_cli.EXIT_USAGE)
            notes, contradiction = await checkpoint_cli.check_directory(ledger, args.checkpoints, keys, witnesses)
    if args.json:
        extra = (
            {
                "checkpoints_checked": notes,
                "checkpoint_problem": contradiction,
                "signatures_checked": bool(keys or witnesses),
                "witnesses_required": len(witnesses),
            }
            if args.checkpoints
            else {}
        )
        render.print_json(dataclasses.asdict(report) | {"head": str(report.head)} | extra)
    elif report.ok:
        render.console.print(
            f"[green]OK[/green]: {report.events_checked} events, {report.blobs_checked} blobs, "
            f"{report.artifacts_checked} artifacts verified; head {report.head}"
        )
    else:
        where = f"position {report.broken_position}" if report.broken_position is not None else "the projections"
        render.console.print(f"[red]BROKEN[/red] ({report.reason}) at {where}: {escape(report.problem or '')}")
    if args.checkpoints and not args.json:
        if contradiction is None:
            render.console.print(f"[green]OK[/green]: the log holds the history of {notes} checkpoint(s)")
        else:
            render.console.print(
                f"[red]BROKEN[/red] (checkpoint) {escape(contradiction)}", highlight=False, soft_wrap=True
            )
        if not keys and not witnesses:
            render.console.print(
                "[yellow]signatures not checked[/yellow]: give --key VKEY or --key-dir DIR to require them "
                "(without, a note anyone could write is taken at its word)"
            )
    return 0 if report.ok and contradiction is None else 1


async def _rebuild(args: argparse.Namespace) -> int:
    async with Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger:
        with Progress(transient=True, disable=not render.console.is_terminal) as progress:
            task = progress.add_task("rebuilding", total=None)
            count = await ledger.rebuild(progress=lambda n: progress.update(task, completed=n))
    render.console.print(f"rebuilt the projections from {count} events")
    return 0


async def _restore(args: argparse.Namespace) -> int:
    """``restore ID``: the remedy ``patch``, ``alias set`` and ``show`` name for a deleted artifact."""
    async with (
        Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger,
        ledger.manager() as manager,
    ):
        live = await manager.find_by_id(args.id, include_content=False)
        out = live or await manager.restore(args.id, actor=args.actor, reason=args.reason)
    if args.json:
        render.print_json(render.artifact_json(out))
    elif live is not None:  # the library appends nothing for a live artifact: say so, not 'restored'
        render.console.print(
            f"artifact {out.id} is not deleted (version {out.version}): nothing was restored", soft_wrap=True
        )
    else:
        render.console.print(render.artifacts_table([out], title=f"restored at version {out.version}"))
    return 0


async def _demo(args: argparse.Namespace) -> int:
    return await run_demo(args.db, as_json=args.json, namespace=args.namespace, blobs=args.blobs)


_COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "demo": _demo,
    "ls": _ls,
    "show": _show,
    "tree": _tree,
    "history": _history,
    "diff": _diff,
    "audit": _audit,
    "verify": _verify,
    "rebuild": _rebuild,
    "restore": _restore,
    **OPERATIONS,
    **SERVE,
    **query.QUERY_COMMANDS,
    **provenance.PROVENANCE_COMMANDS,
    **retention.RETENTION_COMMANDS,
    **redaction.REDACTION_COMMANDS,
    **checkpoint_cli.CHECKPOINT_COMMANDS,
    **namespaces.NAMESPACE_COMMANDS,
}
