"""Reach entries whose full path is longer than PATH_MAX.

Whoever can write into a zone can nest folders until the path of a file passes PATH_MAX (4096
bytes on Linux: 21 folders of 200-byte names): every system call that takes that path then fails
with ENAMETOOLONG, so a crawl that stats or lists by path skips the file and it is never scanned.
The kernel limit is on the path handed to one call, not on the tree: the directory is opened in
steps, the longest leading part that fits by path (as a short path is) and every component after
it relative to its parent's descriptor, without following links. Listings and stats then act on
that descriptor. (Reading a file never goes by its path: ``agent.security.dirfd`` walks from the
zone or scan root one component at a time.)
"""

from __future__ import annotations

import errno
import os

#: The kernel's limit on one path argument, terminating NUL included (linux/limits.h).
PATH_MAX = 4096
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_STEP = _DIR | os.O_NOFOLLOW
#: Components opened one by one past the longest head that fits (200 of them are 40 KB more path
#: with 200-byte names). A deeper folder is refused (ENAMETOOLONG, logged by the crawl): without a
#: bound, a chain of thousands of 1-byte folders costs a quadratic number of opens per crawl.
MAX_STEPS = 200


def open_dir(path: str) -> int:
    """A descriptor of the directory ``path``, however long; OSError like ``os.open`` otherwise.

    A path that fits is opened as the path-based listing did before (the operator's own links in a
    zone root are followed); past PATH_MAX the components beyond the longest fitting head are opened
    one by one with ``O_NOFOLLOW`` (a link swapped in there is refused with ELOOP/ENOTDIR).
    """
    try:
        return os.open(path, _DIR)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    raw = os.fsencode(path)
    cut = raw.rfind(b"/", 0, PATH_MAX - 1)
    if cut <= 0:  # no separator early enough: one component longer than PATH_MAX
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
    steps = [name for name in raw[cut + 1 :].split(b"/") if name]
    if len(steps) > MAX_STEPS:
        raise OSError(errno.ENAMETOOLONG, f"more than {MAX_STEPS} folders past PATH_MAX")
    fd = os.open(raw[:cut], _DIR)
    try:
        for name in steps:
            step = os.open(name, _STEP, dir_fd=fd)
            os.close(fd)
            fd = step
    except BaseException:
        os.close(fd)
        raise
    return fd


def lstat(path: str) -> os.stat_result:
    """``os.lstat`` that also reaches an entry whose path is longer than PATH_MAX."""
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    head, name = os.path.split(path)
    if not head or not name:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
    fd = open_dir(head)
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)


def readlink(path: str) -> str:
    """``os.readlink`` that also reaches a link whose path is longer than PATH_MAX."""
    if not too_long(path):
        return os.readlink(path)
    fd = open_dir(os.path.dirname(path))
    try:
        return os.readlink(os.path.basename(path), dir_fd=fd)
    finally:
        os.close(fd)


def too_long(path: str) -> bool:
    """True when ``path`` cannot be handed to one system call (only a descriptor walk reaches it)."""
    return len(os.fsencode(path)) >= PATH_MAX


def names(path: str) -> list[str]:
    """The names in directory ``path`` (however long), sorted."""
    fd = open_dir(path)
    try:
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


def listing(path: str) -> list[tuple[str, os.stat_result | None]]:
    """The entries of directory ``path`` (however long), sorted by name, each with its lstat (None
    when it vanished between the listing and the stat).

    Listed and stat'ed through a descriptor (``fstatat``), so it works at any depth.
    """
    fd = open_dir(path)
    try:
        with os.scandir(fd) as it:
            return sorted(((e.name, _entry_stat(e)) for e in it), key=lambda t: t[0])
    finally:
        os.close(fd)


def _entry_stat(entry: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except OSError:
        return None
