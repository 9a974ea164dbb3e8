"""Persona routing: addressing, analytical escalation, stickiness and handoff lines (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from zenglow.personas.routing import HANDOFF_LINES, RoutingRules, classify, handoff_line, route

RULES = RoutingRules()
J, L = "jarvis", "leonardo"

# (transcript as speech recognition writes it, who should answer, kind of turn)
# kind: "chat" (Jarvis answers by default), "analytical" (escalates to Leonardo),
# "addressed" (the persona named answers, whatever the content).
LABELLED: list[tuple[str, str, str]] = [
    # small talk and quick requests
    ("what's the weather like today", J, "chat"),
    ("How are you doing today?", J, "chat"),
    ("um hi how's it going", J, "chat"),
    ("whats up", J, "chat"),
    ("tell me a joke", J, "chat"),
    ("Set a timer for ten minutes.", J, "chat"),
    ("what time is it", J, "chat"),
    ("thanks that was really helpful", J, "chat"),
    ("What's the capital of France?", J, "chat"),
    ("who won the game last night", J, "chat"),
    ("remind me to call mom at five", J, "chat"),
    ("I'm feeling a bit tired today", J, "chat"),
    ("uh okay sounds good", J, "chat"),
    ("How cool is that!", J, "chat"),
    ("why not", J, "chat"),
    ("how old are you", J, "chat"),
    ("do you like music", J, "chat"),
    ("what's your favourite colour", J, "chat"),
    ("can you turn the lights off in the kitchen", J, "chat"),
    ("good morning", J, "chat"),
    ("I had a great day at work, my boss liked my presentation", J, "chat"),
    ("play some relaxing music please", J, "chat"),
    ("how have you been", J, "chat"),
    ("Good night, see you tomorrow.", J, "chat"),
    ("hmm i don't know why but i'm in a good mood", J, "chat"),
    ("how do i turn up the volume", J, "chat"),
    ("what should we have for dinner tonight", J, "chat"),
    ("HOW ARE YOU", J, "chat"),
    ("what's a good name for a cat", J, "chat"),
    ("how's the weather in london", J, "chat"),
    ("how many ounces are in a cup", J, "chat"),
    ("tell me something interesting", J, "chat"),
    ("I love how you said that", J, "chat"),
    ("the function starts at eight tonight, what should I wear", J, "chat"),
    ("play the song one plus one by beyonce", J, "chat"),
    # names mentioned in passing are not addresses
    ("I read about Leonardo da Vinci yesterday", J, "chat"),
    ("Leonardo da Vinci painted the Mona Lisa right", J, "chat"),
    ("my favourite painter is leonardo", J, "chat"),
    ("is jarvis a real ai", J, "chat"),
    ("tell me about leonardo", J, "chat"),
    ("Jarvis was the butler in Iron Man", J, "chat"),
    ("leonardo dicaprio won an oscar", J, "chat"),
    ("I watched a movie about jarvis last night", J, "chat"),
    ("leonardo is my favourite ninja turtle", J, "chat"),
    ("I think jarvis is funny", J, "chat"),
    ("say hi to leonardo", J, "chat"),
    ("why did leonardo da vinci write backwards", L, "analytical"),
    # analytical turns
    ("why is the sky blue", L, "analytical"),
    ("Why is the sky blue?", L, "analytical"),
    ("can you compare these two options", L, "analytical"),
    ("um can you like compare these two laptops for me", L, "analytical"),
    ("explain how a transistor works", L, "analytical"),
    ("what's the difference between a virus and bacteria", L, "analytical"),
    ("walk me through setting up a virtual environment step by step", L, "analytical"),
    ("write a function that reverses a string", L, "analytical"),
    ("what is 17 times 23", L, "analytical"),
    ("what's seventeen times twenty three", L, "analytical"),
    ("solve x squared minus four equals zero", L, "analytical"),
    ("analyze this contract for risks", L, "analytical"),
    ("Can you summarize this document for me?", L, "analytical"),
    ("what are the pros and cons of electric cars", L, "analytical"),
    ("how does compound interest work", L, "analytical"),
    ("WHY DOES ICE FLOAT ON WATER", L, "analytical"),
    ("uh why did the roman empire fall", L, "analytical"),
    ("how do vaccines train the immune system", L, "analytical"),
    ("help me debug this python error", L, "analytical"),
    ("what's the time complexity of quicksort", L, "analytical"),
    ("should I rent or buy a house in this market", L, "analytical"),
    ("what would happen if the moon disappeared", L, "analytical"),
    ("give me a detailed breakdown of my monthly budget", L, "analytical"),
    ("what's the probability of rolling two sixes", L, "analytical"),
    ("help me plan a trip to japan for two weeks", L, "analytical"),
    ("which is better, tea or coffee", L, "analytical"),
    ("what's 15 percent of 80", L, "analytical"),
    ("can you explain that again", L, "analytical"),
    (
        "is it better to pay off debt first or invest, and what about the emergency fund",
        L,
        "analytical",
    ),
    (
        "so I'm thinking about changing jobs and I wonder what the main risks are and how I "
        "should negotiate the salary and also whether it makes sense to move to another city",
        L,
        "analytical",
    ),
    (
        "okay so my team has two deadlines next week what do we drop first and who should we "
        "ask for help if the client changes the scope again",
        L,
        "analytical",
    ),
    # addressed by name: the persona named answers, whatever the content
    ("Leonardo, why is the sky blue?", L, "addressed"),
    ("leonardo can you compare these two options", L, "addressed"),
    ("hey jarvis what time is it", J, "addressed"),
    ("Jarvis, explain quantum computing step by step.", J, "addressed"),
    ("what do you think, Leonardo?", L, "addressed"),
    ("um leonardo tell me a joke", L, "addressed"),
    ("leo what's up", L, "addressed"),
    ("okay jarvis compare these two phones", J, "addressed"),
    ("leo nardo how are you", L, "addressed"),
    ("thanks jarvis", J, "addressed"),
    ("good morning leonardo", L, "addressed"),
    ("LEONARDO WHAT IS 2 PLUS 2", L, "addressed"),
    ("Jarvis.", J, "addressed"),
    ("so, leonardo, what's your take on this plan?", L, "addressed"),
    ("I was wondering, Jarvis, why the sky is blue", J, "addressed"),
    ("jarvis is it going to rain tomorrow", J, "addressed"),
    ("Hey Leonardo!", L, "addressed"),
    ("what did you think of the film jarvis", J, "addressed"),
    ("Jarvis: walk me through the proof.", J, "addressed"),
    ("uh jarvis um why do cats purr", J, "addressed"),
]


def test_labelled_set_accuracy() -> None:
    assert len(LABELLED) >= 60
    wrong = [(t, want, route(t, rules=RULES).persona) for t, want, _ in LABELLED]
    wrong = [w for w in wrong if w[1] != w[2]]
    accuracy = 1 - len(wrong) / len(LABELLED)
    print(f"accuracy {accuracy:.3f} on {len(LABELLED)} turns; wrong: {wrong}")
    assert accuracy >= 0.9, wrong


def test_addressed_turns_are_all_addressed_to_the_right_persona() -> None:
    for text, want, kind in LABELLED:
        r = route(text, rules=RULES)
        if kind == "addressed":
            assert (r.persona, r.reason) == (want, "addressed"), text
            assert r.cue is not None and r.cue.replace(" ", "") in (*RULES.names[want], want)
            assert not r.escalated
        else:
            assert r.reason != "addressed", text


def test_names_mentioned_in_passing_are_not_addresses() -> None:
    for text in [
        "I read about Leonardo da Vinci",
        "Leonardo da Vinci painted the Mona Lisa",
        "leonardo painted the mona lisa didn't he",
        "what did leonardo da vinci invent",
        "is jarvis a real ai",
        "Jarvis said hello to me in the movie",
        "I think jarvis is funny",
        "do you know jarvis",
        "what do you think of leonardo",
        "I want to talk to leonardo da vinci",
        "leonardo's notebooks are in london",
    ]:
        r = route(text, rules=RULES)
        assert r.reason not in ("addressed", "stick"), (text, r)
        assert r.text == text


@pytest.mark.parametrize(
    ("text", "persona", "rest"),
    [
        ("Leonardo, why is the sky blue?", L, "why is the sky blue?"),
        ("um leonardo tell me a joke", L, "tell me a joke"),
        ("hey jarvis what time is it", J, "what time is it"),
        ("Hey, Jarvis - what time is it?", J, "what time is it?"),
        ("what do you think, Leonardo?", L, "what do you think?"),
        ("Jarvis.", J, ""),
        ("leo nardo how are you", L, "how are you"),
        ("Leonardo, Leonardo, are you there?", L, "Leonardo, are you there?"),
        ("jarvis jarvis what time is it", J, "jarvis what time is it"),
        ("I was wondering, Jarvis, why the sky is blue", J, "I was wondering, why the sky is blue"),
    ],
)
def test_the_address_is_removed_from_the_text(text: str, persona: str, rest: str) -> None:
    r = route(text, rules=RULES)
    assert (r.persona, r.reason, r.text, r.sticky, r.escalated) == (
        persona,
        "addressed",
        rest,
        None,
        False,
    )


def test_unaddressed_turns_keep_their_text_and_say_why() -> None:
    chat = route("um what time is it", rules=RULES)
    assert (chat.persona, chat.reason, chat.escalated, chat.cue, chat.text) == (
        J,
        "default",
        False,
        None,
        "um what time is it",
    )
    deep = route("Why is the sky blue?", rules=RULES)
    assert (deep.persona, deep.reason, deep.escalated, deep.cue) == (L, "analytical", True, "why")
    assert deep.text == "Why is the sky blue?" and deep.sticky is None


def follow(turns: list[str], rules: RoutingRules = RULES) -> list[tuple[str, str, str | None]]:
    """Route turns one after another, carrying `sticky` along like a session does."""
    sticky: str | None = None
    out: list[tuple[str, str, str | None]] = []
    for turn in turns:
        r = route(turn, rules=rules, sticky=sticky)
        sticky = r.sticky
        out.append((r.persona, r.reason, r.sticky))
    return out


def test_stick_route_override_and_unstick() -> None:
    assert follow(
        [
            "Leonardo, stay with me",
            "what's the weather like",
            "tell me a joke",
            "jarvis what time is it",  # addressed: Jarvis answers once, Leonardo stays sticky
            "and why is that",
            "ok back to automatic",
            "what's the weather like",
            "why is the sky blue",
        ]
    ) == [
        (L, "stick", L),
        (L, "sticky", L),
        (L, "sticky", L),
        (J, "addressed", L),
        (L, "sticky", L),
        (J, "unstick", None),
        (J, "default", None),
        (L, "analytical", None),
    ]


def test_sticking_to_the_default_persona_stops_escalation_and_the_other_name_switches() -> None:
    assert follow(
        [
            "let me talk to Jarvis",
            "explain how a transistor works step by step",
            "switch to leonardo",
            "tell me a joke",
            "go back to jarvis",
            "compare these two options",
            "Leonardo, take over.",
            "either of you",
            "tell me a joke",
        ]
    ) == [
        (J, "stick", J),
        (J, "sticky", J),
        (L, "stick", L),
        (L, "sticky", L),
        (J, "stick", J),
        (J, "sticky", J),
        (L, "stick", L),
        (J, "unstick", None),
        (J, "default", None),
    ]


def test_stick_and_unstick_phrases_keep_the_rest_of_the_turn() -> None:
    r = route("Leonardo, take over. Why is the sky blue?", rules=RULES)
    assert (r.persona, r.reason, r.sticky, r.text) == (L, "stick", L, "Why is the sky blue?")
    assert r.cue == "leonardo take over"
    r = route("Compare these two plans and let me talk to Leonardo", rules=RULES, sticky=J)
    assert (r.persona, r.reason, r.sticky, r.text) == (L, "stick", L, "Compare these two plans")
    r = route("either of you, why is the sky blue", rules=RULES, sticky=J)
    assert (r.persona, r.reason, r.sticky, r.escalated) == (L, "unstick", None, True)
    assert (r.text, r.cue) == ("why is the sky blue", "either of you")
    r = route("can either of you tell me the time", rules=RULES, sticky=L)
    assert (r.persona, r.reason, r.sticky) == (J, "unstick", None)
    assert r.text == "can either of you tell me the time"
    r = route("um switch to leo nardo please", rules=RULES)
    assert (r.persona, r.reason, r.sticky, r.text) == (L, "stick", L, "")
    r = route("hey jarvis, switch to leonardo", rules=RULES)
    assert (r.persona, r.reason, r.sticky, r.text) == (L, "stick", L, "")
    # the later instruction wins
    assert route("back to automatic, no wait, switch to leonardo", rules=RULES).sticky == L
    assert route("switch to leonardo, no, back to automatic", rules=RULES, sticky=J).sticky is None


def test_empty_and_odd_transcripts_go_to_the_default_persona() -> None:
    for text in ["", "...", "um", "hey", "uh, hmm."]:
        r = route(text, rules=RULES)
        assert (r.persona, r.reason, r.text, r.escalated) == (J, "default", text, False)
    assert route("Leonardo?", rules=RULES, sticky=J).text == ""


def test_an_unknown_sticky_persona_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown persona"):
        route("hello", rules=RULES, sticky="ada")


def test_escalate_false_never_escalates_but_addressing_still_works() -> None:
    rules = dataclasses.replace(RULES, escalate=False)
    for text, want, kind in LABELLED:
        r = route(text, rules=rules)
        assert not r.escalated and r.reason != "analytical", text
        if kind == "addressed":
            assert (r.persona, r.reason) == (want, "addressed"), text
        else:
            assert r.persona == J, text
    assert classify("why is the sky blue", rules) == (True, "why")
    assert route("switch to leonardo", rules=rules).persona == L


def test_custom_cues_names_and_analyst() -> None:
    rules = RoutingRules(analytical_cues=(r"recipes?", r"bake\w*"), chat_cues=())
    assert route("give me a recipe for pancakes", rules=rules).persona == L
    assert route("why is the sky blue", rules=rules).reason == "default"
    assert classify("how long do i bake bread", rules) == (True, "bake")
    quiet = RoutingRules(chat_cues=(*RULES.chat_cues, r"why oh why"))
    assert classify("why oh why did i eat that", RULES)[0]
    assert classify("why oh why did i eat that", quiet) == (False, None)

    three = RoutingRules(names={**RULES.names, "ada": ("ada", "ada lovelace")}, analyst="ada")
    r = route("why is the sky blue", rules=three)
    assert (r.persona, r.escalated) == ("ada", True)
    assert route("Leonardo, why is the sky blue?", rules=three).persona == L
    assert follow(["let me talk to ada", "tell me a joke"], three)[-1] == ("ada", "sticky", "ada")
    r = route("Ada Lovelace, what's up?", rules=three)
    assert (r.persona, r.reason, r.text, r.cue) == (
        "ada",
        "addressed",
        "what's up?",
        "ada lovelace",
    )

    named = RoutingRules(names={J: ("jarvis",), L: ("leonardo", "maestro", "mister leo")})
    assert route("maestro can you help", rules=named).persona == L
    r = route("mister leo, why?", rules=named)
    assert (r.persona, r.text, r.cue) == (L, "why?", "mister leo")
    assert route("leo why is that", rules=named).reason == "analytical"  # "leo" not a name here


def test_long_multi_part_questions_are_analytical() -> None:
    text = (
        "so we are moving next month and what do we pack first and where do we keep the "
        "cat while the movers are in the house and when do we tell the landlord"
    )
    assert len(text.split()) >= 28
    analytical, cue = classify(text, RULES)
    assert analytical and cue is not None and "question" in cue
    assert classify(text, dataclasses.replace(RULES, long_words=60)) == (False, None)
    story = (
        "so yesterday I went to the park with my sister and we walked the dog for an hour and "
        "then we got ice cream and sat by the lake until the sun went down"
    )
    assert len(story.split()) >= 28 and classify(story, RULES) == (False, None)


def test_small_talk_does_not_escalate_on_a_cue_word() -> None:
    for text in [
        "how are you",
        "How's your day going?",
        "why not",
        "that's why I called",
        "what's up",
        "how nice",
        "how did you sleep",
        "how did your interview go",
        "why don't we watch a film tonight",
    ]:
        assert classify(text, RULES) == (False, None), text
    assert classify("how are you, and why is the sky blue?", RULES) == (True, "why")


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="default and analyst"):
        RoutingRules(default="ada")
    with pytest.raises(ValueError, match="two personas"):
        RoutingRules(names={J: ("jarvis", "leo"), L: ("leonardo", "leo")})
    with pytest.raises(ValueError, match="bad cue"):
        RoutingRules(analytical_cues=("(unclosed",))
    with pytest.raises(ValueError, match="handoff_lines"):
        RoutingRules(handoff_lines=())


def test_handoff_lines_are_short_deterministic_and_varied() -> None:
    lines = {handoff_line(J, L, cue="why", seed=s) for s in range(50)}
    assert len(lines) >= 3 and lines <= {x.format(to="Leonardo") for x in HANDOFF_LINES}
    for seed in range(20):
        line = handoff_line(J, L, cue="compare", seed=seed)
        assert line == handoff_line(J, L, cue="compare", seed=seed)
        assert "Leonardo" in line and len(line.split()) <= 10
    custom = ("{from} here, over to {to}.",)
    assert handoff_line(J, L, cue=None, seed=7, lines=custom) == "Jarvis here, over to Leonardo."
