"""The HTML reporter without a browser: escaping, undecodable names, unscanned files (see the
integration test for the rendered page in Chromium)."""

from __future__ import annotations

import io

from agent.models import ExtractError, Finding, Verdict
from agent.report import make_reporter


def _finding(path: str, severity: str = "high") -> Finding:
    return Finding(
        path=path, member="a/<b>.txt", policy="p<1>", rule="r", entity="E", severity=severity,  # type: ignore[arg-type]
        score=1.0, line=3, start=0, end=4, excerpt="x [****] <script>y</script>", fingerprint="h:ab",
    )  # fmt: skip


def test_every_string_is_escaped_and_bad_bytes_do_not_break_the_page() -> None:
    out = io.StringIO()
    rep = make_reporter("html", out)
    hostile = "/srv/drop/<img src=x onerror=alert(1)>\udcff.txt"
    rep.verdict(Verdict(hostile, None, (_finding(hostile),), (), 10, 0.1))
    rep.error(ExtractError("/srv/drop/</td>.zip", None, "malformed", "BadZipFile: <bad>"))
    rep.close({"files": 1, "bytes": 10, "errors": 1, "seconds": 0.1})
    page = out.getvalue()
    page.encode("utf-8")  # strict: a surrogate would raise here
    assert "<img" not in page
    assert "<script>y" not in page
    assert (
        "&lt;img src=x onerror=alert(1)&gt;\\xff.txt" in page
    )  # the byte on disk, as the text report shows it
    assert "</td>.zip" not in page
    assert "BadZipFile: &lt;bad&gt;" in page
    assert page.count('class="finding"') == 1


def test_clean_scan_says_so() -> None:
    out = io.StringIO()
    rep = make_reporter("html", out)
    rep.verdict(Verdict("/srv/a.txt", None, (), (), 3, 0.0))
    rep.close({"files": 1, "bytes": 3, "errors": 0, "seconds": 0.0})
    assert 'id="no-findings"' in out.getvalue()
    assert 'id="no-unscanned"' in out.getvalue()


def test_control_characters_in_names_are_shown_escaped() -> None:
    """A newline or an escape sequence in a file name is shown as \\n, \\x1b like in the text report."""
    out = io.StringIO()
    rep = make_reporter("html", out)
    rep.error(ExtractError("/srv/drop/loop\n\x1b[31mFORGED", None, "symlink_loop", "symbolic link loop"))
    rep.close({"files": 0, "bytes": 0, "errors": 1, "seconds": 0.1})
    page = out.getvalue()
    assert "\x1b" not in page
    assert "/srv/drop/loop\\n\\x1b[31mFORGED" in page
