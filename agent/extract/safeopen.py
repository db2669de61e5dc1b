"""Open a file for scanning with least privilege and without being tricked by the file system.

The decision (lstat) and the open are two system calls; between them an attacker who controls the
share can swap the file for a FIFO, a device or a symlink. So: never open what lstat says is not a
regular file, open with O_NOFOLLOW|O_NONBLOCK (a FIFO swapped in cannot block us), then fstat the
descriptor and insist it is the very inode we decided about.
"""

from __future__ import annotations

import errno
import os
import stat

_BASE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)


class OpenFailure(Exception):
    """Why a file was not opened. ``reason`` is one of ``models.ERROR_REASONS``; no content in ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _errno_reason(e: OSError) -> str:
    if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ESTALE):
        return "vanished"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission_denied"
    if e.errno == errno.ELOOP:
        return "symlink_loop"
    return "io_error"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
    ):
        if test(mode):
            return name
    return "special file"


def resolve_link(path: str, root: str | None) -> tuple[str, str]:
    """Classify a symlink: ("loop"|"outside"|"inside"|"dangling", resolved path)."""
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "loop", path
        target = os.path.realpath(path)
        if root is not None and not _within(target, os.path.realpath(root)):
            return "outside", target
        return "dangling", target
    if root is None or not _within(target, os.path.realpath(root)):
        return "outside", target
    return "inside", target


def open_for_scan(path: str, root: str | None, follow_symlinks: bool = False) -> tuple[int, os.stat_result]:
    """Return an O_RDONLY descriptor of the regular file at ``path`` and its fstat; raise OpenFailure.

    A symlink is never followed unless ``follow_symlinks``; then only when its target stays inside
    ``root``. A symlink that is refused while its target lies inside the root is reported as
    ``not_regular_file`` (its target is scanned in place). When ``root`` is given, the real path
    (parent directories included) must lie inside it.
    """
    try:
        st = os.lstat(path)
    except OSError as e:
        raise OpenFailure(_errno_reason(e), f"lstat failed: {os.strerror(e.errno or 0)}") from None
    target = path
    if stat.S_ISLNK(st.st_mode):
        try:
            verdict, resolved = resolve_link(path, root)
        except OSError:  # the link was swapped for something else while being resolved
            raise OpenFailure("vanished", "file was replaced while its path was resolved") from None
        if verdict == "loop":
            raise OpenFailure("symlink_loop", "symbolic link loop")
        if verdict == "outside":
            raise OpenFailure("symlink_outside", "symbolic link leads outside the scanned tree")
        if verdict == "dangling":
            raise OpenFailure("vanished", "symbolic link target does not exist")
        if not follow_symlinks:
            raise OpenFailure(
                "not_regular_file", "symbolic link not followed; its target is scanned in place"
            )
        target = resolved
        try:
            st = os.lstat(target)
        except OSError as e:
            raise OpenFailure(_errno_reason(e), "lstat of link target failed") from None
    if not stat.S_ISREG(st.st_mode):
        raise OpenFailure("not_regular_file", f"{_kind(st.st_mode)} is not read")
    try:
        outside = root is not None and not _within(os.path.realpath(target), os.path.realpath(root))
    except OSError:  # a component changed under realpath (file <-> link swap): a race, never follow
        raise OpenFailure("vanished", "file was replaced while its path was resolved") from None
    if outside:
        raise OpenFailure("symlink_outside", "real path leads outside the scanned tree")
    fd = _open(target)
    try:
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or stat.S_IFMT(fst.st_mode) != stat.S_IFMT(
            st.st_mode
        ):
            raise OpenFailure("vanished", "file was replaced between listing and opening")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, fst


def _open(path: str) -> int:
    try:
        if _NOATIME:
            try:
                return os.open(path, _BASE_FLAGS | _NOATIME)
            except PermissionError:
                pass  # O_NOATIME needs ownership or CAP_FOWNER: fall back to a plain open
        return os.open(path, _BASE_FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:  # the file became a symlink after lstat: O_NOFOLLOW refused it
            raise OpenFailure("vanished", "file was replaced by a symbolic link") from None
        raise OpenFailure(_errno_reason(e), f"open failed: {os.strerror(e.errno or 0)}") from None
