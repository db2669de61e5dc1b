"""Reach a file below a trusted root without ever following a link the share's writers control.

A path such as ``/srv/drop/a/b/doc.txt`` is resolved by the kernel on every system call that takes
it, so ``lstat`` + ``realpath`` + ``open`` (or ``stat`` + ``rename``) resolve it several times, and a
writer who swaps ``a`` for a symlink between two of them redirects the later call anywhere (item 2
and 7 of issue 14: the audit log moved into the vault, a descriptor of a file outside the zone).

Here the root (the zone or scan root from the operator's configuration: trusted, links in it are
followed) is opened once, and every component below it is opened relative to its parent's
descriptor with ``O_NOFOLLOW|O_DIRECTORY``: a component that is a symlink is refused (or, when the
caller asked to follow links, resolved by hand inside the root, never by the kernel). The caller
then acts on ``(dir_fd, name)`` with ``*at`` calls (``openat``, ``renameat``, ``linkat``,
``unlinkat``), so whatever happens to the path afterwards, the directory acted in is the one walked.

Used by the read side (``agent.extract.safeopen``), the reconcile walk and the quarantine vault
(``agent.actions.quarantine``): it lives in ``agent.security`` because extract and actions may not
import each other, and a safe walk is part of the agent's own security, not of a pipeline stage.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
MAX_LINKS = 40  # like the kernel's MAXSYMLINKS: more hops while following links is a loop


class PathRefused(Exception):
    """Why a path was not reached. ``reason`` is one of ``models.ERROR_REASONS``; no content in ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def errno_reason(e: OSError) -> str:
    """The bounded reason for a failed system call."""
    if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ESTALE):
        return "vanished"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission_denied"
    if e.errno == errno.ELOOP:
        return "symlink_loop"
    return "io_error"


def _readlink_reason(e: OSError) -> str:
    """readlink on an entry that stopped being a link (EINVAL): it was swapped meanwhile."""
    return "vanished" if e.errno == errno.EINVAL else errno_reason(e)


def components(root: str, path: str) -> list[str]:
    """The names of ``path`` below ``root``, lexically; refused when the path is not below the root."""
    root_n, path_n = os.path.normpath(root), os.path.normpath(path)
    if root_n == path_n:
        return []
    prefix = root_n if root_n.endswith("/") else root_n + "/"
    if not path_n.startswith(prefix):
        raise PathRefused("symlink_outside", "path is not below its zone or scan root")
    return [p for p in path_n[len(prefix) :].split("/") if p]


def open_root(root: str) -> int:
    """Open the trusted root directory (links in the operator's own path are followed)."""
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise PathRefused(errno_reason(e), f"root cannot be opened: {os.strerror(e.errno or 0)}") from None


@dataclass
class _Walk:
    """The chain of open directory descriptors from the root down to the current directory."""

    fds: list[int]
    real_root: str
    follow: bool
    hops: int = 0

    @property
    def cur(self) -> int:
        return self.fds[-1]

    def close_all(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()

    def up(self) -> None:
        if len(self.fds) == 1:
            raise PathRefused("symlink_outside", "symbolic link leads outside the scanned tree")
        os.close(self.fds.pop())

    def link_target(self, name: str) -> list[str]:
        """The components a symlink named ``name`` in the current directory stands for (follow mode)."""
        if not self.follow:
            raise PathRefused("symlink_outside", "a directory on the path is a symbolic link: not followed")
        self.hops += 1
        if self.hops > MAX_LINKS:
            raise PathRefused("symlink_loop", "symbolic link loop")
        try:
            target = os.readlink(name, dir_fd=self.cur)
        except OSError as e:
            raise PathRefused(_readlink_reason(e), "symbolic link changed while it was read") from None
        if target.startswith("/"):  # absolute: restart from the root, the target must lie below it
            parts = components(self.real_root, target)
            while len(self.fds) > 1:
                os.close(self.fds.pop())
            return parts
        return [p for p in target.split("/") if p and p != "."]

    def enter(self, name: str) -> list[str]:
        """Step into directory ``name``; returns components to walk first when it was a followed link."""
        if name == "..":
            self.up()
            return []
        try:
            self.fds.append(os.open(name, DIR_FLAGS, dir_fd=self.cur))
            return []
        except OSError as e:
            if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise PathRefused(
                    errno_reason(e), f"directory cannot be opened: {os.strerror(e.errno or 0)}"
                ) from None
        if not self._is_link(name):
            raise PathRefused("vanished", "a directory on the path was replaced by a file")
        return self.link_target(name)

    def _is_link(self, name: str) -> bool:
        try:
            return stat.S_ISLNK(os.stat(name, dir_fd=self.cur, follow_symlinks=False).st_mode)
        except OSError as e:
            raise PathRefused(errno_reason(e), "entry vanished while the path was walked") from None


def _resolve(walk: _Walk, parts: list[str]) -> str:
    """Walk every component but the last; returns the last name (its directory is ``walk.cur``)."""
    todo = list(parts)
    while todo:
        name = todo.pop(0)
        if not todo:
            if name == "..":
                walk.up()
                return "."
            return name
        todo[:0] = walk.enter(name)
    return "."


@dataclass
class Entry:
    """An open directory (``dir_fd``) and the name of an entry in it; close() when done."""

    dir_fd: int
    name: str

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def lstat(self) -> os.stat_result:
        return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)


def locate(root: str, path: str, follow_symlinks: bool = False) -> Entry:
    """The parent directory of ``path`` (opened without following any link below ``root``) and its name.

    With ``follow_symlinks`` a directory that is a link is followed by hand, as long as it stays below
    the root; the final component is never followed here (see :func:`open_regular`).
    """
    parts = components(root, path)
    if not parts:
        raise PathRefused("not_regular_file", "the root itself is a directory")
    walk = _Walk([open_root(root)], os.path.realpath(root), follow_symlinks)
    try:
        name = _resolve(walk, parts)
        while len(walk.fds) > 1:  # keep only the innermost directory
            os.close(walk.fds.pop(0))
        return Entry(walk.fds.pop(), name)
    except BaseException:
        walk.close_all()
        raise


@contextmanager
def located(root: str, path: str, follow_symlinks: bool = False) -> Iterator[Entry]:
    """:func:`locate` as a context manager that closes the directory descriptor."""
    entry = locate(root, path, follow_symlinks)
    try:
        yield entry
    finally:
        entry.close()


def _open_final(entry: Entry) -> tuple[int, os.stat_result]:
    try:
        fd = _openat(entry)
    except OSError as e:
        if e.errno == errno.ELOOP:  # the last component is a symlink
            raise _Link() from None
        raise PathRefused(errno_reason(e), f"open failed: {os.strerror(e.errno or 0)}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise PathRefused("not_regular_file", f"{kind(st.st_mode)} is not read")
    return fd, st


def _openat(entry: Entry) -> int:
    if _NOATIME:
        try:
            return os.open(entry.name, FILE_FLAGS | _NOATIME, dir_fd=entry.dir_fd)
        except PermissionError:
            pass  # O_NOATIME needs ownership or CAP_FOWNER: fall back to a plain open
    return os.open(entry.name, FILE_FLAGS, dir_fd=entry.dir_fd)


class _Link(Exception):
    """The final component is a symbolic link (internal signal)."""


def open_regular(root: str, path: str, follow_symlinks: bool = False) -> tuple[int, os.stat_result]:
    """An ``O_RDONLY|O_NONBLOCK`` descriptor of the regular file at ``path`` below ``root``, and its fstat.

    No link below the root is followed by the kernel. A final symlink is refused: ``symlink_outside``
    when it leads out of the root, ``symlink_loop`` for a loop, ``vanished`` when dangling, and
    ``not_regular_file`` when it leads to a file inside (scanned in place); with ``follow_symlinks``
    the inside target is opened (by the same hand walk).
    """
    entry = locate(root, path, follow_symlinks)
    try:
        for _ in range(MAX_LINKS):
            try:
                return _open_final(entry)
            except _Link:
                target = _link_path(entry, root)
                if not follow_symlinks:
                    _classify_link(root, target)
                    raise PathRefused(
                        "not_regular_file", "symbolic link not followed; its target is scanned in place"
                    ) from None
                entry.close()
                entry = locate(root, target, follow_symlinks=True)
        raise PathRefused("symlink_loop", "symbolic link loop")
    finally:
        entry.close()


def _link_path(entry: Entry, root: str) -> str:
    """The lexical path (below or outside the root) a final symlink points to."""
    try:
        target = os.readlink(entry.name, dir_fd=entry.dir_fd)
    except OSError as e:
        raise PathRefused(_readlink_reason(e), "symbolic link changed while it was read") from None
    if target.startswith("/"):
        real_root = os.path.realpath(root)
        return os.path.join(root, os.path.relpath(target, real_root)) if _below(target, real_root) else target
    try:
        here = os.readlink(f"/proc/self/fd/{entry.dir_fd}")
    except OSError:  # the folder's path is past PATH_MAX: /proc cannot name it
        raise PathRefused("not_regular_file", "link in a folder past PATH_MAX: not followed") from None
    real_root = os.path.realpath(root)
    full = os.path.normpath(os.path.join(here, target))
    return os.path.join(root, os.path.relpath(full, real_root)) if _below(full, real_root) else full


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _classify_link(root: str, target: str) -> None:
    """Raise the precise reason a final symlink is refused with, when it is not a link to a file inside."""
    try:
        fd, _ = open_regular(root, target, follow_symlinks=True)
    except PathRefused as e:
        if e.reason in ("symlink_outside", "symlink_loop"):
            raise
        if e.reason == "vanished":
            raise PathRefused("vanished", "symbolic link target does not exist") from None
        return
    os.close(fd)


def kind(mode: int) -> str:
    """A readable name for a non-regular file type."""
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symbolic link"),
    ):
        if test(mode):
            return name
    return "special file"


def resolve_link(path: str, root: str | None) -> tuple[str, str]:
    """Classify a symlink for reporting: ("loop"|"outside"|"inside"|"dangling", resolved path).

    Used by listings (``dropwarden scan``'s walk) to say why a link is skipped; nothing is ever
    opened through the path it returns without :func:`open_regular`'s walk.
    """
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "loop", path
        target = os.path.realpath(path)
        if root is not None and not _below(target, os.path.realpath(root)):
            return "outside", target
        return "dangling", target
    if root is None or not _below(target, os.path.realpath(root)):
        return "outside", target
    return "inside", target


class StateFileError(OSError):
    """A state file or directory the agent cannot make private (a link, not ours, not a regular file).

    An OSError, so ``dropwarden run`` reports it like any other start-up I/O error (exit 2); the
    message (``strerror``) says which file and why."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EPERM, message)


#: SQLite's companions of a database file: created by SQLite with the database file's own mode.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _tighten(fd: int, st: os.stat_result, want: int, shown: str) -> bool:
    """chmod an open state file or directory down to ``want``; True when it was wider."""
    mode = stat.S_IMODE(st.st_mode)
    if mode & want == mode:
        return False
    try:
        os.fchmod(fd, mode & want)
    except OSError as exc:
        why = f"{shown} is {oct(mode)} and cannot be made private: {exc.strerror}"
        raise StateFileError(why) from None
    return True


def private_file(path: str | os.PathLike[str]) -> bool:
    """Create the state file ``path`` 0600, or take an existing one down to 0600; True when it was wider.

    Opened without following a link (a link planted in the state directory is refused, never chmod'ed
    through), so whatever opens the path next (SQLite, which creates its -wal/-shm files with the
    database file's mode) starts from a private file. Raises :class:`StateFileError` with a clear message.
    """
    shown = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        why = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be opened: {exc.strerror}"
        raise StateFileError(f"state file {shown} {why}; refusing to use it") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StateFileError(f"state file {shown} is a {kind(st.st_mode)}, not a regular file")
        return _tighten(fd, st, 0o600, shown)
    finally:
        os.close(fd)


def private_sqlite(path: str | os.PathLike[str]) -> bool:
    """:func:`private_file` for a SQLite database and whichever of its side files already exist."""
    widened = private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        if os.path.lexists(f"{os.fspath(path)}{suffix}"):
            widened = private_file(f"{os.fspath(path)}{suffix}") or widened
    return widened


def make_private_dir(path: str) -> int | None:
    """Create ``path`` (0700) or take an existing one private: every directory in it 0700, every file 0600.

    The state directory holds the journal (every path in the zones), the agent key and the vault; an
    operator who pre-created it 0755 or 0777 (or a package that did, or an earlier run under another
    umask) must not leave it, its subdirectories (vault, evidence, bundles) or any file in them readable.
    Returns the directory's mode when anything had to be tightened, else None. Links inside are left
    alone (never chmod'ed, never followed); what cannot be tightened raises :class:`StateFileError`.
    """
    os.makedirs(path, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise StateFileError(f"state directory {path} cannot be opened: {exc.strerror}") from None
    try:
        before = stat.S_IMODE(os.fstat(fd).st_mode)
        widened = _tighten(fd, os.fstat(fd), 0o700, path)
        widened = _tighten_below(fd, path) or widened
    finally:
        os.close(fd)
    return before if widened else None


def _tighten_below(dir_fd: int, shown: str) -> bool:
    """Depth-first over the tree below ``dir_fd`` without following links: dirs 0700, files 0600."""
    widened = False
    for name in os.listdir(dir_fd):
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        if not (is_dir or stat.S_ISREG(st.st_mode)):
            continue
        flags = DIR_FLAGS if is_dir else FILE_FLAGS
        fd = os.open(name, flags, dir_fd=dir_fd)
        try:
            here = os.fstat(fd)
            if (here.st_dev, here.st_ino) != (st.st_dev, st.st_ino):
                continue  # swapped since the stat: not ours to touch
            where = f"{shown}/{name}"
            widened = _tighten(fd, here, 0o700 if is_dir else 0o600, where) or widened
            if is_dir:
                widened = _tighten_below(fd, where) or widened
        finally:
            os.close(fd)
    return widened
