"""The user's documents over HTTP: `POST /v1/documents` (multipart field `file`),
`GET /v1/documents`, `GET /v1/documents/{id}` (with its passages), `DELETE /v1/documents/{id}`.

The door authenticates these routes and caps their bodies as every route's
(`server.max_upload_bytes`); `knowledge.max_file_bytes` applies to the file itself.  Uploading
a file of the same name again replaces the document.  The documents belong to the server, not
to a key: they are the one knowledge base Leonardo answers from, whichever client asks.
Errors come in OpenAI's shape: a bad file is a 400 (415 for a format that is not read, 413 for
one too large), an unknown id a 404, an index built by another embedding model a 409.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse

from ..knowledge import (
    DocumentError,
    DocumentInfo,
    DocumentNotFound,
    EmbedderMismatch,
    Knowledge,
    KnowledgeError,
)
from ..knowledge.formats import kind_of
from .errors import error_response

log = logging.getLogger(__name__)

router = APIRouter(tags=["documents"])


def _knowledge(request: Request) -> Knowledge | None:
    return request.app.state.runtime.engines.knowledge  # type: ignore[no-any-return]


def document_json(info: DocumentInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "object": "document",
        "title": info.title,
        "source": info.source,
        "kind": info.kind,
        "chunks": info.chunks,
        "bytes": info.size_bytes,
        "sha256": info.content_hash,
        "created_at": int(info.created_at),
    }


def _failure(exc: KnowledgeError) -> JSONResponse:
    if isinstance(exc, DocumentNotFound):
        return error_response(404, "document_not_found", str(exc))
    if isinstance(exc, EmbedderMismatch):
        return error_response(409, "reindex_needed", str(exc))
    if isinstance(exc, DocumentError):
        return error_response(400, "invalid_document", str(exc))
    log.warning("documents: %s", exc)
    return error_response(503, "documents_unavailable", str(exc))


_OFF = (503, "documents_unavailable", "this server keeps no documents")


@router.post("/v1/documents", summary="Add a document (txt, md, pdf, html)", status_code=201)
async def add_document(
    request: Request, file: Annotated[UploadFile, File(description="txt, md, pdf or html")]
) -> JSONResponse:
    knowledge = _knowledge(request)
    if knowledge is None:
        return error_response(*_OFF)
    name = (file.filename or "").strip()
    if not name:
        return error_response(400, "invalid_document", "the uploaded file needs a file name")
    try:
        kind_of(name)
    except DocumentError as exc:
        return error_response(415, "unsupported_document", str(exc))
    limit = knowledge.settings.max_file_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        return error_response(
            413, "document_too_large", f"{name}: larger than knowledge.max_file_bytes ({limit})"
        )
    try:
        result = await knowledge.ingest(data, name)
    except KnowledgeError as exc:
        return _failure(exc)
    info = result.document
    body = {**document_json(info), "status": result.status}
    return JSONResponse(body, status_code=201 if result.status != "unchanged" else 200)


async def _answer(
    request: Request, work: Callable[[Knowledge], Awaitable[dict[str, Any]]]
) -> JSONResponse:
    """`work`'s answer over the server's documents, or the error it ran into."""
    knowledge = _knowledge(request)
    if knowledge is None:
        return error_response(*_OFF)
    try:
        return JSONResponse(await work(knowledge))
    except KnowledgeError as exc:
        return _failure(exc)


@router.get("/v1/documents", summary="The documents Leonardo answers from")
async def list_documents(request: Request) -> JSONResponse:
    async def listed(knowledge: Knowledge) -> dict[str, Any]:
        found = await knowledge.documents()
        return {"object": "list", "data": [document_json(d) for d in found]}

    return await _answer(request, listed)


@router.get("/v1/documents/{document_id}", summary="A document and its passages")
async def get_document(request: Request, document_id: str) -> JSONResponse:
    async def read(knowledge: Knowledge) -> dict[str, Any]:
        body = document_json(await knowledge.document(document_id))
        passages = await knowledge.passages_of(document_id)
        body["passages"] = [{"locator": c.locator, "text": c.text} for c in passages]
        return body

    return await _answer(request, read)


@router.delete("/v1/documents/{document_id}", summary="Remove a document")
async def delete_document(request: Request, document_id: str) -> JSONResponse:
    async def delete(knowledge: Knowledge) -> dict[str, Any]:
        await knowledge.delete(document_id)
        return {"id": document_id, "object": "document.deleted", "deleted": True}

    return await _answer(request, delete)
