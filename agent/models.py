"""Plain frozen dataclasses that the pipeline stages pass to each other: the contract between them.

The stages (sources, extract, classify, policy, actions) import this module and the shared helpers
(journal, redact, log, checksums, metrics), never each other: the import contracts in pyproject.toml
check it. Fields marked ``repr=False`` hold raw matched text: in memory only, never logged, reported
or sent in clear; the one way they leave a worker is sealed evidence (agent.security.evidence),
encrypted to the security team's key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES, start=1)}

ZoneRole = Literal["contractor-drop", "outbound", "internal"]
ZONE_ROLES: tuple[ZoneRole, ...] = ("contractor-drop", "outbound", "internal")

#: Reason codes of :class:`ExtractError`. A bounded set: they are metric label values.
ERROR_REASONS: tuple[str, ...] = (
    "limit_bytes",  # more text or bytes than the configured limit: the rest was not scanned
    "limit_ratio",  # decompression ratio above the limit (zip bomb)
    "limit_members",  # archive with more members than the limit
    "limit_depth",  # archives nested deeper than the limit
    "timeout",  # the per-file time limit was exceeded
    "malformed",  # the format parser rejected the file (truncated PDF, random bytes named .docx)
    "encrypted",  # password-protected document or archive member
    "decode_error",  # text whose encoding could not be determined
    "not_regular_file",  # FIFO, socket, device: never opened for reading
    "permission_denied",
    "vanished",  # deleted or replaced between listing and reading
    "symlink_loop",
    "symlink_outside",  # a link leaving the scanned tree or zone: not followed
    "io_error",
    "unsupported_format",  # content of a kind no reader handles (detected by content, not by name)
    "internal",  # a bug in Dropwarden: reported, counted, and the scan goes on
    "limit_memory",  # the worker's memory ceiling was reached while reading the file
    "ocr_unavailable",  # image content but no Tesseract (or none of its language data) installed
    "ocr_failed",  # Tesseract failed on a page image
    "limit_pages",  # more page images to OCR than the limit: the rest was not read
    "limit_pixels",  # a page image larger than the pixel limit (decompression bomb guard): not decoded
)

#: Entity of the finding raised for content that could not be read completely (any ExtractError of a
#: file): its "value" is the error reason, so the policy engine groups, tunes and alerts it like any
#: other entity (policies/unscanned.yaml), and unscanned never reads as clean.
UNSCANNED_ENTITY = "UNSCANNED_CONTENT"


@dataclass(frozen=True)
class Limits:
    """Resource limits for reading one top-level file (and everything inside it)."""

    max_file_bytes: int = 2 * 1024**3  # files larger than this are not read at all
    max_text_chars: int = 256 * 1024**2  # text extracted from one top-level file, members included
    max_member_bytes: int = 256 * 1024**2  # uncompressed size of one archive member
    max_ratio: float = 200.0  # uncompressed / compressed size of an archive member
    max_members: int = 10_000  # members per archive
    max_depth: int = 5  # archive nesting depth (outer.zip!a.zip!b.txt is depth 2)
    max_unpacked_bytes: int = 4 * 1024**3  # decompressed bytes per top-level file, all nesting levels
    timeout_seconds: float = 120.0  # wall time per top-level file
    chunk_chars: int = 1_000_000  # large texts are classified in chunks of this size ...
    chunk_overlap: int = 4_096  # ... overlapping by this much so no value straddles a boundary unseen
    follow_symlinks: bool = False
    max_ocr_pages: int = 50  # page images OCRed per top-level file (image frames, scanned PDF pages, ...)
    max_image_pixels: int = 25_000_000  # pixels of one page image, checked from its header before decoding
    ocr_dpi: int = 200  # PDF pages without a text layer are rendered at this resolution for OCR
    ocr_languages: str = "eng+deu+fra+ita"  # Tesseract languages; the installed ones are used
    #: Address space of each scanning process (RLIMIT_AS); past it a file is reported limit_memory, and
    #: the process lives on. 0: no ceiling.
    max_memory_bytes: int = 3 * 1024**3


@dataclass(frozen=True)
class FileRef:
    """A top-level file to scan, as found on disk, with the zone it lies in."""

    path: str
    zone: str | None = None  # zone name from the agent config; None for ad hoc scans
    role: ZoneRole = "contractor-drop"
    root: str | None = None  # the zone or scan root: symlinks must not leave it


@dataclass(frozen=True)
class TextChunk:
    """A piece of extracted text.

    ``offset`` and ``line`` locate ``text[0]`` in the full text of (path, member), so positions
    stay stable across chunking. Overlapping chunks may report the same value twice; the
    pipeline drops duplicates by absolute position.
    """

    path: str  # top-level file on disk
    member: str | None  # archive member chain, e.g. "inner/dir/file.docx" or "a.zip!b/c.txt"
    text: str
    offset: int = 0
    line: int = 1
    # body | header | footer | notes | comments | sheet:<name> | metadata | attachment | keystore:<kind>
    part: str = "body"
    tabular: bool = False  # one record per line, cells separated by "\t" (CSV, XLSX rows)
    final: bool = True  # False while more chunks of the same (path, member) follow


@dataclass(frozen=True)
class ExtractError:
    """A file (or member) that could not be read completely. Never means "clean"."""

    path: str
    member: str | None
    reason: str  # one of ERROR_REASONS
    detail: str  # human-readable, must never contain file content


#: Format names the content sniffer gives (a bounded set: metric label values). "unknown": never sniffed.
FORMATS: tuple[str, ...] = (
    "text", "csv", "tsv", "pdf", "docx", "xlsx", "pptx", "odt", "ods", "doc", "xls", "ppt", "rtf",
    "ooxml_encrypted", "ole", "eml", "emlx", "mbox", "msg", "pst", "zip", "tar", "gzip", "bz2", "xz",
    "7z", "rar", "cab", "iso", "cpio", "compress", "image", "audio", "video", "font", "executable",
    "empty", "binary", "unknown", "epub", "xps", "vsdx", "iwork", "keystore", "wpd", "vsd", "pub", "chm",
    "onenote",
)  # fmt: skip

#: Part name prefix of the marker chunk extract yields for a binary keystore (``keystore:pkcs12``): its
#: text is the file's bytes as latin-1, for the classifier to parse (agent/classify/keystore.py).
KEYSTORE_PART = "keystore:"

FileStatus = Literal["read", "no_text_expected", "unscanned"]


@dataclass(frozen=True)
class FileRecord:
    """Inventory line of one top-level file or member: what it was, how much text it gave.

    ``format`` is a sniffed format name (a bounded set: a metric label value); ``unscanned`` means
    at least one ExtractError names this file or member: it was not read completely.
    """

    path: str
    member: str | None
    format: str
    chars: int
    status: FileStatus


@dataclass(frozen=True)
class Detection:
    """A candidate value found by a recognizer, before any policy decides about it."""

    entity: str  # CREDIT_CARD, IBAN_CODE, PRIVATE_KEY, CONFIDENTIAL_MARKING, EDM_MATCH, ...
    start: int  # absolute character offsets within the text of (path, member)
    end: int
    score: float
    recognizer: str
    path: str
    member: str | None
    line: int
    part: str = "body"
    value: str = field(default="", repr=False)  # raw matched text: memory only
    context: str = field(default="", repr=False)  # text around the match: memory only
    context_start: int = 0  # absolute offset of context[0]
    attributes: tuple[tuple[str, str], ...] = ()  # safe extra facts, e.g. (("records", "3"),)

    def attribute(self, key: str, default: str | None = None) -> str | None:
        return dict(self.attributes).get(key, default)


@dataclass(frozen=True)
class Finding:
    """A detection accepted by a policy rule. Safe to serialise: no raw value in it."""

    path: str
    member: str | None
    policy: str
    rule: str
    entity: str
    severity: Severity
    score: float
    line: int
    start: int
    end: int
    excerpt: str  # redacted
    fingerprint: str  # keyed hash of the matched value
    desc: str = ""
    zone: str | None = None
    count: int = 1  # distinct values behind this finding (bulk rules)
    tags: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()  # e.g. ("alert",) or ("alert", "quarantine")
    # A file's findings are grouped per rule (agent.policy.group): the location, excerpt and fingerprint
    # are the first occurrence's; these say how many there were and where the first few lie.
    occurrences: int = 1
    members: tuple[str, ...] = ()  # first archive members holding a finding of this rule
    excerpts: tuple[str, ...] = ()  # first distinct excerpts (redacted)


@dataclass(frozen=True)
class Verdict:
    """Everything known about one top-level file after a scan."""

    path: str
    zone: str | None
    findings: tuple[Finding, ...]
    errors: tuple[ExtractError, ...]
    bytes: int
    seconds: float
    files: tuple[FileRecord, ...] = ()  # inventory: the top-level file first, then every member

    @property
    def max_severity(self) -> Severity | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITY_RANK.__getitem__)


@dataclass(frozen=True)
class RecognizerSpec:
    """A recognizer declared in a policy pack (YAML), compiled by the classifier."""

    name: str
    entity: str
    patterns: tuple[tuple[str, str, float], ...]  # (name, regex, score)
    context: tuple[str, ...] = ()
    validator: str = "none"  # none | luhn | iban | mod11 | mod97 | entropy
    min_entropy: float = 0.0  # for validator "entropy": bits per character
    languages: tuple[str, ...] = ("en",)
    trigger: str | None = None  # prefilter contract: re2 regex every match contains (None: no prefilter)
    max_len: int | None = None  # longest match; None with a trigger: matches never contain whitespace
    filters: tuple[str, ...] = ()  # named false-positive filters (classify/filters.py)
    examples_match: tuple[str, ...] = ()  # `policy test`: a detection of this recognizer >= 0.5
    examples_no_match: tuple[str, ...] = ()  # `policy test`: none of this recognizer >= 0.5


@dataclass(frozen=True)
class Alert:
    """A finding the agent reports to the sinks (console, JSONL, webhooks, syslog).

    ``id`` is a stable de-duplication key (keyed hash of path, rule and value fingerprint), so the
    same value in the same file under the same rule alerts once, whatever the number of rescans.
    """

    id: str
    time: float  # unix time the verdict was reached
    host: str
    zone: str | None
    role: str
    path: str
    member: str | None
    policy: str
    rule: str
    entity: str
    severity: Severity
    excerpt: str  # redacted
    fingerprint: str  # keyed hash
    desc: str = ""
    count: int = 1
    tags: tuple[str, ...] = ()
    line: int = 0
    incident_id: str | None = None  # set when the file was quarantined
    evidence_id: str | None = None  # sealed match context (settings evidence: encrypted)
    occurrences: int = 1  # findings of this rule in the file (grouped into this one alert)
    members: tuple[str, ...] = ()
    excerpts: tuple[str, ...] = ()
