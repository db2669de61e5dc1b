"""Generated sample files for the demo and the README tour: `python -m agent.demo DIR`.

Every value is made up on the spot: card numbers and IBANs get valid check digits but random bodies,
names are invented, and the private key is freshly generated. Nothing here belongs to anyone.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

FIRST = ("Lena", "Marco", "Aline", "Jonas", "Chiara", "Noah", "Elif", "Tomás")
LAST = ("Brunner", "Keller", "Rossi", "Dubois", "Meier", "Conti", "Favre", "Huber")


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    """A Luhn-valid number of `length` digits starting with `prefix`."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    """An IBAN with correct ISO 13616 check digits for the given BBAN."""
    rearranged = bban + country + "00"
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def group4(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def samples(rng: random.Random) -> dict[str, str]:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    card = luhn_complete("45", 16, rng)
    ch_iban = iban("CH", "".join(rng.choice("0123456789") for _ in range(17)))
    return {
        "customer_card.txt": (
            f"Customer: {name}\nCard on file: {group4(card)}\nExpiry: 09/29\n"
            "Please update the billing profile before Friday.\n"
        ),
        "onboarding_form.txt": (
            f"Client onboarding\nAccount holder: {name}\nIBAN: {group4(ch_iban)}\n"
            f"Opening balance: CHF {rng.randint(10, 900)} 000\n"
        ),
        "board_memo.txt": (
            "STRICTLY CONFIDENTIAL\n\nBoard memo: Project Lantern\n\n"
            "The acquisition committee will meet on Thursday to review the offer.\n"
        ),
        "release_notes.txt": (
            "Release notes 4.2\n\nWe keep your data confidential and secure.\n"
            "Fixed: export of quarterly reports; improved search speed.\n"
        ),
    }


def write_samples(directory: str | Path, seed: int = 7) -> list[Path]:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in samples(random.Random(seed)).items():  # noqa: S311 - seeded fake demo data
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = args[0] if args else "var/demo"
    for path in write_samples(directory):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
