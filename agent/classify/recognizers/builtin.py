"""Entities we recognise with Presidio's predefined recognizers, and our phone recognizer beside them.

Presidio is imported only when one of its recognizers is built (``agent/classify/presidio.py`` wraps
it for our engine): importing it pulls spaCy, more than half a second of start-up, so this table
holds factories, not classes.

``COVERING_TRIGGERS`` gives the prefilter contract of our phone recognizer (see ``base.py``): a re2
regex whose hits cover every match. Presidio's recognizers have none and always run on the whole
text (no shipped rule uses them).
"""

from __future__ import annotations

from collections.abc import Callable

from agent.classify.recognizers.phone import PHONE_REGIONS, PhoneNumberRecognizer
from agent.classify.results import Recognizer

__all__ = ["BUILTIN", "COVERING_TRIGGERS", "PHONE_REGIONS"]


def _presidio(name: str) -> Callable[[], Recognizer]:
    """A factory of Presidio's predefined recognizer ``name``, wrapped for our engine (imported then)."""

    def build() -> Recognizer:
        from agent.classify.presidio import predefined

        return predefined(name)

    build.__name__ = build.__qualname__ = name
    return build


#: entity -> factory of the recognizer for it.
BUILTIN: dict[str, Callable[[], Recognizer]] = {
    "PHONE_NUMBER": PhoneNumberRecognizer,  # ours, in place of Presidio's (one parse per candidate)
    "UK_NHS": _presidio("NhsRecognizer"),
    "UK_NINO": _presidio("UkNinoRecognizer"),
    "US_ITIN": _presidio("UsItinRecognizer"),
    "US_PASSPORT": _presidio("UsPassportRecognizer"),
    "ABA_ROUTING_NUMBER": _presidio("AbaRoutingRecognizer"),
    "CRYPTO": _presidio("CryptoRecognizer"),
    "MAC_ADDRESS": _presidio("MacAddressRecognizer"),
}

#: entity -> (covering trigger, how far a match may extend past its hit): see ``prefilter.py``.
COVERING_TRIGGERS: dict[str, tuple[str, int]] = {
    "PHONE_NUMBER": (PhoneNumberRecognizer.TRIGGER, PhoneNumberRecognizer.COVER),
}
