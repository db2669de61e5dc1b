"""Open a file for scanning with least privilege and without being tricked by the file system.

Whoever writes into a zone can swap the file, or any directory above it, for a symlink, a FIFO or
a device between our decision and our open. So the file is reached by walking from the zone's (or
scan root's) directory descriptor one component at a time without following links
(:mod:`agent.security.dirfd`), opened ``O_NOFOLLOW|O_NONBLOCK`` (a FIFO swapped in cannot block
us), and the descriptor's fstat must say "regular file": what we read is what we decided about.
"""

from __future__ import annotations

import os

from agent.security.dirfd import PathRefused, open_regular, resolve_link

__all__ = ["OpenFailure", "open_for_scan", "resolve_link"]

#: Why a file was not opened: ``reason`` is one of ``models.ERROR_REASONS``; no content in ``detail``.
OpenFailure = PathRefused


def open_for_scan(path: str, root: str | None, follow_symlinks: bool = False) -> tuple[int, os.stat_result]:
    """Return a blocking O_RDONLY descriptor of the regular file at ``path`` and its fstat; raise OpenFailure.

    ``root`` (default: the file's own directory) is trusted; below it no link is followed unless
    ``follow_symlinks``, and then only while it stays inside ``root``. A symlink that is refused
    while its target lies inside the root is reported as ``not_regular_file`` (its target is
    scanned in place).
    """
    fd, st = open_regular(root if root is not None else os.path.dirname(os.path.abspath(path)),
                          os.path.abspath(path), follow_symlinks)  # fmt: skip
    try:
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st
