"""``POST /feedback``: the ground truth of a served request, 202 with what it was joined to.

It needs the feedback token (checked before the body is read: ground truth comes only from its
producer); :class:`service.dataplane.feedback.Feedback` checks the outcome against the model and stores it.
"""

from __future__ import annotations

from functools import partial

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.domain.identifiers import request_id_header
from service.dataplane.feedback import Feedback, parse_feedback
from service.rest.http import accept_request_id, bind_request, json_response, read_body

__all__ = ["routes"]


async def _post_feedback(request: Request) -> Response:
    intake: Feedback = request.app.state.feedback
    request_id = accept_request_id(request)
    bind_request(request, request_id)
    request.app.state.gates.feedback.check(request.headers)
    parsed = parse_feedback(await read_body(request, request.app.state.gateway.settings.max_body_bytes))
    accept = partial(
        intake.accept,
        parsed.request_id,
        parsed.outcome,
        parsed.observed_at,
        model=parsed.model,
        prediction_id=parsed.prediction_id,
    )
    result = await anyio.to_thread.run_sync(accept)  # the store blocks: off the event loop
    return json_response(result, 202, headers=request_id_header(request_id))


def routes() -> list[BaseRoute]:
    return [Route("/feedback", _post_feedback, methods=["POST"])]
