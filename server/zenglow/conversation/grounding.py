"""Grounding: a turn about the user's documents is answered by Leonardo from them.

After routing, `Grounding.ground(turn, messages)` searches the documents with the user's
words when the analyst answers (or the default persona would, and a passage comes close
enough: `Knowledge.route_similarity`, then the turn is handed to the analyst).  With passages,
the turn opens with a line naming its source and reading out the sentence that answers
(`knowledge.grounding.lead_line`), the prompt carries every passage with its source, and each
sentence that draws on a source is announced as it starts to play (`SourcesCited`, the
`zenglow.citations` event).  Asked about the documents with nothing relevant found, the
analyst says so (`NOT_FOUND`) and the chat model is not called: nothing is invented.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

from ..engines.base import ChatMessage
from ..knowledge import Knowledge, KnowledgeError, Passage
from ..knowledge.grounding import (
    NOT_FOUND,
    PROMPT_PASSAGES,
    best_sentence,
    drawn_from,
    grounding_prompt,
    lead_line,
    passage_sentences,
)
from ..personas.routing import asks_documents
from .context import SessionContext
from .events import SourcesCited
from .router import Router
from .turn import Turn

log = logging.getLogger(__name__)

QUESTION_CHARS = 1000  # the search reads this much of the user's turn
NO_DOCUMENTS = "I cannot reach your documents right now."


class CannedReply:
    """A chat model that says one line: an answer that must not be left to a model."""

    def __init__(self, line: str, name: str = "documents") -> None:
        self.line, self.name = line, name

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncIterator[str]:
        yield self.line


class Citations:
    """Tells the client which sources each sentence of a grounded answer draws on, as that
    sentence starts to play."""

    def __init__(self, turn: Turn, passages: Sequence[Passage]) -> None:
        self.turn, self.passages = turn, tuple(passages)

    async def spoken(self, sentence: str, offset_ms: float | None) -> None:
        found = drawn_from(sentence, self.passages)
        if sentence == self.turn.lead and 0 not in found:
            found.insert(0, 0)  # the line that reads out the best passage names it
        if found:
            sources = tuple(self.passages[i] for i in found)
            t = self.turn
            await t.emit(SourcesCited(t.response_id, t.item_id, offset_ms, sentence, sources))


class Grounding:
    def __init__(self, ctx: SessionContext, router: Router) -> None:
        self.ctx, self.router = ctx, router

    async def ground(self, turn: Turn, messages: list[ChatMessage]) -> list[ChatMessage]:
        """The turn's messages, with passages when its answer should come from documents."""
        knowledge = self.ctx.engines.knowledge
        rules = self.router.rules
        personas = self.ctx.engines.settings.personas
        if knowledge is None or rules.analyst not in personas:
            return messages  # no documents, or nobody to answer from them
        if not messages or messages[-1]["role"] != "user":
            return messages
        question = messages[-1]["content"][:QUESTION_CHARS]
        asked = turn.reason == "documents" or asks_documents(question, rules) is not None
        unasked_default = turn.reason == "default" and turn.persona != rules.analyst
        if turn.persona != rules.analyst and not unasked_default:
            return messages  # another persona was addressed, or the session is pinned to it
        try:
            passages = await self._search(knowledge, question)
        except KnowledgeError as exc:
            log.warning("session %s: document search failed: %s", self.ctx.config.id, exc)
            if asked:
                turn.chat = CannedReply(NO_DOCUMENTS)
            return messages
        if not asked:
            passages = [p for p in passages if p.score >= knowledge.route_similarity]
        if not passages:
            if asked:
                turn.chat = CannedReply(NOT_FOUND)
            return messages
        passages = passages[:PROMPT_PASSAGES]
        if turn.persona != rules.analyst:  # a close passage: the analyst answers from it
            cue = f"passage of {passages[0].title} at {passages[0].score:.2f}"
            self.router.hand_to(turn, rules.analyst, "documents", cue, escalated=True)
            messages = self.router.with_system(turn, messages)
        turn.on_sentence = Citations(turn, passages).spoken
        turn.lead = asyncio.ensure_future(self._lead(knowledge, messages, passages))
        return messages

    async def _lead(
        self, knowledge: Knowledge, messages: list[ChatMessage], passages: list[Passage]
    ) -> str:
        """The opening line, made while the handoff line plays.  It completes the system
        prompt, which quotes it, in `messages` (the turn's own list: its model waits for
        the line before it reads them)."""
        question = messages[-1]["content"][:QUESTION_CHARS]
        lead = lead_line(passages[0], await answering_sentence(knowledge, question, passages[0]))
        system = f"{messages[0]['content']}\n\n{grounding_prompt(passages, lead)}"
        messages[0] = {"role": "system", "content": system}
        return lead

    async def _search(self, knowledge: Knowledge, question: str) -> list[Passage]:
        if await knowledge.passage_count() == 0:
            return []  # nothing ingested: no embedding to pay for
        return await knowledge.search(question)


async def answering_sentence(knowledge: Knowledge, question: str, passage: Passage) -> str:
    """The passage's sentence closest to the question (by its embedding, and the words they
    share); by the shared words alone if the embedding model fails."""
    candidates = passage_sentences(passage) or [passage.text]
    if len(candidates) == 1:
        return candidates[0]
    try:
        rows = await knowledge.embedder.embed_documents(candidates)
        query = await knowledge.embedder.embed_query(question)
    except KnowledgeError as exc:
        log.warning("choosing the sentence to read out without embeddings: %s", exc)
        return best_sentence(question, candidates)
    return best_sentence(question, candidates, rows @ query)
