"""Scripted Ollama and OpenAI-compatible chat servers that call tools the way the real
ones do: asked with `tools`, they answer with `tool_calls` until a tool's result is in the
conversation, then with text that quotes it.  Every request body is kept."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


class ToolBackend:
    def __init__(
        self, calls: list[tuple[str, dict[str, Any]]], *, tools: bool = True, first: str = ""
    ) -> None:
        self.calls = calls  # (function name, arguments) to call when asked with tools
        self.tools = tools  # False: the model cannot call tools (as Ollama's error says)
        self.first = first  # what the model says before its calls
        self.requests: list[dict[str, Any]] = []

    def answer(self, body: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], str]:
        """The calls to make, or the text to say."""
        messages = body.get("messages") or []
        results = [m["content"] for m in messages if m.get("role") == "tool"]
        if body.get("tools") and not results:
            return self.calls, self.first
        return [], f"Here you are: {results[-1]}" if results else "Hello from the model."

    def ollama(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/chat")
        async def chat(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            model = body.get("model")
            if body.get("tools") and not self.tools:
                error = f"registry.ollama.ai/library/{model} does not support tools"
                return JSONResponse({"error": error}, status_code=400)
            calls, text = self.answer(body)
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = [
                    {"function": {"name": n, "arguments": a}} for n, a in calls
                ]
            part = {"model": model, "created_at": "2025-01-01T00:00:00Z", "message": message,
                    "done": True, "done_reason": "stop"}  # fmt: skip
            if body.get("stream") is False:
                return part
            return StreamingResponse(
                iter([json.dumps(part) + "\n"]), media_type="application/x-ndjson"
            )

        @app.post("/api/show")
        async def show() -> Any:
            return {"modelfile": "", "parameters": "", "template": "{{ .Tools }}", "model_info": {}}

        return app

    def openai(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def models() -> Any:
            return {"object": "list", "data": [{"id": "tooly", "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            calls, text = self.answer(body)
            if body.get("stream"):
                chunk = {"choices": [{"index": 0, "delta": {"content": text}}]}
                end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                lines = [f"data: {json.dumps(chunk)}\n\n", f"data: {json.dumps(end)}\n\n",
                         "data: [DONE]\n\n"]  # fmt: skip
                return StreamingResponse(iter(lines), media_type="text/event-stream")
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                message["tool_calls"] = [
                    {"id": f"call_{i}", "type": "function",
                     "function": {"name": n, "arguments": json.dumps(a)}}
                    for i, (n, a) in enumerate(calls)
                ]  # fmt: skip
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            return {"id": "c1", "object": "chat.completion", "choices": [choice]}

        return app
