"""SentenceChunker: sentence rules, eagerness, and invariance under any split into deltas."""

from __future__ import annotations

import random

import pytest

from zenglow.speech.chunker import SentenceChunker

NO_CLAUSE = 10_000  # first_clause_min_words that never lets a clause end the first chunk


def chunk_all(deltas: list[str], **options: int) -> list[str]:
    """Feed deltas one by one; return every chunk plus the non-empty finish() text."""
    chunker = SentenceChunker(**options)
    chunks: list[str] = []
    for delta in deltas:
        chunks += chunker.add(delta)
    rest = chunker.finish()
    return [*chunks, rest] if rest else chunks


def sentences(text: str, **options: int) -> list[str]:
    return chunk_all([text], **{"first_clause_min_words": NO_CLAUSE, **options})


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# --- sentence rules -------------------------------------------------------------------

CASES = [
    # plain sentence ends
    (
        "Hello there. How are you? I am fine! Great.",
        ["Hello there.", "How are you?", "I am fine!", "Great."],
    ),
    ("What?! No way!! Really?", ["What?!", "No way!!", "Really?"]),
    ("Sure?. Yes.", ["Sure?.", "Yes."]),
    # titles and Latin abbreviations never end a sentence
    (
        "Dr. Smith met Mr. Jones and Mrs. Brown. They talked.",
        ["Dr. Smith met Mr. Jones and Mrs. Brown.", "They talked."],
    ),
    ("Ms. Lee called Prof. Adams. He answered.", ["Ms. Lee called Prof. Adams.", "He answered."]),
    (
        "St. Louis is big. So is St. Paul. Both are cities.",
        ["St. Louis is big.", "So is St. Paul.", "Both are cities."],
    ),
    ("It was red vs. Blue. Blue won.", ["It was red vs. Blue.", "Blue won."]),
    (
        "Use a tool, e.g. A hammer. Or i.e. This one.",
        ["Use a tool, e.g. A hammer.", "Or i.e. This one."],
    ),
    (
        "It happened on Jan. 5 last year. Then Dec. 3 came.",
        ["It happened on Jan. 5 last year.", "Then Dec. 3 came."],
    ),
    # lowercase, these are ordinary words
    ("I sat. Then I left.", ["I sat.", "Then I left."]),
    # closing abbreviations end a sentence only before a capitalised word
    ("We saw lions, tigers, etc. Then we left.", ["We saw lions, tigers, etc.", "Then we left."]),
    ("Bring apples, pears, etc. and more. Done.", ["Bring apples, pears, etc. and more.", "Done."]),
    (
        "Meet at 9 a.m. tomorrow. Leave at 5 p.m. Then rest.",
        ["Meet at 9 a.m. tomorrow.", "Leave at 5 p.m.", "Then rest."],
    ),
    ("Acme Inc. Makes tools. It is big.", ["Acme Inc.", "Makes tools.", "It is big."]),
    # dotted acronyms and initials
    (
        "The U.S. Army is large. The U.K. Parliament met.",
        ["The U.S. Army is large.", "The U.K. Parliament met."],
    ),
    (
        "J. R. R. Tolkien wrote it. He was British.",
        ["J. R. R. Tolkien wrote it.", "He was British."],
    ),
    # number labels hold only before a number
    ("See No. 5 on the list. No. I refuse.", ["See No. 5 on the list.", "No.", "I refuse."]),
    ("Read p. 12 and Fig. 3 now. Done.", ["Read p. 12 and Fig. 3 now.", "Done."]),
    ("I said no. Then he left.", ["I said no.", "Then he left."]),
    # decimals, money, versions
    (
        "Pi is 3.14 roughly. It costs $2.50 today. Done.",
        ["Pi is 3.14 roughly.", "It costs $2.50 today.", "Done."],
    ),
    ("Install v1.2.3 now. Then restart v2.0.", ["Install v1.2.3 now.", "Then restart v2.0."]),
    ("It was 1990. 2000 came next.", ["It was 1990.", "2000 came next."]),
    # ellipses: an end only before a capitalised word
    (
        "Well... maybe not. Hmm… I see. Wait... Really?",
        ["Well... maybe not.", "Hmm…", "I see.", "Wait...", "Really?"],
    ),
    ("So…and then. Yes.", ["So…and then.", "Yes."]),
    ("Wait . . . what? Ok.", ["Wait . . . what?", "Ok."]),
    # URLs and emails
    (
        "Visit https://example.com/a.b for more. Email x@y.org today.",
        ["Visit https://example.com/a.b for more.", "Email x@y.org today."],
    ),
    (
        "Write to x@y.org. Thanks. See https://a.io/x?y=1.2 now? Yes.",
        ["Write to x@y.org.", "Thanks.", "See https://a.io/x?y=1.2 now?", "Yes."],
    ),
    # next word lowercase: not an end
    ("Open config.yaml. then edit it. Ok.", ["Open config.yaml. then edit it.", "Ok."]),
    # quotes, brackets and emphasis after the mark
    ('He said "Hi." Then he left.', ['He said "Hi."', "Then he left."]),
    ('"Why?" she asked. "Because!" he said.', ['"Why?" she asked.', '"Because!" he said.']),
    ("(See the note.) Next one.", ["(See the note.)", "Next one."]),
    ("This is **done.** Next part.", ["This is **done.**", "Next part."]),
    ('It ended. "Really?" Yes.', ["It ended.", '"Really?"', "Yes."]),
    ("Wait… “Yes” she said.", ["Wait…", "“Yes” she said."]),
    ("Wait… “yes” she said.", ["Wait… “yes” she said."]),
    # numbered and bulleted lists
    (
        "Steps:\n1. First item.\n2. Second item.\n3. Third",
        ["Steps:", "1. First item.", "2. Second item.", "3. Third"],
    ),
    ("1. First item. 2. Second item.", ["1. First item.", "2. Second item."]),
    ("a. Apples\nb. Pears\niv. Plums", ["a. Apples", "b. Pears", "iv. Plums"]),
    ("- apples\n- pears\n* plums\n\n# Heading", ["- apples", "- pears", "* plums", "# Heading"]),
    ("1. **Bold** item\n2. Next", ["1. **Bold** item", "2. Next"]),
    # whitespace
    ("  One.   Two.\n\n\nThree\n  \nFour  ", ["One.", "Two.", "Three", "Four"]),
    ("Tabs.\tWork. Lines\r\nend here.", ["Tabs.", "Work.", "Lines", "end here."]),
    ("Dr.\nSmith", ["Dr.", "Smith"]),
    ("No terminal punctuation here", ["No terminal punctuation here"]),
    ("Goodbye Mr.", ["Goodbye Mr."]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_sentence_rules(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


# --- eagerness: cut exactly when the text settles it ------------------------------------


def test_period_waits_for_the_next_word() -> None:
    chunker = SentenceChunker(first_clause_min_words=NO_CLAUSE)
    assert chunker.add("Hello world.") == []
    assert chunker.add("  ") == []
    assert chunker.add("T") == ["Hello world."]
    assert chunker.add("hen.") == []
    assert chunker.finish() == "Then."


def test_abbreviation_is_held_until_disproved() -> None:
    chunker = SentenceChunker(first_clause_min_words=NO_CLAUSE)
    assert chunker.add("Dr.") == []
    assert chunker.add(" Smith") == []
    assert chunker.add(" came. The") == ["Dr. Smith came."]
    assert chunker.finish() == "The"


def test_closing_quote_may_still_arrive() -> None:
    chunker = SentenceChunker(first_clause_min_words=NO_CLAUSE)
    assert chunker.add('He said "Hi.') == []
    assert chunker.add('"') == []
    assert chunker.add(" Then") == ['He said "Hi."']


def test_question_waits_for_the_case_of_the_next_word() -> None:
    chunker = SentenceChunker(first_clause_min_words=NO_CLAUSE)
    assert chunker.add('"Why?" ') == []
    assert chunker.add("she asked. ") == []
    assert chunker.add("Ok") == ['"Why?" she asked.']


def test_line_break_cuts_at_once() -> None:
    chunker = SentenceChunker(first_clause_min_words=NO_CLAUSE)
    assert chunker.add("Line one\n") == ["Line one"]
    assert chunker.add("- item\n\n") == ["- item"]
    assert chunker.finish() == ""


def test_empty_and_whitespace_input() -> None:
    chunker = SentenceChunker()
    assert chunker.finish() == ""
    assert chunker.add("") == []
    assert chunker.add("  \n\n \t") == []
    assert chunker.finish() == ""


def test_reuse_after_finish() -> None:
    chunker = SentenceChunker()
    assert chunker.add("One sentence. Two") == ["One sentence."]
    assert chunker.finish() == "Two"
    assert chunker.add("Well, I think that the answer, maybe, is") == [
        "Well, I think that the answer,"
    ]
    assert chunker.finish() == "maybe, is"


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SentenceChunker(max_chars=0)


# --- first clause -----------------------------------------------------------------------


def test_first_clause_cuts_once_enough_words_arrived() -> None:
    text = "Well, I think that the answer, in short, is yes. And more, later, too."
    assert chunk_all([text]) == [
        "Well, I think that the answer,",
        "in short, is yes.",
        "And more, later, too.",
    ]


def test_first_clause_is_eager() -> None:
    chunker = SentenceChunker(first_clause_min_words=3)
    assert chunker.add("One two three,") == []
    assert chunker.add(" four, five, six.") == ["One two three,"]
    assert chunker.finish() == "four, five, six."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "I have been thinking — and this matters — about it.",
            ["I have been thinking —", "and this matters — about it."],
        ),
        (
            "I have been thinking -- so much, really.",
            ["I have been thinking --", "so much, really."],
        ),
        ("I have been thinking - a lot; truly.", ["I have been thinking -", "a lot; truly."]),
        ("A well-known fact is here: yes, sure.", ["A well-known fact is here:", "yes, sure."]),
        (
            "We counted 1,000 sheep at 3:30 today, yes.",
            ["We counted 1,000 sheep at 3:30 today,", "yes."],
        ),
        ('He said "one two three," then left.', ['He said "one two three,"', "then left."]),
        ("Hi, there. Yes, sure, of course, right.", ["Hi, there.", "Yes, sure, of course, right."]),
        ("- one, two, three, four", ["- one, two, three,", "four"]),
    ],
)
def test_first_clause_marks(text: str, expected: list[str]) -> None:
    assert chunk_all([text], first_clause_min_words=3) == expected


def test_first_clause_counts_only_the_first_chunk_of_each_reply() -> None:
    chunker = SentenceChunker(first_clause_min_words=1)
    text = "Yes, indeed. One two, three four, five. Six"
    assert chunker.add(text) == ["Yes,", "indeed.", "One two, three four, five."]
    assert chunker.finish() == "Six"
    assert chunker.add(text) == ["Yes,", "indeed.", "One two, three four, five."]


# --- forced cuts ------------------------------------------------------------------------


def test_run_on_sentence_is_cut_at_the_last_whitespace() -> None:
    text = "word " * 30
    expected = [" ".join(["word"] * 8)] * 3 + [" ".join(["word"] * 6)]
    assert sentences(text, max_chars=40) == expected
    assert sentences("aaaa bbbb cccc. Dd", max_chars=10) == ["aaaa bbbb", "cccc.", "Dd"]


def test_a_word_longer_than_max_chars_stays_whole() -> None:
    long_word = "x" * 30
    assert sentences(f"a {long_word} b.", max_chars=10) == ["a", long_word, "b."]


def test_sentence_end_past_max_chars_becomes_a_forced_cut() -> None:
    assert sentences('aaa bbbb "cc." Then', max_chars=12) == ["aaa bbbb", '"cc."', "Then"]


# --- invariance ---------------------------------------------------------------------------

INVARIANCE_TEXTS = [text for text, _ in CASES] + [
    "Well, I think that the answer, in short, is yes. And more, later, too.",
    "I have been thinking — and this matters — about it, Dr. Who said... Fine.",
    "Here are the steps:\n\n1. Open https://example.com/a.b?x=1.\n2. Mail x@y.org.\n- Done!",
    '"Is it 3.14?" she asked. "No." He replied, e.g. "It is 3.1416 — roughly…" OK?!',
    "word " * 80 + "end. " + "x" * 350 + " tail.",
]
OPTIONS = [
    {},
    {"first_clause_min_words": NO_CLAUSE},
    {"first_clause_min_words": 1, "max_chars": 25},
]


def normalized(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("text", INVARIANCE_TEXTS)
def test_chunks_do_not_depend_on_delta_size(text: str, options: dict[str, int]) -> None:
    whole = chunk_all([text], **options)
    assert normalized(" ".join(whole)) == normalized(text)
    for size in range(1, 8):
        assert chunk_all(pieces(text, size), **options) == whole, size


FUZZ_VOCABULARY = [
    "hello",
    "world",
    "The",
    "I",
    "she",
    "said",
    "Dr.",
    "Mr.",
    "Mrs.",
    "St.",
    "vs.",
    "etc.",
    "e.g.",
    "i.e.",
    "U.S.",
    "a.m.",
    "p.m.",
    "No.",
    "no.",
    "5",
    "12",
    "3.14",
    "$2.50",
    "v1.2.3",
    "...",
    "…",
    "..",
    "https://example.com/a.b",
    "x@y.org",
    "J.",
    "R.",
    "1.",
    "2.",
    "a.",
    '"Hi."',
    "?!",
    "?",
    "!",
    ".",
    ",",
    ";",
    ":",
    "—",
    "-",
    "--",
    "(",
    ")",
    '"',
    "'",
    "“",
    "”",
    "*",
    "**",
    "\n",
    "\n\n",
    "- ",
    "* ",
    "# ",
    "well-known",
    "1,000",
    "3:30",
    "Yes",
    "ok",
    "\t",
]


@pytest.mark.parametrize("seed", [1, 7, 42, 1234])
def test_fuzz_invariance_and_preservation(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):
        words = rng.choices(FUZZ_VOCABULARY, k=rng.randint(1, 40))
        text = "".join(w + rng.choice([" ", " ", " ", "", "  "]) for w in words)
        max_chars = rng.choice([8, 20, 60, 300])
        options = {
            "first_clause_min_words": rng.choice([0, 2, 4, NO_CLAUSE]),
            "max_chars": max_chars,
        }
        whole = chunk_all([text], **options)
        assert normalized(" ".join(whole)) == normalized(text), text
        for chunk in whole:
            assert chunk and chunk == chunk.strip(), text
            assert len(chunk) <= max_chars or len(chunk.split()) == 1, (text, chunk)
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
        deltas = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert chunk_all(deltas, **options) == whole, (text, deltas)
        assert chunk_all(list(text), **options) == whole, text
