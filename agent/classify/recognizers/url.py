"""URL: web addresses with or without a scheme, as Presidio's UrlRecognizer finds them.

The pattern, scores and context words are Presidio's (presidio-analyzer, MIT licence, Copyright (c)
Microsoft Corporation), whose pattern comes from CommonRegex (https://github.com/madisonmay/CommonRegex,
MIT licence, Copyright (c) 2014 Madison May): a host name ending in one of the suffixes below and an
optional path; 0.6 with ``http(s)://``, 0.5 without, also between quotes. No validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache, cached_property
from typing import Any

from agent.classify.recognizers.regexmod import RegexModuleRecognizer

#: The suffixes a host may end in, in Presidio's order, repeats left out. The order is behaviour: the
#: first alternative that matches wins, so "x.accountants" matches as far as "x.accountant".
# fmt: off
SUFFIXES = (
    "com", "edu", "gov", "int", "mil", "net", "onl", "org", "pro", "red", "tel", "uno", "xxx", "academy",
    "accountant", "accountants", "actor", "adult", "africa", "agency", "airforce", "apartments", "app",
    "archi", "army", "art", "asia", "associates", "attorney", "auction", "audio", "auto", "autos", "baby",
    "band", "bar", "bargains", "beer", "berlin", "best", "bet", "bid", "bike", "bio", "black",
    "blackfriday", "blog", "blue", "boats", "bond", "boo", "boston", "bot", "boutique", "build", "builders",
    "business", "buzz", "cab", "cafe", "cam", "camera", "camp", "capital", "car", "cards", "care",
    "careers", "cars", "casa", "cash", "casino", "catering", "center", "ceo", "cfd", "charity", "chat",
    "cheap", "christmas", "church", "city", "claims", "cleaning", "click", "clinic", "clothing", "cloud",
    "club", "codes", "coffee", "college", "community", "company", "computer", "condos", "construction",
    "consulting", "contact", "contractors", "cooking", "cool", "coupons", "courses", "credit", "creditcard",
    "cricket", "cruises", "cyou", "dad", "dance", "date", "dating", "day", "degree", "delivery", "democrat",
    "dental", "dentist", "desi", "design", "dev", "diamonds", "diet", "digital", "direct", "directory",
    "discount", "doctor", "dog", "domains", "download", "earth", "eco", "education", "email", "energy",
    "engineer", "engineering", "enterprises", "equipment", "esq", "estate", "events", "exchange", "expert",
    "exposed", "express", "fail", "faith", "family", "fans", "farm", "fashion", "feedback", "film",
    "finance", "financial", "fish", "fishing", "fit", "fitness", "flights", "florist", "flowers",
    "football", "forsale", "foundation", "fun", "fund", "furniture", "futbol", "fyi", "gallery", "game",
    "games", "garden", "gay", "gdn", "gifts", "gives", "giving", "glass", "global", "gmbh", "gold", "golf",
    "graphics", "gratis", "green", "gripe", "group", "guide", "guitars", "guru", "hair", "hamburg", "haus",
    "health", "healthcare", "help", "hiphop", "hockey", "holdings", "holiday", "homes", "horse", "hospital",
    "host", "hosting", "house", "how", "icu", "info", "ink", "institute", "insure", "international",
    "investments", "irish", "jewelry", "jetzt", "juegos", "kaufen", "kids", "kitchen", "kiwi", "krd",
    "kyoto", "land", "lat", "law", "lawyer", "lease", "legal", "lgbt", "life", "lighting", "limited",
    "limo", "link", "live", "loan", "loans", "lol", "london", "love", "ltd", "ltda", "luxury", "maison",
    "management", "market", "marketing", "markets", "mba", "media", "melbourne", "meme", "memorial", "men",
    "miami", "mobi", "moda", "moe", "mom", "money", "monster", "mortgage", "motorcycles", "mov", "movie",
    "nagoya", "name", "navy", "network", "new", "news", "ngo", "ninja", "now", "nyc", "observer", "okinawa",
    "one", "ong", "online", "organic", "osaka", "page", "paris", "partners", "parts", "party", "pet", "phd",
    "photo", "photography", "photos", "pics", "pictures", "pink", "pizza", "place", "plumbing", "plus",
    "poker", "porn", "press", "productions", "prof", "promo", "properties", "property", "protection", "pub",
    "quest", "racing", "recipes", "rehab", "reise", "reisen", "rent", "rentals", "repair", "report",
    "republican", "rest", "restaurant", "review", "reviews", "rip", "rocks", "rodeo", "rsvp", "run",
    "saarland", "sale", "salon", "sarl", "sbs", "school", "schule", "science", "services", "sex", "sexy",
    "sh", "shoes", "shop", "shopping", "show", "singles", "site", "skin", "soccer", "social", "software",
    "solar", "solutions", "soy", "space", "spiegel", "study", "style", "sucks", "supply", "support", "surf",
    "surgery", "systems", "tax", "taxi", "team", "tech", "technology", "theater", "tips", "tires", "today",
    "tools", "top", "tours", "town", "toys", "trade", "training", "tube", "uk", "university", "vacations",
    "ventures", "vet", "video", "villas", "vin", "vip", "vision", "vlaanderen", "vodka", "vote", "voting",
    "voyage", "wales", "wang", "watch", "webcam", "website", "wedding", "wiki", "wine", "work", "works",
    "world", "wtf", "xyz", "yoga", "yokohama", "you", "zone", "ac", "ad", "ae", "af", "ag", "ai", "al",
    "am", "an", "ao", "aq", "ar", "as", "at", "au", "aw", "ax", "az", "ba", "bb", "bd", "be", "bf", "bg",
    "bh", "bi", "bj", "bm", "bn", "bo", "br", "bs", "bt", "bv", "bw", "by", "bz", "ca", "cc", "cd", "cf",
    "cg", "ch", "ci", "ck", "cl", "cm", "cn", "co", "cr", "cu", "cv", "cw", "cx", "cy", "cz", "de", "dj",
    "dk", "dm", "do", "dz", "ec", "ee", "eg", "er", "es", "et", "eu", "fi", "fj", "fk", "fm", "fo", "fr",
    "ga", "gb", "gd", "ge", "gf", "gg", "gh", "gi", "gl", "gm", "gn", "gp", "gq", "gr", "gs", "gt", "gu",
    "gw", "gy", "hk", "hm", "hn", "hr", "ht", "hu", "id", "ie", "il", "im", "in", "io", "iq", "ir", "is",
    "it", "je", "jm", "jo", "jp", "ke", "kg", "kh", "ki", "km", "kn", "kp", "kr", "kw", "ky", "kz", "la",
    "lb", "lc", "li", "lk", "lr", "ls", "lt", "lu", "lv", "ly", "ma", "mc", "md", "me", "mg", "mh", "mk",
    "ml", "mm", "mn", "mo", "mp", "mq", "mr", "ms", "mt", "mu", "mv", "mw", "mx", "my", "mz", "na", "nc",
    "ne", "nf", "ng", "ni", "nl", "no", "np", "nr", "nu", "nz", "om", "pa", "pe", "pf", "pg", "ph", "pk",
    "pl", "pm", "pn", "pr", "ps", "pt", "pw", "py", "qa", "re", "ro", "rs", "ru", "rw", "sa", "sb", "sc",
    "sd", "se", "sg", "si", "sj", "sk", "sl", "sm", "sn", "so", "sr", "st", "su", "sv", "sx", "sy", "sz",
    "tc", "td", "tf", "tg", "th", "tj", "tk", "tl", "tm", "tn", "to", "tp", "tr", "tt", "tv", "tw", "tz",
    "ua", "ug", "us", "uy", "uz", "va", "vc", "ve", "vg", "vi", "vn", "vu", "wf", "ws", "ye", "yt", "za",
    "zm", "zw"
)
# fmt: on

_HOST_CHARS = r"a-z0-9.\-"  # a character class's inside
_HOST_CHAR = f"[{_HOST_CHARS}]"
_HOST_MAX = 253
_SUFFIX = "(?:" + "|".join(SUFFIXES) + ")"
_URL = rf"(?:www\d{{0,3}}[.])?{_HOST_CHAR}{{1,{_HOST_MAX}}}[.]{_SUFFIX}(?:/[^\s()<>\"']*)?"
#: The most characters a match holds before its host name: a quote, "https://", "www" + 3 digits + ".".
_BEFORE_HOST = 1 + len("https://") + len("www000.")


class UrlRecognizer(RegexModuleRecognizer):
    """Host names under a known suffix, with an optional scheme, path and quotes."""

    ENTITY = "URL"
    PATTERNS = (
        ("Standard Url", rf"(?:https?://){_URL}", 0.6),
        ("Non schema URL", _URL, 0.5),
        ("Quoted URL", rf"[\"'](?:https?://{_URL})[\"']", 0.6),
        ("Quoted Non-schema URL", rf"[\"'](?:{_URL})[\"']", 0.5),
    )
    CONTEXT = ("url", "website", "link")
    #: Every suffix starts with two letters after the host's last dot. The patterns ignore case as
    #: Presidio's do, and under Unicode case folding three more characters match a letter: dotted
    #: capital I (U+0130), long s (U+017F) and the Kelvin sign (U+212A).
    TRIGGER = r"\.[A-Za-z\x{130}\x{17F}\x{212A}]{2}"
    MAX_LEN = None  # no match holds whitespace

    def compile_pattern(self, pattern: str) -> Any:
        return _StartsNearSuffixes(super().compile_pattern(pattern), self._windows)

    @cached_property
    def _windows(self) -> _Windows:
        """Built with the patterns, at first use (the suffix alternation takes milliseconds to compile)."""
        return _Windows(_finders(self.FLAGS))


@cache
def _finders(flags: int) -> tuple[Any, Any]:
    """A dot followed by a suffix, and (searching backwards) a character no host name holds."""
    import regex  # with the patterns, at first use (agent.classify.recognizers.regexmod)

    # REVERSE as a flag: an inline (?r) is lost when ``flags`` is an re.RegexFlag (regex 2026.12)
    return regex.compile(rf"[.]{_SUFFIX}", flags), regex.compile(f"[^{_HOST_CHARS}]", flags | regex.REVERSE)


def start_windows(text: str, pos: int, endpos: int, finders: tuple[Any, Any]) -> list[tuple[int, int]]:
    """Sorted, merged ``[a, b)`` ranges of ``text[pos:endpos]`` holding every position where a URL match
    may start.

    Every match holds a host name of 1 to 253 host characters right before a dot that a suffix
    follows, and at most :data:`_BEFORE_HOST` characters before the host: it starts at most that far
    before the host characters running up to that dot, and not before the 253rd of them. Each stretch
    of text is searched for a character no host holds once (from the previous suffix dot on).
    """
    suffix_dot, no_host_char = finders
    out: list[tuple[int, int]] = []
    prev_dot, host_from = -1, pos  # host characters run from host_from up to prev_dot
    for m in suffix_dot.finditer(text, pos, endpos):
        dot = m.start()
        reach = max(pos, dot - _HOST_MAX)
        other = no_host_char.search(text, max(reach, prev_dot + 1), dot)
        if other is not None:
            host_from = other.end()
        elif prev_dot < reach:
            host_from = reach
        else:  # host characters all the way from the previous suffix dot
            host_from = max(host_from, reach)
        prev_dot = dot
        lo = max(pos, host_from - _BEFORE_HOST)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], dot)
        else:
            out.append((lo, dot))
    return out


class _StartsNearSuffixes:
    """A URL pattern whose ``finditer`` tries only the positions :func:`start_windows` leaves.

    The same matches as the pattern's own ``finditer`` (the leftmost match at or after a position is
    the first position where an anchored match succeeds, and no match starts elsewhere), without its
    cost: at every position of a long run of host characters the pattern backtracks over each dot in
    the next 253 characters and tries the 667 suffixes there, so 10 KB of "ab.ab.ab..." took seconds.
    """

    def __init__(self, rx: Any, windows: _Windows) -> None:
        self._rx = rx
        self._windows = windows

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[re.Match[str]]:
        end = len(text) if endpos is None else endpos
        cursor = pos
        for lo, hi in self._windows(text, pos, end):
            at = max(lo, cursor)
            while at < hi:
                m = self._rx.match(text, at, end)
                if m is None:
                    at += 1
                    continue
                yield m
                at = cursor = max(m.end(), at + 1)


class _Windows:
    """:func:`start_windows` of the last region asked for: the four patterns run over the same regions.

    One tuple, replaced whole, so that threads sharing a classifier never mix one text's windows with
    another's; it holds the text, so that no other text can take its place (and its ``id``).
    """

    def __init__(self, finders: tuple[Any, Any]) -> None:
        self._finders = finders
        self._last: tuple[str | None, int, int, list[tuple[int, int]]] = (None, 0, 0, [])

    def __call__(self, text: str, pos: int, endpos: int) -> list[tuple[int, int]]:
        last = self._last
        if last[0] is text and last[1] == pos and last[2] == endpos:
            return last[3]
        windows = start_windows(text, pos, endpos, self._finders)
        self._last = (text, pos, endpos, windows)
        return windows
