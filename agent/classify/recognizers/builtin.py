"""Presidio's own recognizers that we register as they are (plus offline e-mail and our phone recognizer).

``TRIGGERS`` gives the prefilter contract for those we can bound (see ``base.py``): a re2 regex that
every match contains, and the longest match (``None``: matches never contain whitespace);
``COVERING_TRIGGERS`` a re2 regex whose hits cover every match. Recognizers without an entry always
run on the whole text.
"""

from __future__ import annotations

from collections.abc import Callable

import tldextract
from presidio_analyzer import EntityRecognizer, Pattern
from presidio_analyzer.predefined_recognizers import (
    AbaRoutingRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    MacAddressRecognizer,
    NhsRecognizer,
    UkNinoRecognizer,
    UsItinRecognizer,
    UsPassportRecognizer,
)

from agent.classify.recognizers.phone import PHONE_REGIONS, PhoneNumberRecognizer

__all__ = [
    "BUILTIN",
    "COVERING_TRIGGERS",
    "IN_DIGIT_RUNS",
    "PHONE_REGIONS",
    "TRIGGERS",
    "OfflineEmailRecognizer",
]

#: The public-suffix snapshot bundled with tldextract: no download, no cache directory, no warning.
_OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


#: Presidio's e-mail pattern with the local part bounded (see :class:`OfflineEmailRecognizer`).
_BOUNDED_EMAIL = Pattern(
    "Email (Medium, bounded)",
    r"\b((([!#$%&'*+\-/=?^_`{|}~\w])|([!#$%&'*+\-/=?^_`{|}~\w][!#$%&'*+\-/=?^_`{|}~\.\w]{0,62}"
    r"[!#$%&'*+\-/=?^_`{|}~\w]))[@]\w+(?:-+\w+)*(?:\.\w+(?:-+\w+)*)+)\b",
    0.5,
)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, offline and linear.

    The domain is validated against tldextract's bundled snapshot. The local part is bounded to 64
    characters (the RFC 5321 limit): Presidio's unbounded ``[...]{0,}`` made the regex quadratic on long
    runs of e-mail characters (200 KB of base64: a 60 s regex timeout and a logged traceback).
    """

    def __init__(self) -> None:
        # Passed in rather than overriding the class's PATTERNS: Presidio declares that one unannotated
        # (an instance variable to mypy), and a ClassVar cannot override it.
        super().__init__(patterns=[_BOUNDED_EMAIL])

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text).fqdn != ""


#: entity -> factory of Presidio's recognizer for it.
BUILTIN: dict[str, Callable[[], EntityRecognizer]] = {
    "PHONE_NUMBER": PhoneNumberRecognizer,  # ours, in place of Presidio's (one parse per candidate)
    "UK_NHS": NhsRecognizer,
    "UK_NINO": UkNinoRecognizer,
    "US_ITIN": UsItinRecognizer,
    "US_PASSPORT": UsPassportRecognizer,
    "ABA_ROUTING_NUMBER": AbaRoutingRecognizer,
    "CRYPTO": CryptoRecognizer,
    "MAC_ADDRESS": MacAddressRecognizer,
}

#: entity -> (trigger, max match length or None for "never contains whitespace").
TRIGGERS: dict[str, tuple[str, int | None]] = {}

#: Entities whose trigger hits are seven or more digits joined by single separators (prefilter.py).
IN_DIGIT_RUNS: frozenset[str] = frozenset()

#: entity -> (covering trigger, how far a match may extend past its hit): see ``prefilter.py``.
COVERING_TRIGGERS: dict[str, tuple[str, int]] = {
    "PHONE_NUMBER": (PhoneNumberRecognizer.TRIGGER, PhoneNumberRecognizer.COVER),
}
