"""The client relationship: a customer's name next to one more field of their protected record is a match.

Generated fake customers only. Names are compared case- and accent-folded, in any order ("Last, First"),
with middle initials ignored; addresses are words (their letters), not codes.
"""

from __future__ import annotations

import random

import pytest

from agent.classify.indexes.edm import EdmDetector, EdmIndex
from agent.models import TextChunk

FIRST = [
    "Anke",
    "Jürgen",
    "Zoë",
    "Oliver",
    "François",
    "Luca",
    "Sara",
    "Felix",
    "Claire",
    "Noémie",
    "Henrik",
    "Ilse",
]
LAST = [
    "Böhm",
    "Grant",
    "Dupont",
    "Barbieri",
    "Mancini",
    "Schröder",
    "Visser",
    "Cano",
    "Navarro",
    "Lindqvist",
]
STREETS = ["Hauptstrasse", "Rue de Lyon", "Via Roma", "Kirchweg", "Avenue des Alpes", "Seestrasse"]


def _table(rng: random.Random, n: int = 400) -> tuple[list[str], list[list[str]]]:
    header = ["first_name", "last_name", "email", "phone", "street", "date_of_birth"]
    rows = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST) + rng.choice(["", "er", "mann", "i", "son", "et"])
        rows.append(
            [
                first,
                last,
                f"{first[0].lower()}{i}.{rng.randrange(10**6)}@mail.example",
                f"+41 7{rng.randrange(10)} {rng.randrange(100, 1000)} "
                f"{rng.randrange(10, 100)} {rng.randrange(10, 100)}",
                f"{rng.choice(STREETS)} {rng.randrange(1, 200)}",
                f"19{rng.randrange(40, 100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            ]
        )
    rows[0] = ["Jürgen", "Müller", "jm.4471@mail.example", "+41 79 555 12 34", "Seestrasse 12", "1975-04-12"]
    return header, rows


@pytest.fixture(scope="module")
def detector() -> EdmDetector:
    header, rows = _table(random.Random(4))
    return EdmDetector(EdmIndex.build(header, rows, key=b"edm-pairs-test-key-0123456789abc"))


def _fields(detector: EdmDetector, text: str) -> int:
    found = detector.detect(TextChunk(path="/srv/drop/list.txt", member=None, text=text))
    return max((int(d.attribute("fields") or 0) for d in found), default=0)


@pytest.mark.parametrize(
    "text",
    [
        "Jürgen Müller <jm.4471@mail.example>",  # name + e-mail
        "Mueller, Juergen - jm.4471@mail.example",  # "Last, First", umlauts spelled out
        "JURGEN MULLER, +41 79 555 12 34",  # name + phone, case and accents dropped
        "Juergen K. Mueller, Seestrasse 12",  # name + address, a middle initial
        "Jürgen Müller, geb. 12.04.1975",  # name + date of birth
        "Name;Mail\nMüller Jürgen;jm.4471@mail.example\n",  # a customer list row
    ],
)
def test_name_and_one_more_field_is_a_match(detector: EdmDetector, text: str) -> None:
    assert _fields(detector, text) >= 2


@pytest.mark.parametrize(
    "text",
    [
        "Jürgen Müller",  # the name alone identifies no relationship
        "Müller Jürgen wrote to support@mail.example",  # another address
        "Jürgen Müller, born 13.04.1975",  # another date
        "Seestrasse 12",  # an address alone
    ],
)
def test_a_name_alone_or_with_another_value_is_not(detector: EdmDetector, text: str) -> None:
    assert _fields(detector, text) < 2


def test_address_columns_are_words_not_codes() -> None:
    header, rows = _table(random.Random(9))
    index = EdmIndex.build(header, rows, key=b"edm-pairs-test-key-0123456789abc")
    kinds = {c.name: c.kind for c in index.columns}
    assert kinds["street"] == "words" and kinds["email"] == "email" and kinds["phone"] == "phone"
