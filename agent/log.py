"""Logging setup (structlog over stdlib) and the secret scrubber, the last line of defence.

Every event, ours or a library's (presidio, watchdog go through stdlib logging), passes
`scrub_secrets` just before rendering: any string that looks like a matched value (Luhn-valid card,
mod-97-valid IBAN, PEM private key, cloud/API token, JWT, long high-entropy token) is replaced by its
masked form (agent.redact.mask). Exceptions are formatted to text first, so their messages are
scrubbed too. Stages must not log values in the first place; this catches the mistakes.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import IO, Any

import structlog

from agent.checksums import iban_valid, luhn_valid, shannon_entropy
from agent.redact import mask, printable, shown

_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----.*?"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----|\Z)",
    re.S,
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_API_TOKEN = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,})"
)
_AWS = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"\d(?<!\d\d)(?:[ -]?\d){12,22}(?!\d)")  # \d first: re's fast scan
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}")
_SEP = re.compile(r"[ -]")
_MIN_LEN = 13  # shortest thing we mask (a 13-digit card); shorter strings skip all regexes

#: Fields every event has that never hold data: not scanned (speed).
_SKIP_KEYS = frozenset({"timestamp", "level", "logger", "logger_name"})


def _card(m: re.Match[str]) -> str:
    """Mask every Luhn-valid 13–19 digit run made of whole separator groups within the match."""
    text = m.group(0)
    digits = _SEP.sub("", text)
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return mask(text, "CREDIT_CARD")
    # "4111 1111 1111 1111 12": the card is a sub-range of the groups
    parts = re.split(r"([ -])", text)
    groups = parts[0::2]
    for i in range(len(groups)):
        for j in range(min(len(groups), i + 6), i, -1):  # a card has at most 5 groups (4-4-4-4-3)
            cand = "".join(groups[i:j])
            if 13 <= len(cand) <= 19 and luhn_valid(cand):
                left = "".join(parts[: 2 * i])
                right = "".join(parts[2 * j - 1 :])
                mid = "".join(parts[2 * i : 2 * j - 1])
                return left + mask(mid, "CREDIT_CARD") + right
    return text


def _iban(m: re.Match[str]) -> str:
    text = m.group(0)
    cut = len(text)
    while cut > 0:  # "DE89 3704 0044 0532 0130 00 AB": try without trailing groups
        cand = text[:cut]
        if iban_valid(cand):
            return mask(cand, "IBAN_CODE") + text[cut:]
        cut = cand.rfind(" ")
    return text


_WORDISH = re.compile(r"[A-Z]?[a-z]{3,}")


def _judge_token(s: str) -> str:
    if len(s) < 20:
        return s
    if not (any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s)):
        return s  # words, hex digests, uuids, upper-case constants: not random tokens
    if sum(len(w) for w in _WORDISH.findall(s)) >= 0.75 * len(s):
        return s  # CamelCaseIdentifiers10 are mostly words; random base62 almost never is
    if shannon_entropy(s) >= min(4.0, math.log2(len(s)) - 0.6):
        return mask(s, "SECRET")
    return s


def _token(m: re.Match[str]) -> str:
    s = m.group(0)
    if s.startswith("/"):  # an absolute path: judge each component on its own
        return "/".join(_judge_token(part) for part in s.split("/"))
    return _judge_token(s)


def _secret(entity: str) -> Callable[[re.Match[str]], str]:
    return lambda m: mask(m.group(0), entity)


#: (cheap substring prefilter or None, pattern, replacement), applied in order.
_RULES: tuple[tuple[str | None, re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    ("-----BEGIN", _PEM, _secret("PRIVATE_KEY")),
    ("eyJ", _JWT, _secret("JWT")),
    (None, _API_TOKEN, _secret("API_KEY")),
    (None, _AWS, _secret("AWS_ACCESS_KEY")),
    (None, _IBAN, _iban),
    (None, _CARD, _card),
    (None, _TOKEN, _token),
)


def scrub_text(text: str) -> str:
    """The text with anything that looks like a secret or matched value masked."""
    if len(text) < _MIN_LEN:
        return text
    for needle, pattern, repl in _RULES:
        if needle is not None and needle not in text:
            continue
        text = pattern.sub(repl, text)
    return text


def scrub_value(value: Any) -> Any:
    """Scrub strings anywhere inside dicts, lists and tuples; other types pass through."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub_value(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, BaseException):
        return scrub_text(f"{type(value).__name__}: {value}")
    return value


def scrub_secrets(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: scrub every field of the event (keys are left alone)."""
    for k, v in event_dict.items():
        if k not in _SKIP_KEYS and not k.startswith("_"):
            event_dict[k] = scrub_value(v)
    return event_dict


@contextmanager
def about_file(shown_path: str | None) -> Iterator[None]:
    """Every log line inside names the file being scanned as ``path``, the way alerts show it (values in
    its name masked: agent.policy.names). Stages deep in a scan (extraction, classification) never
    know that form and must not log the real path, which may hold a customer's name or a card number;
    the daemon's worker binds it here once per file, after it masked the name. ``None`` (the name
    could not be masked): the lines carry no path; the parent's lines about the file withhold it."""
    if shown_path is None:
        yield
        return
    # bound and reset by token, a few µs a file (structlog's bound_contextvars copies the whole context)
    tokens = structlog.contextvars.bind_contextvars(path=shown_path)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


_HANDLER_MARK = "_dropwarden_handler"


_CHATTY_LIBRARIES = ("presidio-analyzer", "watchdog", "urllib3")


def printable_values(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Console lines: a file name with a newline or an escape sequence cannot forge a line or drive
    the terminal (JSON lines escape them already)."""
    for k, v in event_dict.items():
        if isinstance(v, str) and k != "exception":  # a traceback keeps its lines
            event_dict[k] = printable(v)
    return event_dict


def shown_values(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """JSON lines: a name's bytes that were not UTF-8 as ``\\xNN``, as alerts and reports show them,
    not as the lone-surrogate escapes ``\\udcNN`` that strict JSON readers (serde_json) refuse."""
    for k, v in event_dict.items():
        if isinstance(v, str):
            event_dict[k] = shown(v)
    return event_dict


#: syslog priorities of the stdlib levels, for journald's ``<N>`` line prefix (sd-daemon(3)).
JOURNAL_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


def writes_to_journal(stream: IO[str]) -> bool:
    """True when ``stream`` is the journal stream systemd gave us ($JOURNAL_STREAM is its dev:ino)."""
    dev, sep, ino = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError, AttributeError):
        return False


def no_color() -> bool:
    """The NO_COLOR convention (no-color.org): set and not empty turns colours off."""
    return bool(os.environ.get("NO_COLOR"))


class _JournalPriority(logging.Formatter):
    """Prefixes each record with ``<N>`` so journald files it at its priority (`journalctl -p err`)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return f"<{JOURNAL_PRIORITY.get(record.levelname, 6)}>{self.inner.format(record)}"


def configure_logging(json: bool | None = None, level: str = "info", stream: IO[str] | None = None) -> None:
    """Route structlog and stdlib logging through one scrubbing pipeline to `stream`.

    JSON lines (journald-friendly) when `json` or when the stream is not a TTY; console otherwise.
    Under systemd (the stream is $JOURNAL_STREAM) each line starts with its ``<N>`` priority.
    Timestamps ISO 8601 UTC. Safe to call again (replaces its own handler).
    """
    stream = stream if stream is not None else sys.stdout
    tty = bool(getattr(stream, "isatty", lambda: False)())
    as_json = (not tty) if json is None else json
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,  # exceptions become text here, so the scrubber sees them
        structlog.processors.UnicodeDecoder(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(
            colors=tty and not no_color(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    tail = [scrub_secrets, shown_values if as_json else printable_values, renderer]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_JournalPriority(formatter) if writes_to_journal(stream) else formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_MARK, False):
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(numeric)
    # Libraries' start-up chatter ("Loaded recognizer: …" per recognizer) drowns the agent's own events.
    # watchdog stays at WARNING whatever the agent's level: its overflow warning triggers a reconcile.
    for noisy in _CHATTY_LIBRARIES:
        floor = logging.WARNING if noisy == "watchdog" else max(numeric, logging.WARNING)
        logging.getLogger(noisy).setLevel(floor)
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def reset_logging() -> None:
    """Undo configure_logging (tests)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_MARK, False):
            root.removeHandler(h)
    logging.captureWarnings(False)
    structlog.reset_defaults()
