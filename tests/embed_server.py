"""A scripted embedding server: Ollama's `/api/embed` and the OpenAI-compatible
`/v1/embeddings`, on the loopback server of `tests/ollama_server.py` (same lifecycle, same
request log).

Vectors are made from the words of each text (feature hashing), so texts that share words
get similar vectors and a search over them finds the right passage; the same text always
gets the same vector.  `EmbedScript` says how the server misbehaves: an error status, a
missing model, too few vectors, a body that is not JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from tests.ollama_server import Exchange, OllamaServer, _canonical, _send_json

_WORD = re.compile(r"\w+")


def word_vector(text: str, dimension: int) -> list[float]:
    """A bag-of-words vector: each lowercase word adds 1 to a coordinate chosen by its hash."""
    v = [0.0] * dimension
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        v[int.from_bytes(digest, "little") % dimension] += 1.0
    if not any(v):
        v[0] = 1.0
    return v


@dataclass
class EmbedScript:
    models: tuple[str, ...] = ("nomic-embed-text:latest", "text-embedding-3-small")
    dimension: int = 64
    fail_status: int | None = None  # answer with this status and `fail_message`
    fail_message: str = "scripted failure"
    drop_one: bool = False  # send one vector fewer than asked for
    not_json: bool = False  # a 200 whose body is not JSON
    delay: float = 0.0  # seconds before answering


class EmbedServer(OllamaServer):
    def __init__(self, script: EmbedScript | None = None) -> None:
        super().__init__()
        self.embed_script = script or EmbedScript()

    def embeds(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path in ("/api/embed", "/v1/embeddings")]

    def reset(self, script: EmbedScript | None = None) -> None:  # type: ignore[override]
        super().reset()
        self.embed_script = script or EmbedScript()

    async def _respond(
        self, ex: Exchange, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if ex.path not in ("/api/embed", "/v1/embeddings"):
            return await super()._respond(ex, reader, writer)
        s = self.embed_script
        if s.delay:
            await asyncio.sleep(s.delay)
        openai = ex.path == "/v1/embeddings"
        model = str(ex.body.get("model", ""))
        known = {_canonical(m) for m in s.models} | set(s.models)
        if model not in known and _canonical(model) not in known:
            if openai:
                error = {"message": f"The model `{model}` does not exist", "type": "invalid"}
                return await _send_json(writer, 404, {"error": error})
            return await _send_json(writer, 404, {"error": f"model '{model}' not found"})
        if s.fail_status is not None:
            body: dict[str, Any] = (
                {"error": {"message": s.fail_message}} if openai else {"error": s.fail_message}
            )
            return await _send_json(writer, s.fail_status, body)
        texts = ex.body.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        vectors = [word_vector(t, s.dimension) for t in texts]
        if s.drop_one:
            vectors = vectors[:-1]
        if s.not_json:
            data = b"<html>gateway error</html>"
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + data)
            return await writer.drain()
        if openai:
            # Out of order on purpose: clients must sort by `index`.
            data_items = [
                {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
            ][::-1]
            usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
            reply = {"object": "list", "data": data_items, "model": model, "usage": usage}
        else:
            reply = {"model": model, "embeddings": vectors, "total_duration": 1}
        await _send_json(writer, 200, reply)
