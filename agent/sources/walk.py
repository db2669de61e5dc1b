"""Deterministic, iterative directory walk for `dropwarden scan` and reconciliation crawls.

Symlinks are never followed by default. A link that is not followed is reported only when it
matters: leaving the scan root -> ``symlink_outside``, a link cycle -> ``symlink_loop``; a link
whose target lies inside the root is skipped silently because the walk reaches that target
anyway. With ``follow_symlinks=True`` links inside the root are followed (directories too), links
leaving it are still refused, and directory cycles are cut by (st_dev, st_ino).
FIFOs, sockets and devices are reported as ``not_regular_file`` and never opened.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence

from agent.models import ExtractError, FileRef
from agent.security.dirfd import resolve_link


def _excluded(rel: str, name: str, exclude: Sequence[str]) -> bool:
    """A pattern excludes a path when it matches the path relative to the root or the base name."""
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) for p in exclude)


def _err(path: str, reason: str, detail: str) -> ExtractError:
    return ExtractError(path=path, member=None, reason=reason, detail=detail)


def walk(
    paths: Sequence[str], follow_symlinks: bool = False, exclude: Sequence[str] = ()
) -> Iterator[FileRef | ExtractError]:
    """Yield every regular file under ``paths`` in sorted order, and an ExtractError for what is skipped.

    Each FileRef carries ``root`` = the (absolute) scan root it was found under; a file given
    directly has its (real) parent directory as root. A symlink named in ``paths`` is followed.
    ``exclude`` holds fnmatch patterns matched against the path relative to its root and against
    the base name (``*.tmp``, ``cache/*``).
    Uses an explicit stack, so tree depth is unbounded by Python's recursion limit.
    """
    for given in paths:
        top = os.path.abspath(given)
        try:
            st = os.stat(top)  # a path named explicitly is followed, like find -H
        except FileNotFoundError:
            yield _err(top, "vanished", "scan path does not exist")
            continue
        except OSError as e:
            reason = {errno.ELOOP: "symlink_loop", errno.EACCES: "permission_denied"}.get(
                e.errno or 0, "io_error"
            )
            yield _err(top, reason, "stat of scan path failed")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_tree(top, follow_symlinks, exclude)
        elif stat.S_ISREG(st.st_mode):
            # the file's own directory is its root (the user named it: links up to there are followed)
            path = os.path.realpath(top) if os.path.islink(top) else top
            yield FileRef(path=path, root=os.path.dirname(path))
        else:
            yield _err(top, "not_regular_file", "special file (FIFO, socket or device) is not read")


def _walk_tree(root: str, follow: bool, exclude: Sequence[str]) -> Iterator[FileRef | ExtractError]:
    real_root = os.path.realpath(root)
    visited: set[tuple[int, int]] = set()
    rst = os.stat(root)
    visited.add((rst.st_dev, rst.st_ino))
    stack: list[Iterator[str]] = [iter([root])]
    first = True
    while stack:
        try:
            path = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        if first:
            first = False
            entries = _list(path)
        else:
            pushed: list[list[str] | ExtractError] = []
            yield from _entry(path, real_root, follow, visited, pushed, exclude, root)
            if not pushed:
                continue
            entries = pushed[0]
        if isinstance(entries, ExtractError):
            yield entries
            continue
        stack.append(iter(entries))


def _list(path: str) -> list[str] | ExtractError:
    try:
        with os.scandir(path) as it:
            names = sorted(e.name for e in it)
    except PermissionError:
        return _err(path, "permission_denied", "directory cannot be listed")
    except FileNotFoundError:
        return _err(path, "vanished", "directory vanished while listing")
    except OSError as e:
        return _err(path, "io_error", f"directory listing failed: {os.strerror(e.errno or 0)}")
    return [os.path.join(path, n) for n in names]


def _entry(
    path: str,
    root: str,
    follow: bool,
    visited: set[tuple[int, int]],
    pushed: list[list[str] | ExtractError],
    exclude: Sequence[str],
    scan_root: str,
) -> Iterator[FileRef | ExtractError]:
    """Decide one entry: yield a FileRef/ExtractError, or put a subdirectory's listing in ``pushed``."""
    rel = os.path.relpath(path, scan_root)
    if exclude and _excluded(rel, os.path.basename(path), exclude):
        return
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        yield _err(path, "vanished", "entry vanished during the walk")
        return
    except OSError:
        yield _err(path, "io_error", "lstat failed")
        return
    if stat.S_ISLNK(st.st_mode):
        try:
            verdict, target = resolve_link(path, root)
        except OSError:  # swapped for something else while being resolved: report, never follow
            yield _err(path, "vanished", "entry was replaced while its link was resolved")
            return
        if verdict == "loop":
            yield _err(path, "symlink_loop", "symbolic link loop")
            return
        if verdict == "outside":
            yield _err(path, "symlink_outside", "symbolic link leads outside the scanned tree: not followed")
            return
        if verdict == "dangling" or not follow:
            return  # inside the tree: its target is scanned where it lies
        try:
            st = os.stat(target)
        except OSError:
            return
    if stat.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in visited:  # reached again through a followed link
            here = os.path.realpath(os.path.dirname(path))
            there = os.path.realpath(path)
            if os.path.commonpath([here, there]) == there:
                yield _err(path, "symlink_loop", "link to an ancestor directory (cycle)")
            return  # otherwise a second way into a tree already walked: skip silently
        visited.add(key)
        listing = _list(path)
        pushed.append(listing)
    elif stat.S_ISREG(st.st_mode):
        yield FileRef(path=path, root=scan_root)
    else:
        yield _err(path, "not_regular_file", "special file (FIFO, socket or device) is not read")
