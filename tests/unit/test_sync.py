"""The sync API covers the async one: every public method of ArtifactManager and Ledger has a
blocking twin with the same signature (no database needed)."""

from __future__ import annotations

import inspect

import pytest

from artifact_ledger import ArtifactManager, Ledger, LedgerError, sync

NOT_WRAPPED = {
    (Ledger, "repository"): "takes an AsyncSession: use sync_ledger.async_ledger.repository(...) in async code",
}


def public(cls: type) -> list[str]:
    return sorted(
        name
        for name, member in vars(cls).items()
        if not name.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, staticmethod | classmethod | property))
    )


CASES = [(s, a, name) for s, a in sync.WRAPPED.items() for name in public(a) if (a, name) not in NOT_WRAPPED]


@pytest.mark.parametrize(("sync_class", "async_class", "name"), CASES, ids=lambda v: getattr(v, "__name__", v))
def test_every_public_method_has_a_blocking_twin(sync_class: type, async_class: type, name: str) -> None:
    mine = inspect.getattr_static(sync_class, name, None)
    assert mine is not None, f"sync.{sync_class.__name__} lacks {name}"
    theirs = inspect.getattr_static(async_class, name)
    if isinstance(theirs, property):
        assert isinstance(mine, property)
        return
    function = getattr(sync_class, name)
    assert not inspect.iscoroutinefunction(function), f"sync.{sync_class.__name__}.{name} is a coroutine"
    assert not inspect.isasyncgenfunction(function)
    if inspect.iscoroutinefunction(getattr(async_class, name)) and name != "close":
        assert inspect.signature(function) == inspect.signature(getattr(async_class, name))
        assert function.__doc__ == getattr(async_class, name).__doc__


def test_context_managers_are_plain_context_managers() -> None:
    """transaction() and manager() are `with` blocks, not `async with` ones."""
    for function in (sync.Ledger.manager, sync.Ledger.transaction, sync.ArtifactManager.transaction):
        assert not inspect.iscoroutinefunction(function)
    assert inspect.isgeneratorfunction(sync.ArtifactManager.iter_all)


def test_sync_usage_error_is_a_ledger_error() -> None:
    assert issubclass(sync.SyncUsageError, LedgerError)
    assert issubclass(sync.SyncUsageError, RuntimeError)


def test_the_async_classes_are_the_ones_exported() -> None:
    assert sync.WRAPPED[sync.ArtifactManager] is ArtifactManager
    assert sync.WRAPPED[sync.Ledger] is Ledger


def test_open_takes_the_async_opens_arguments() -> None:
    """sync.Ledger.open has every argument Ledger.open has (name, kind, default, type), in order:
    a new one on the async side fails here until the sync twin passes it through."""
    mine = list(inspect.signature(sync.Ledger.open).parameters.values())
    theirs = list(inspect.signature(Ledger.open).parameters.values())
    assert mine == theirs


def test_every_sync_method_has_a_typed_line() -> None:
    """A coroutine method without a typed line in sync.py still works (a wrapper is generated at
    import) but type checkers see nothing of it: each one gets its line, as find and patch now have."""
    assert sync.GENERATED == {}
