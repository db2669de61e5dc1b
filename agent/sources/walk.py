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
from agent.sources import longpath


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
        names = longpath.names(path)  # through a descriptor: a path past PATH_MAX is walked too
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
    st = _lstat(path)
    if isinstance(st, ExtractError):
        yield st
        return
    if stat.S_ISLNK(st.st_mode):
        target = _link_target(path, root, follow)
        if target is None:
            return
        if isinstance(target, ExtractError):
            yield target
            return
        st = target
    if stat.S_ISDIR(st.st_mode):
        if (cycle := _enter_directory(path, st, visited, pushed)) is not None:
            yield cycle
    elif stat.S_ISREG(st.st_mode):
        yield FileRef(path=path, root=scan_root)
    else:
        yield _err(path, "not_regular_file", "special file (FIFO, socket or device) is not read")


def _lstat(path: str) -> os.stat_result | ExtractError:
    """The entry itself, never what a link points to."""
    try:
        return longpath.lstat(path)
    except FileNotFoundError:
        return _err(path, "vanished", "entry vanished during the walk")
    except OSError:
        return _err(path, "io_error", "lstat failed")


def _link_target(path: str, root: str, follow: bool) -> os.stat_result | ExtractError | None:
    """What a symlink entry leads to: its target's stat when it is followed, an error when it loops or
    leaves the tree, None when it is skipped (dangling, or inside the tree and not followed: its
    target is scanned where it lies)."""
    try:
        verdict, target = _resolve(path, root)
    except OSError:  # swapped for something else while being resolved: report, never follow
        return _err(path, "vanished", "entry was replaced while its link was resolved")
    if verdict == "loop":
        return _err(path, "symlink_loop", "symbolic link loop")
    if verdict == "outside":
        return _err(path, "symlink_outside", "symbolic link leads outside the scanned tree: not followed")
    if verdict == "dangling" or not follow:
        return None
    try:
        return os.stat(target)
    except OSError:
        return None


def _resolve(path: str, root: str) -> tuple[str, str]:
    """:func:`resolve_link`, also for a link whose own path is past PATH_MAX (realpath cannot lstat it:
    it would call the link dangling and skip it in silence, even one leading out of the tree). Its
    target is then read through a descriptor and resolved from the link's folder; a target past
    PATH_MAX as well is judged lexically (the walk reaches it, or reports it, where it lies)."""
    if not longpath.too_long(path):
        return resolve_link(path, root)
    joined = os.path.normpath(os.path.join(os.path.dirname(path), longpath.readlink(path)))
    if not longpath.too_long(joined):
        return resolve_link(joined, root)
    inside = joined.startswith(root.rstrip("/") + "/")
    return ("inside" if inside else "outside"), joined


def _enter_directory(
    path: str, st: os.stat_result, visited: set[tuple[int, int]], pushed: list[list[str] | ExtractError]
) -> ExtractError | None:
    """Put a directory's listing in ``pushed`` unless it was walked already; a link back to one of its
    own ancestors is a cycle (an error), any other second way into a walked tree is skipped silently."""
    key = (st.st_dev, st.st_ino)
    if key in visited:  # reached again through a followed link
        here = os.path.realpath(os.path.dirname(path))
        there = os.path.realpath(path)
        if os.path.commonpath([here, there]) == there:
            return _err(path, "symlink_loop", "link to an ancestor directory (cycle)")
        return None
    visited.add(key)
    pushed.append(_list(path))
    return None
