"""A real attacker for race tests: a separate process that swaps two directory entries as fast as it can.

``renameat2(RENAME_EXCHANGE)`` swaps a directory and a symlink atomically (no instant where either
name is missing), which is the strongest form of the parent-directory race; where the C library has
no ``renameat2`` the swap falls back to two renames through a third name. The swapper is a process,
not a thread, so it runs in parallel with the code under attack instead of taking turns on the GIL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SWAPPER = r"""
import ctypes, os, sys
a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
libc = ctypes.CDLL(None, use_errno=True)
fn = getattr(libc, "renameat2", None)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
ea, eb = os.fsencode(a), os.fsencode(b)
done = 0
if fn is not None and fn(AT_FDCWD, ea, AT_FDCWD, eb, RENAME_EXCHANGE) == 0:
    done = 1
    while done < n:
        if fn(AT_FDCWD, ea, AT_FDCWD, eb, RENAME_EXCHANGE) != 0:
            sys.exit("renameat2 failed: " + os.strerror(ctypes.get_errno()))
        done += 1
else:
    t = a + ".swap"
    while done < n:
        os.rename(a, t); os.rename(b, a); os.rename(t, b)
        done += 1
print(done, flush=True)
"""


class Swapper:
    """Swaps ``a`` and ``b`` ``count`` times in a child process; ``done()`` says whether it finished."""

    def __init__(self, a: Path, b: Path, count: int) -> None:
        self.count = count
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SWAPPER, str(a), str(b), str(count)], stdout=subprocess.PIPE, text=True
        )

    def running(self) -> bool:
        return self.proc.poll() is None

    def finish(self) -> int:
        """Wait for the child; the number of swaps it made (it fails the test when it could not swap)."""
        out, _ = self.proc.communicate(timeout=300)
        assert self.proc.returncode == 0, "the swapper failed"
        return int(out.strip())
