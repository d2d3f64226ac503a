"""Every ledger error has a chosen HTTP status; only the server's own faults are a 500."""

from __future__ import annotations

import importlib
import pkgutil

import httpx
from http_support import API, assert_problem, create

import artifact_ledger
from artifact_ledger import Ledger, errors
from artifact_ledger.http.problems import STATUSES, status_for, status_of
from artifact_ledger.projections.projector import ProjectionError
from artifact_ledger.sync import SyncUsageError

SERVER_FAULTS = {
    errors.ChainBrokenError,
    errors.UntrustedContentError,
    errors.CorruptBlobError,
    errors.MissingBlobError,  # a blob the log references is gone from the store
    errors.BlobStoreError,  # the configured blob directory cannot be used
    errors.UnknownCodecError,  # stored content the server cannot decode; 422 on a write (ON_WRITES)
    errors.ProjectionDriftError,
    errors.MerkleDriftError,
    ProjectionError,
    errors.IntegrityViolationError,
    errors.SchemaTamperedError,
    errors.MissingExtraError,
    errors.StorageCorruptError,
    errors.ConcurrentUseError,
    SyncUsageError,
    errors.NotAReplicaError,
}
"""The errors that mean the server (its storage, its installation, its code) is at fault: 500."""


def _every_ledger_error() -> set[type[errors.LedgerError]]:
    """Every subclass of LedgerError in the package (modules that need a missing extra are left out)."""
    for module in pkgutil.walk_packages(artifact_ledger.__path__, "artifact_ledger."):
        if module.name.endswith("__main__"):  # runs the CLI
            continue
        try:
            importlib.import_module(module.name)
        except ImportError:  # pragma: no cover - an extra the test environment lacks
            continue
    found: set[type[errors.LedgerError]] = set()
    pending = [errors.LedgerError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return found


def test_every_ledger_error_maps_to_a_chosen_status() -> None:
    classes = _every_ledger_error()
    assert {errors.ArtifactAliasedError, errors.InvalidLinkError, errors.AliasNotFoundError} <= classes
    mapped = {cls for cls, _ in STATUSES}
    unchosen = []
    for cls in sorted(classes, key=lambda c: c.__qualname__):
        chosen = next(c for c, _ in STATUSES if issubclass(cls, c))
        if chosen is errors.LedgerError:
            unchosen.append(cls.__qualname__)  # it falls through to the catch-all
        elif status_for(cls) == 500 and cls not in SERVER_FAULTS:
            unchosen.append(f"{cls.__qualname__} (500 but not a server fault)")
    assert unchosen == [], f"ledger errors without a status of their own in problems.STATUSES: {unchosen}"
    assert classes >= SERVER_FAULTS
    assert all(status_for(cls) == 500 for cls in SERVER_FAULTS)
    assert errors.LedgerError in mapped


def test_the_alias_and_lineage_errors_statuses() -> None:
    assert status_for(errors.ArtifactAliasedError) == 409
    assert status_for(errors.AliasProtectedError) == 409
    assert status_for(errors.AliasNotFoundError) == 404
    assert status_for(errors.InvalidLinkError) == 422
    assert status_for(errors.InvalidAliasNameError) == 400
    assert status_for(errors.ContentNotFoundError) == 404
    assert status_for(errors.ContentExpiredError) == 410
    assert status_for(errors.HoldNotFoundError) == 404
    assert status_for(errors.InvalidQueryError) == 400
    codec = errors.UnknownCodecError("no codec 'nope'")
    assert status_of(codec) == 500
    assert status_of(codec, writing=True) == 422
    assert status_of(errors.AliasNotFoundError("x"), writing=True) == 404


async def test_content_of_an_unregistered_codec_sent_by_a_write_is_422(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    model = await create(client, {"name": "model"})
    head = await ledger.head()
    media = "application/vnd.artifact-ledger.codec.nope"
    upload = await client.put(f"{API}/{model['id']}/$content", content=b"abc", headers={"content-type": media})
    assert "nope" in assert_problem(upload, 422)["detail"]
    created = await client.post(API, json={"data": {"content": "abc", "content_type": media}})
    assert assert_problem(created, 422)["type"].endswith(":unknown-codec")
    assert await ledger.head() == head


async def test_delete_of_an_aliased_artifact_is_409_and_records_nothing(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    model = await create(client, {"name": "model"})
    async with ledger.manager() as manager:
        await manager.set_alias("production", model["id"])
    head = await ledger.head()
    body = assert_problem(await client.delete(f"{API}/{model['id']}"), 409)
    assert body["type"].endswith(":artifact-aliased")
    assert "production" in body["detail"]
    assert model["id"] in body["detail"]
    assert await ledger.head() == head
    assert (await client.get(f"{API}/{model['id']}")).status_code == 200
    response = await client.delete(f"{API}/{model['id']}", params={"cascade": "true"})
    assert response.status_code == 204
    async with ledger.manager() as manager:
        assert await manager.aliases() == []
