"""Checked packs, remembered: `policy lint` and `config check` answer unchanged packs from a cache.

Checking the shipped packs costs ~0.2 CPU s (YAML, the pydantic schema, ~200 regexes parsed by `re`
and walked for backtracking shapes, lint's trigger search), yet the result depends only on bytes:
the pack files, the value-set files they name, the paths as given, the entity names (and for lint
how high they score), the code that checks and the libraries it uses. The issues found are stored
as JSON under a SHA-256 of all of these; a later run with the same inputs returns them without
loading the checker.

- **Complete key.** Pack bytes are read once here and handed to the check (what is hashed is what
  is checked). The check's other reads (value sets) are recorded with their digests in the entry and
  compared on every use: a changed, new or vanished file is a miss.
- **Private place.** The entry lives in a state directory that is this user's and closed to group
  and others (opened without following a link); anything else means no cache, and the check runs.
  An entry is read only when it is a regular file of ours, mode 0600, of bounded size and of the
  expected shape. It is data (strings), never code: no pickle.
- **Best effort.** Any failure to read or write an entry only costs the time of the check.
- **Sealed.** An entry starts with an HMAC-SHA256 of its body; an entry whose result a scan would
  trust (agent.policy.setcache: the compiled rules) is sealed with a key derived from the agent's
  secret key, so a file this user did not write with that key is a miss.

:func:`remembered` is the general form (any result with a JSON codec); :func:`checked` keeps issues.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Generic, TypeVar

from agent.policy.compiled import Issue
from agent.policy.shipped import pack_files

#: Bumped when the entry layout changes.
FORMAT = 2
#: An entry larger than this is neither written nor read (the shipped packs' compiled rules: ~0.16 MB).
MAX_ENTRY_BYTES = 4 * 1024 * 1024
#: The checking code: this package and the shared modules it uses (their source bytes are hashed).
_AGENT = Path(__file__).resolve().parents[1]
CODE_FILES = (
    *sorted(Path(__file__).resolve().parent.glob("*.py")),
    _AGENT / "models.py",
    _AGENT / "redact.py",
)
#: Libraries whose behaviour shows in the issues (validation messages, what compiles): an upgrade
#: rewrites their files, which changes the key.
LIBRARIES = ("pydantic", "pydantic_core", "re2", "yaml")
_LEVELS = ("error", "warning")
#: The seal of entries nobody could forge without reading the state dir anyway (an HMAC with no key:
#: a checksum); results a scan trusts are sealed with a key of their own (:func:`remembered`).
UNKEYED = b""

Sources = Mapping[Path, bytes]
#: Runs the real check on the given sources (every file it reads goes through them).
Check = Callable[[Sources], list[Issue]]
T = TypeVar("T")


def checked(
    kind: str,
    paths: Sequence[str | Path],
    known: frozenset[str],
    check: Check,
    state_dir: str | Path | None,
    sources: Sources | None = None,
    inputs: object = None,
) -> list[Issue]:
    """``check``'s issues for the packs of ``paths``, from the entry ``kind`` in ``state_dir`` when
    every input is unchanged, else computed and stored. ``sources``: files already read (and
    signature-checked) by the caller; the check then reads nothing else, as the loader does.
    ``inputs``: whatever else the check depends on, as JSON data (part of the key)."""
    return remembered(kind, paths, known, check, state_dir, ISSUES, sources, inputs)


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How a cached result is stored: ``encode`` gives JSON data; ``decode`` gives the result back, or
    None when the data is not of the expected shape (then the entry is a miss)."""

    encode: Callable[[T], Any]
    decode: Callable[[Any], T | None]


def remembered(
    kind: str,
    paths: Sequence[str | Path],
    known: frozenset[str],
    compute: Callable[[Sources], T],
    state_dir: str | Path | None,
    codec: Codec[T],
    sources: Sources | None = None,
    inputs: object = None,
    seal: bytes = UNKEYED,
) -> T:
    """``compute``'s result for the packs of ``paths`` (as :func:`checked`), stored as ``codec``
    encodes it in an entry sealed with ``seal`` (HMAC key). An exception from ``compute`` passes
    through and stores nothing."""
    reads = _Reads(sources)
    fd = _private_dir(state_dir) if state_dir is not None else None
    if fd is None:
        return _run(compute, reads)
    try:
        key = _key(kind, paths, known, reads, inputs)
        if key is None:
            return _run(compute, reads)
        stored = _load(fd, kind, key, sources, seal)
        hit = codec.decode(stored) if stored is not None else None
        if hit is not None:
            return hit
        result = _run(compute, reads)
        _store(fd, kind, key, reads.recorded, codec.encode(result), seal)
        return result
    finally:
        os.close(fd)


def recall(kind: str, version: object, state_dir: str | Path | None, seal: bytes) -> Any:
    """What :func:`keep` stored as ``kind`` for this ``version`` (JSON data, to be checked by the
    caller), when the entry is private, ours and sealed with ``seal``; else None. For a result that
    depends on code only, not on packs (``version``: a digest of that code)."""
    fd = _private_dir(state_dir) if state_dir is not None else None
    if fd is None:
        return None
    try:
        return _load(fd, kind, _versioned(kind, version), None, seal)
    finally:
        os.close(fd)


def keep(kind: str, version: object, state_dir: str | Path | None, seal: bytes, value: Any) -> None:
    """Store ``value`` (JSON data) as ``kind`` for this ``version`` (best effort, as every entry)."""
    fd = _private_dir(state_dir) if state_dir is not None else None
    if fd is None:
        return
    try:
        _store(fd, kind, _versioned(kind, version), {}, value, seal)
    finally:
        os.close(fd)


def _versioned(kind: str, version: object) -> str:
    return hashlib.sha256(json.dumps([FORMAT, kind, version]).encode()).hexdigest()


def seal_for(key: bytes, label: bytes) -> bytes:
    """The seal (HMAC key) of entries of one kind, derived from the agent's secret key."""
    return hmac.new(key, label, hashlib.sha256).digest()


def user_state_dir() -> Path | None:
    """This user's private state directory (where scan keeps its key), created 0700 when absent; None
    when it cannot be."""
    from agent.redact import default_key_path

    path = default_key_path().parent
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return path


def _run(check: Callable[[Sources], T], reads: _Reads) -> T:
    """The check, without the cyclic garbage collector: its passes over the imported modules, the
    pydantic schemas and ~200 regex parse trees cost ~0.04 s of a one-shot check and free nothing
    that matters (reference counting frees the rest; the collector is back on afterwards)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        return check(reads)
    finally:
        if was_on:
            gc.enable()


def code_version() -> str | None:
    """SHA-256 over the checking code's source, the Python version and the libraries' installed
    files; None when one of them cannot be read (then nothing is cached)."""
    h = hashlib.sha256(sys.version.encode())
    try:
        for f in CODE_FILES:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        for name in LIBRARIES:
            spec = find_spec(name)
            origin = spec.origin if spec is not None else None
            st = os.stat(origin) if origin else None
            h.update(f"{name}\0{origin}\0{st and st.st_size}\0{st and st.st_mtime_ns}".encode())
    except (OSError, ImportError, ValueError):
        return None
    return h.hexdigest()


class _Reads(Mapping[Path, bytes]):
    """The files the check reads, each read once (from ``base`` when given, else from disk), with the
    digest of what was read, or why it could not be."""

    def __init__(self, base: Sources | None) -> None:
        self.base = base
        self.data: dict[Path, bytes] = {}
        self.recorded: dict[str, str] = {}

    def __getitem__(self, path: Path) -> bytes:
        path = Path(path)
        if path not in self.data:
            try:
                self.data[path] = self.base[path] if self.base is not None else path.read_bytes()
            except (KeyError, OSError) as exc:
                self.recorded[str(path)] = _failure(exc)
                raise
            self.recorded[str(path)] = _digest(self.data[path])
        return self.data[path]

    def __iter__(self) -> Iterator[Path]:
        return iter(self.base if self.base is not None else self.data)

    def __len__(self) -> int:
        return len(self.base if self.base is not None else self.data)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _failure(exc: Exception) -> str:
    return f"errno:{exc.errno}" if isinstance(exc, OSError) else "missing"


def _state(path: str, base: Sources | None) -> str:
    """What reading ``path`` now gives: its digest, or why it cannot be read (as _Reads records it)."""
    try:
        return _digest(base[Path(path)] if base is not None else Path(path).read_bytes())
    except (KeyError, OSError) as exc:
        return _failure(exc)


def _key(
    kind: str, paths: Sequence[str | Path], known: frozenset[str], reads: _Reads, inputs: object = None
) -> str | None:
    """The digest of every input but the value sets (None: the code cannot be read, no cache); the
    pack files are read (into ``reads``) here."""
    files, missing = pack_files(paths)
    packs = []
    for f in files:
        with contextlib.suppress(KeyError, OSError):
            reads[f]  # the check gets these very bytes
        packs.append((str(f), reads.recorded[str(f)]))
    reads.recorded.clear()  # from here on: what the check reads besides the packs
    code = code_version()
    if code is None:
        return None
    blob = [FORMAT, kind, code, sorted(known), [str(p) for p in paths]]
    blob += [[i.file for i in missing], packs, inputs]
    return hashlib.sha256(json.dumps(blob).encode()).hexdigest()


def _private_dir(path: str | Path) -> int | None:
    """A descriptor of ``path`` when it is a directory of this user closed to group and others."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        os.close(fd)
        return None
    return fd


def _entry_name(kind: str) -> str:
    return f"checked-packs-{kind}.json"


def _load(dir_fd: int, kind: str, key: str, base: Sources | None, seal: bytes) -> Any:
    """The stored value (JSON data) when the entry is ours, sealed with ``seal``, well formed, of this
    key, and its reads unchanged; else None."""
    try:
        fd = os.open(
            _entry_name(kind), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
        )
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        private = stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077
        if not private or st.st_size > MAX_ENTRY_BYTES:
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            mac, _, body = f.read(MAX_ENTRY_BYTES + 1).partition(b"\n")
        if not hmac.compare_digest(mac, _mac(seal, body)):
            return None
        entry = json.loads(body)
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    finally:
        os.close(fd)
    return _value_of(entry, key, base)


def _mac(seal: bytes, body: bytes) -> bytes:
    return hmac.new(seal, body, hashlib.sha256).hexdigest().encode()


def _value_of(entry: Any, key: str, base: Sources | None) -> Any:
    """The entry's value when it is of this format and key and what it read reads the same now."""
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
        return None
    reads = entry.get("reads")
    if not isinstance(reads, dict):
        return None
    if any(not isinstance(v, str) or _state(p, base) != v for p, v in reads.items()):
        return None
    return entry.get("value")


def _issue_rows(issues: list[Issue]) -> list[list[str]]:
    return [[i.file, i.rule, i.field, i.message, i.suggestion, i.level] for i in issues]


def _issues_of(rows: Any) -> list[Issue] | None:
    if not isinstance(rows, list):
        return None
    issues = []
    for row in rows:
        if not (isinstance(row, list) and len(row) == 6 and all(isinstance(x, str) for x in row)):
            return None
        if row[5] not in _LEVELS:
            return None
        issues.append(Issue(*row))
    return issues


#: Lists of issues as entries keep them (six strings each).
ISSUES: Codec[list[Issue]] = Codec(_issue_rows, _issues_of)


def _store(dir_fd: int, kind: str, key: str, reads: dict[str, str], value: Any, seal: bytes) -> None:
    """Write the entry (0600) under a temporary name and rename it into place; failures are ignored,
    and so is an entry too large to be read back."""
    body = json.dumps({"format": FORMAT, "key": key, "reads": reads, "value": value}).encode()
    data = _mac(seal, body) + b"\n" + body
    if len(data) > MAX_ENTRY_BYTES:
        return
    tmp = f".{_entry_name(kind)}.{os.getpid()}.tmp"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd
        )
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, _entry_name(kind), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
