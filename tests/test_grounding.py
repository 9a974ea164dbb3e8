"""The pure parts of grounded answers: which turns ask for the documents, the line that names
the source and reads out the answer, and which spoken sentences draw on which passage."""

from __future__ import annotations

import numpy as np
import pytest

from zenglow.knowledge import Passage
from zenglow.knowledge.grounding import (
    best_sentence,
    drawn_from,
    grounding_prompt,
    lead_line,
    passage_sentences,
    spoken_title,
)
from zenglow.personas.routing import RoutingRules, asks_documents, route

RULES = RoutingRules()
LEAVE = Passage(
    "doc1",
    "Staff Handbook",
    "Leave > Annual leave",
    "## Annual leave\nEvery staff member gets 27 days of paid holiday a year. Unused days "
    "may be carried over until the end of March.",
    0.61,
)
BUOY = Passage(
    "doc2",
    "manual.pdf",
    "p. 3",
    "The battery bank is replaced every 30 months, or sooner when the health figure falls.",
    0.52,
)


@pytest.mark.parametrize(
    "said",
    [
        "According to my notes, which sensor did we pick?",
        "In the handbook, how many days off do I get?",
        "What does the manual say about fault E22?",
        "check my documents for the budget",
        "what is in my files about the harbour",
        "Leonardo, what do my notes say about the budget?",
    ],
)
def test_questions_about_the_documents_are_recognised(said: str) -> None:
    assert asks_documents(said, RULES)


@pytest.mark.parametrize(
    "said",
    ["How are you today?", "Tell me about my day", "Take notes of this", "What is a handbook?"],
)
def test_other_turns_do_not_ask_for_the_documents(said: str) -> None:
    assert asks_documents(said, RULES) is None


def test_a_document_question_goes_to_leonardo_with_a_handoff() -> None:
    r = route("According to my notes, which sensor did we pick?", rules=RULES)
    assert (r.persona, r.reason, r.escalated) == ("leonardo", "documents", True)
    assert r.cue == "according to my notes"
    # addressing still wins, and needs no handoff
    r = route("Jarvis, what does the handbook say about leave?", rules=RULES)
    assert (r.persona, r.reason) == ("jarvis", "addressed")
    r = route("Leonardo, what does the handbook say about leave?", rules=RULES)
    assert (r.persona, r.reason, r.escalated) == ("leonardo", "addressed", False)


def test_the_lead_names_the_source_and_reads_the_answering_sentence() -> None:
    candidates = passage_sentences(LEAVE)
    assert candidates[0].startswith("## Annual leave") or "Annual leave" in candidates[0]
    chosen = best_sentence("How many days of holiday do I get each year?", candidates)
    assert "27 days" in chosen
    line = lead_line(LEAVE, chosen)
    assert line == (
        "According to Staff Handbook: Every staff member gets 27 days of paid holiday a year."
    )
    assert spoken_title("garden_rules.md") == "garden rules"
    assert lead_line(BUOY, "replaced every 30 months").endswith("replaced every 30 months.")


def test_similarities_choose_the_sentence_when_words_do_not() -> None:
    candidates = ["Unused days may be carried over.", "Every member gets 27 days."]
    assert best_sentence("vacation allowance", candidates, np.array([0.2, 0.7])) == candidates[1]
    assert best_sentence("vacation allowance", candidates, np.array([0.7, 0.2])) == candidates[0]
    with pytest.raises(ValueError):
        best_sentence("anything", [])


def test_sentences_are_matched_to_the_passages_they_draw_on() -> None:
    passages = [LEAVE, BUOY]
    assert drawn_from("You get 27 days of paid holiday each year.", passages) == [0]
    assert drawn_from("The buoy's battery bank lasts 30 months.", passages) == [1]
    assert drawn_from("Staff Handbook covers that too.", passages) == [0]  # named
    assert drawn_from("Let me hand that to Leonardo.", passages) == []


def test_the_prompt_carries_every_passage_with_its_source() -> None:
    prompt = grounding_prompt([LEAVE, BUOY], "According to Staff Handbook: 27 days.")
    assert "[1] Staff Handbook (Leave > Annual leave)" in prompt
    assert "[2] manual.pdf (p. 3)" in prompt
    assert "27 days of paid holiday" in prompt and "30 months" in prompt
    assert "According to Staff Handbook: 27 days." in prompt
    assert "could not find" in prompt
