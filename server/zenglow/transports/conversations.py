"""The conversation routes: the caller's conversations, listed, read, exported and erased.

GET    /v1/conversations                 newest first; `?limit=` (1-100), `?after=ID` pages on
GET    /v1/conversations/{id}            the conversation and its items
GET    /v1/conversations/{id}/export     the same as a JSON file to keep
DELETE /v1/conversations/{id}            erased from disk
DELETE /v1/conversations                 every conversation of the caller's key

A conversation belongs to the key that made it (with auth off, to the server): another
key's is answered as unknown.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..runtime import Runtime
from ..storage import ConversationInfo, ConversationStore, StorageError, StoredItem
from .door.keys import Principal
from .errors import error_response

PATH = "/v1/conversations"
MAX_LIMIT = 100
EXPORT_FORMAT = "zenglow.conversation.export/1"


def _not_found(conversation_id: str) -> Response:
    return error_response(
        404, "conversation_not_found", f"no conversation with id {conversation_id[:64]!r}"
    )


def conversation_json(info: ConversationInfo, items: list[StoredItem]) -> dict[str, object]:
    return {**info.as_json(), "data": [i.as_json() for i in items]}


def add_conversation_routes(app: FastAPI, runtime: Runtime) -> None:
    def store() -> ConversationStore | None:
        return runtime.conversations.store

    def owner(request: Request) -> str:
        principal: Principal = request.state.principal
        return principal.owner

    async def read(request: Request, conversation_id: str) -> Response | dict[str, object]:
        """The conversation as JSON, or the error answer (unknown, foreign, store down)."""
        s = store()
        if s is None:
            return _not_found(conversation_id)
        try:
            info = await s.conversation(conversation_id, owner(request))
            items = await s.items(conversation_id, owner(request)) if info else None
        except StorageError as exc:
            return error_response(503, exc.code, exc.message)
        if info is None or items is None:
            return _not_found(conversation_id)
        return conversation_json(info, items)

    @app.get(PATH, summary="The caller's conversations, newest first")
    async def list_conversations(
        request: Request, limit: int = 20, after: str | None = None
    ) -> Response:
        if not 1 <= limit <= MAX_LIMIT:
            return error_response(400, "invalid_value", f"limit must be 1 to {MAX_LIMIT}")
        s = store()
        if s is None:
            return JSONResponse({"object": "list", "data": [], "has_more": False})
        before = None
        try:
            if after:
                last = await s.conversation(after, owner(request))
                if last is None:
                    return _not_found(after)
                before = last.updated_at
            found = await s.conversations(owner(request), limit=limit + 1, before=before)
        except StorageError as exc:
            return error_response(503, exc.code, exc.message)
        page = found[:limit]
        return JSONResponse(
            {
                "object": "list",
                "data": [c.as_json() for c in page],
                "has_more": len(found) > limit,
                "last_id": page[-1].id if page else None,
            }
        )

    @app.get(PATH + "/{conversation_id}", summary="A conversation and its items")
    async def get_conversation(conversation_id: str, request: Request) -> Response:
        body = await read(request, conversation_id)
        return body if isinstance(body, Response) else JSONResponse(body)

    @app.get(PATH + "/{conversation_id}/export", summary="A conversation as a JSON file")
    async def export_conversation(conversation_id: str, request: Request) -> Response:
        body = await read(request, conversation_id)
        if isinstance(body, Response):
            return body
        body = {"format": EXPORT_FORMAT, "exported_at": round(time.time(), 3), **body}
        disposition = f'attachment; filename="{conversation_id}.json"'
        return JSONResponse(body, headers={"Content-Disposition": disposition})

    @app.delete(PATH + "/{conversation_id}", summary="Erase a conversation from disk")
    async def delete_conversation(conversation_id: str, request: Request) -> Response:
        s = store()
        try:
            gone = s is not None and await s.delete(conversation_id, owner(request))
        except StorageError as exc:
            return error_response(503, exc.code, exc.message)
        if not gone:
            return _not_found(conversation_id)
        return JSONResponse(
            {"id": conversation_id, "object": "zenglow.conversation.deleted", "deleted": True}
        )

    @app.delete(PATH, summary="Erase every conversation of the caller's key")
    async def erase_all(request: Request) -> Response:
        s = store()
        try:
            gone = await s.erase_owner(owner(request)) if s is not None else 0
        except StorageError as exc:
            return error_response(503, exc.code, exc.message)
        return JSONResponse({"object": "zenglow.conversations.deleted", "deleted": gone})
