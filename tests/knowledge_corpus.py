"""The documents corpus of the knowledge tests and benchmarks: a staff handbook (Markdown),
project notes (plain text), a garden's web page (HTML) and a buoy maintenance manual (a PDF
written here with pypdf), all about things that do not exist, so no model knows the facts.

`QUESTIONS` ask for those facts in other words than the documents use, each with the file
that answers it and a few words the answering passage must contain. `UNANSWERED` are
questions near the documents' subjects that they do not answer.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
MANUAL_TITLE = "Orrery-7 Buoy Field Maintenance Manual"

# One list of paragraphs per page; the first paragraph of a page is its section title.
MANUAL_PAGES: list[list[str]] = [
    [
        "Introduction",
        "The Orrery-7 is a moored weather buoy built by Halvorsen & Quist Instruments. It "
        "measures wind, air pressure, wave height and water temperature, and sends its "
        "readings by satellite every ten minutes.",
        "This manual is for field technicians. Read the safety section before every visit: "
        "the buoy carries a lithium battery bank that can ignite if its casing is punctured.",
    ],
    [
        "Safety",
        "Never open the battery compartment at sea in waves higher than 1.5 metres. Always "
        "wear the grounding wrist strap, which is stored in the yellow pouch inside the lid.",
        "Two technicians must be present at every service visit, and one of them must hold a "
        "valid sea survival certificate.",
    ],
    [
        "Scheduled maintenance",
        "The anemometer bearings are greased every six months with the blue marine grease "
        "supplied in the service kit. The solar panels are cleaned on every visit with fresh "
        "water only, never with solvents.",
        "The battery bank is replaced every 30 months, or sooner when the health figure in "
        "the status report falls below 70 percent.",
    ],
    [
        "Calibration",
        "The barometer is calibrated once a year against the travelling reference unit, "
        "serial number TR-0042, which is kept at the Bergen office.",
        "After calibration, the mooring bolts on the sensor mast are tightened to a torque of "
        "38 newton metres, in a crosswise order.",
    ],
    [
        "Fault codes",
        "Fault code E17 means that the wave sensor has lost its reference and must be "
        "restarted from the service menu. Fault code E22 means water has entered the "
        "electronics housing: bring the buoy ashore at once.",
        "A flashing green light on the mast means the buoy is in storm mode and sends "
        "readings every minute instead of every ten.",
    ],
]

FILES = ("handbook.md", "notes.txt", "garden.html", "manual.pdf")

# (question, file that answers it, words the answering passage contains)
QUESTIONS: list[tuple[str, str, str]] = [
    ("How many vacation days does a staff member get each year?", "handbook.md", "27 days"),
    ("Until when can I use holiday days I saved from last year?", "handbook.md", "March"),
    ("How long is the paid leave for new mothers and fathers?", "handbook.md", "18 weeks"),
    ("When do I need a medical certificate if I'm unwell?", "handbook.md", "fourth day"),
    ("What is the daily food allowance when travelling in Britain?", "handbook.md", "55 GBP"),
    ("Who has to sign off on a large expense claim?", "handbook.md", "Ingrid Solvang"),
    ("Where is the server room and how do I get in?", "handbook.md", "blue door"),
    ("What does it cost to get a new badge after losing it twice?", "handbook.md", "300 NOK"),
    ("How long must my password be?", "handbook.md", "14 characters"),
    ("What is the guest wireless network called in Bergen?", "handbook.md", "Bryggen-Guest"),
    ("Which parking spots have chargers for electric cars?", "handbook.md", "1 to 12"),
    ("How much money do I get for gym or massage per year?", "handbook.md", "4000 NOK"),
    ("Where do we gather if there is a fire at the Tromsø office?", "handbook.md", "fish market"),
    ("How often can I work from home?", "handbook.md", "three days"),
    ("When are meetings forbidden on Fridays?", "handbook.md", "12:00"),
    ("What should I ask IT for if I want another keyboard layout?", "handbook.md", "layouts"),
    ("Which pressure sensor did the Kestrel project choose?", "notes.txt", "Skua-3"),
    ("What is the total budget of the harbour project?", "notes.txt", "2.4 million"),
    ("Why did the prototype battery run out too early?", "notes.txt", "GPS"),
    ("How often is data sent to the harbour server?", "notes.txt", "15 minutes"),
    ("Where do the modems come from and how long does delivery take?", "notes.txt", "Tallinn"),
    ("Which pier needs an extra modem?", "notes.txt", "Pier 6"),
    ("When will the outermost piers get their sensors?", "notes.txt", "September"),
    ("Who is the contact at the harbour authority?", "notes.txt", "Tor Haugland"),
    ("How much does a full garden plot cost per year?", "garden.html", "60 euros"),
    ("Are weed killers allowed in the garden?", "garden.html", "pesticides"),
    ("How tall may trees on a plot grow?", "garden.html", "two metres"),
    ("How do I get the code for the tool shed?", "garden.html", "text message"),
    ("How many years do people wait for a plot?", "garden.html", "two to three years"),
    ("May I keep hens on my allotment?", "garden.html", "Chickens"),
    ("How heavy was the biggest pumpkin last year?", "garden.html", "212 kilograms"),
    ("Who turns on the mains water during a dry spell?", "garden.html", "Okafor"),
    ("How often must the buoy's battery pack be swapped?", "manual.pdf", "30 months"),
    ("What torque do the mast bolts need?", "manual.pdf", "38 newton"),
    ("What does error E22 on the buoy mean?", "manual.pdf", "water has entered"),
    ("Where is the reference instrument for barometer calibration kept?", "manual.pdf", "TR-0042"),
    ("What may I clean the solar panels with?", "manual.pdf", "fresh water"),
    ("In what sea conditions must the battery compartment stay closed?", "manual.pdf", "1.5"),
    ("What does it mean when the green light on the buoy blinks?", "manual.pdf", "storm mode"),
    ("How many technicians have to go on a service trip?", "manual.pdf", "Two technicians"),
    # Written after the chunk size and relevance thresholds were chosen, and not tuned on.
    ("What shoes do new hires get on day one?", "handbook.md", "orange safety boots"),
    ("Who meets a newcomer at reception on the first morning?", "handbook.md", "buddy"),
    ("What hours must everyone be available from Monday to Thursday?", "handbook.md", "10:00"),
    ("For how many days a year may I work abroad?", "handbook.md", "20 working days"),
    ("Is breakfast free at the office on some day?", "handbook.md", "Wednesdays"),
    ("Where are the heart defibrillators?", "handbook.md", "lifts"),
    ("Which booking tool do we use for business trips?", "handbook.md", "Kittiwake"),
    (
        "How many days did the buoy run on one battery after the firmware fix?",
        "notes.txt",
        "16 days",
    ),
    ("What is the sensor housing made of?", "notes.txt", "aluminium"),
    ("What are the biggest risks in the Kestrel project?", "notes.txt", "Tallinn"),
    ("How long is data kept on the device when the network is down?", "notes.txt", "30 days"),
    ("When is the deadline for paying the plot fee?", "garden.html", "February"),
    ("Is there a limit on garden hose length?", "garden.html", "15 metres"),
    ("Who should I talk to about keeping bees?", "garden.html", "Hanne Lindqvist"),
    ("When can I burn garden waste?", "garden.html", "November"),
    ("How often do the wind sensor bearings need grease?", "manual.pdf", "six months"),
    ("What should I wear to avoid static when opening the buoy?", "manual.pdf", "wrist strap"),
    ("How often does the buoy transmit in normal weather?", "manual.pdf", "ten minutes"),
    ("What does code E17 indicate?", "manual.pdf", "wave sensor"),
    ("Which certificate must one technician on a visit hold?", "manual.pdf", "sea survival"),
]

UNANSWERED: list[str] = [
    "What is the capital of Australia?",
    "How do I bake sourdough bread?",
    "Who won the football world cup in 1998?",
    "What is the boiling point of ethanol?",
    "How many moons does Jupiter have?",
    "Can you recommend a good science fiction novel?",
    "What is the exchange rate between yen and dollars?",
    "How do I change a flat tyre on a bicycle?",
    "What programming language is best for beginners?",
    "When was the Eiffel Tower built?",
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(
    pages: list[list[str]], *, title: str | None = None, password: str | None = None
) -> bytes:
    """A PDF with one page per list of paragraphs, in Helvetica, a bookmark per page named
    after its first paragraph, and (given `password`) AES-256 encryption."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    for paragraphs in pages:
        page = writer.add_blank_page(width=612, height=792)
        lines = ["BT", "/F1 11 Tf", "15 TL", "72 720 Td"]
        for paragraph in paragraphs:
            for line in textwrap.wrap(paragraph, 88):
                lines.append(f"({_escape(line)}) Tj T*")
            lines.append("T*")
        lines.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(lines).encode("cp1252"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        page[NameObject("/MediaBox")] = ArrayObject([NumberObject(v) for v in (0, 0, 612, 792)])
    for number, paragraphs in enumerate(pages):
        writer.add_outline_item(title=paragraphs[0], page_number=number)
    if title:
        writer.add_metadata({"/Title": title})
    if password:
        writer.encrypt(user_password=password, owner_password=password, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def write_corpus(folder: Path) -> Path:
    """The four documents in `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES[:3]:
        (folder / name).write_bytes((CORPUS / name).read_bytes())
    (folder / "manual.pdf").write_bytes(pdf_bytes(MANUAL_PAGES, title=MANUAL_TITLE))
    return folder
