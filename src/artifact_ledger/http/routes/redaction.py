"""``POST /{id}/$redact``: erase an artifact's content or data fields for good, the chain still verifying."""

# No ``from __future__ import annotations``: FastAPI reads the dependency aliases defined inside
# ``register`` from the annotations themselves, which string annotations would hide.

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ...manager import ArtifactManager
from ...redact import Redaction
from ..models import RedactBody
from ..responses import json_response
from ..service import JSON_BODY, Caller, Id, Service


def register(router: APIRouter, service: Service) -> None:
    Manager = Annotated[ArtifactManager, Depends(service.manager)]
    Writer = Annotated[Caller, Depends(service.writer)]

    @router.post(
        "/{entity_id}/$redact",
        dependencies=JSON_BODY,
        response_model=Redaction,
        summary="Erase an artifact's content or data fields for good; the chain still verifies",
        description="Erases the content (`fields` null) or the named top-level data fields of one version "
        "(`version`) or of every version, and records an `artifact.redacted` event (who: the caller; why: "
        "`reason` or `X-Reason`, required). Reads of erased content then answer 410. 404 for an unknown "
        "artifact or version, or content asked for where there is none; 400 for an unknown field, a missing "
        "reason, a version sealed under chain format 1 or a request that erases nothing new.",
    )
    async def redact(entity_id: Id, body: RedactBody, manager: Manager, caller: Writer) -> Response:
        done = await manager.redact(
            entity_id,
            version=body.version,
            fields=body.fields,
            actor=caller.actor,
            reason=body.reason or caller.reason,
        )
        service.notifier.notify()
        return json_response(done.model_dump(mode="json"))
