"""Binary keystores (PKCS#12, JKS, JCEKS, Kerberos keytabs) alert by what they hold, alone, inside zip,
tar and 7z archives, and base64-encoded in text; truststores and lookalikes do not."""

from __future__ import annotations

import base64
import io
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from agent.classify import Classifier
from agent.classify.keystore import jks_contents, keytab_contents, pkcs12_contents
from agent.extract.sniff import keystore_kind, sniff_format
from agent.models import FileRef, Verdict
from agent.pipeline import Pipeline, build_pipeline, default_policy_dirs
from tests.unit.classify import fakes
from tests.unit.classify.keystores import (
    jks_bytes,
    keytab_bytes,
    keytool_keystore,
    ktutil_keytab,
    pkcs12_bytes,
)
from tests.unit.extract.builders import zip_bytes

RNG = random.Random(1515)
JCEKS = 0xCECECECE

#: name -> (bytes, kind, contents, severity of the finding or None)
KEYSTORES: dict[str, tuple[bytes, str, str, str | None]] = {
    "key.p12": (pkcs12_bytes(b"fake-pass"), "pkcs12", "private-key", "high"),
    "nopass.pfx": (pkcs12_bytes(None), "pkcs12", "private-key", "high"),
    "certs-only.p12": (pkcs12_bytes(b"fake-pass", with_key=False), "pkcs12", "encrypted", "medium"),
    "plain-certs.p12": (pkcs12_bytes(None, with_key=False), "pkcs12", "certificates", None),
    "app.jks": (jks_bytes(RNG, (2, 1)), "jks", "private-key", "high"),
    "trust.jks": (jks_bytes(RNG, (2, 2, 2)), "jks", "certificates", None),
    "secret.jceks": (jks_bytes(RNG, (2, 3), JCEKS), "jceks", "secret-key", "high"),
    "svc.keytab": (keytab_bytes(RNG), "keytab", "secret-key", "high"),
}


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(default_policy_dirs(), key=b"keystore-test-key-0123456789abcd")


def _scan(pipeline: Pipeline, path: Path) -> Verdict:
    return pipeline.scan(FileRef(path=str(path), role="contractor-drop"))  # type: ignore[arg-type]


def _keystore_findings(verdict: Verdict) -> dict[str | None, str]:
    return {f.member: f.severity for f in verdict.findings if f.entity == "KEYSTORE"}


def _members_by_severity(verdict: Verdict) -> dict[str, str]:
    """Archive member (last name of its chain) -> severity, from the per-rule grouped findings."""
    out = {}
    for f in verdict.findings:
        if f.entity == "KEYSTORE":
            out.update({m.rsplit("!", 1)[-1]: f.severity for m in f.members or (f.member or "",)})
    return out


@pytest.mark.parametrize("name", sorted(KEYSTORES))
def test_header_and_contents(name: str) -> None:
    data, kind, contents, _ = KEYSTORES[name]
    assert keystore_kind(data) == kind
    assert sniff_format(data[:4096], name) == "keystore"
    parse = {"pkcs12": pkcs12_contents, "jks": jks_contents, "jceks": jks_contents, "keytab": keytab_contents}
    assert parse[kind](data) == contents


@pytest.mark.parametrize("name", sorted(KEYSTORES))
def test_keystore_file_alerts_by_contents(pipeline: Pipeline, tmp_path: Path, name: str) -> None:
    data, _, _, severity = KEYSTORES[name]
    path = tmp_path / name
    path.write_bytes(data)
    verdict = _scan(pipeline, path)
    assert _keystore_findings(verdict) == ({None: severity} if severity else {})
    assert not verdict.errors  # read, not "unsupported_format"
    assert verdict.files[0].format == "keystore"


def test_keystores_inside_zip_tar_and_7z(pipeline: Pipeline, tmp_path: Path) -> None:
    members = {f"certs/{n}": d for n, (d, *_rest) in KEYSTORES.items()}
    expected = {f"certs/{n}": sev for n, (_, _, _, sev) in KEYSTORES.items() if sev}
    (tmp_path / "bundle.zip").write_bytes(zip_bytes(members))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "bundle.tgz").write_bytes(buf.getvalue())
    archives = ["bundle.zip", "bundle.tgz"]
    if shutil.which("7z"):
        src = tmp_path / "src"
        for name, data in members.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(data)
        cmd = ["7z", "a", "-bd", "-y", str(tmp_path / "bundle.7z"), "."]
        subprocess.run(cmd, cwd=src, check=True, capture_output=True)
        archives.append("bundle.7z")
    for archive in archives:
        # the gzip stream wraps the tar: its members are named below the stream
        assert _members_by_severity(_scan(pipeline, tmp_path / archive)) == expected, archive


def test_real_tools_keystores(pipeline: Pipeline, tmp_path: Path) -> None:
    built = {
        "tool.jks": keytool_keystore(tmp_path, "JKS"),
        "tool.p12": keytool_keystore(tmp_path, "PKCS12"),
        "tool.jceks": keytool_keystore(tmp_path, "JCEKS"),
        "tool.keytab": ktutil_keytab(tmp_path),
    }
    made = {n: d for n, d in built.items() if d is not None}
    if not made:
        pytest.skip("neither keytool nor ktutil installed")
    for name, data in made.items():
        path = tmp_path / ("scan-" + name)
        path.write_bytes(data)
        assert _keystore_findings(_scan(pipeline, path)) == {None: "high"}, name


def test_finding_never_carries_key_bytes(pipeline: Pipeline, tmp_path: Path) -> None:
    data = KEYSTORES["app.jks"][0]
    path = tmp_path / "app.jks"
    path.write_bytes(data)
    (finding,) = [f for f in _scan(pipeline, path).findings if f.entity == "KEYSTORE"]
    shown = finding.excerpt + finding.fingerprint
    assert data.decode("latin-1")[12:40] not in shown
    assert base64.b64encode(data).decode()[:16] not in shown


@pytest.mark.parametrize(
    "head",
    [
        b"\xfe\xed\xfe\xed\x00\x00\x00\x07" + bytes(64),  # JKS magic, unknown version
        b"\x30\x82\x01\x00\x02\x01\x01\x30" + bytes(64),  # DER SEQUENCE, version 1 (not a PFX)
        b"\x30\x82\x01\x00\x02\x01\x03\x30\x82\x00\x10\x06\x03\x55\x04\x03" + bytes(48),  # wrong OID
        b"\x05\x02\x00\x00\x00\x00\x00\x01" + bytes(64),  # keytab version, empty entry
        b"\x05\x02\x00\x00\x00\x40\x00\x01\x00\x04\x00\x01\x02\x03" + bytes(64),  # binary realm
    ],
)
def test_lookalike_binaries_are_not_keystores(head: bytes) -> None:
    assert keystore_kind(head) is None
    assert sniff_format(head, "blob.bin") != "keystore"


def test_damaged_keystore_is_opaque_not_clean(pipeline: Pipeline, tmp_path: Path) -> None:
    data = KEYSTORES["key.p12"][0]
    path = tmp_path / "cut.p12"
    path.write_bytes(data[:200])
    assert _keystore_findings(_scan(pipeline, path)) == {None: "medium"}


@pytest.mark.parametrize("name", ["key.p12", "app.jks", "secret.jceks", "svc.keytab", "certs-only.p12"])
def test_base64_keystore_in_text(classifier: Classifier, name: str) -> None:
    data, kind, contents, _ = KEYSTORES[name]
    b64 = base64.b64encode(data).decode()
    wrapped = "\n    ".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    for text in (f"kind: Secret\ndata:\n  store: {b64}\n", f"store: |\n    {wrapped}\nnext: 1\n"):
        (d,) = fakes.detect(classifier, text, "KEYSTORE")
        assert d.attribute("format") == kind
        assert d.attribute("contents") == contents


def test_base64_lookalikes_are_not_keystores(classifier: Classifier) -> None:
    cert = base64.b64encode(b"\x30\x82\x02\x00\x30\x82\x01\xa0" + RNG.randbytes(400)).decode()
    broken = base64.b64encode(b"\xfe\xed\xfe\xed\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x09").decode()
    for text in (f"cert: {cert}\n", f"store: {broken}{fakes.token(RNG, 40)}\n"):
        assert fakes.detect(classifier, text, "KEYSTORE") == []
