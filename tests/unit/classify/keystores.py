"""Keystores made by the real tools (the JDK's keytool, MIT krb5's ktutil) when installed; the
byte-level builders live in bench/credentials_keystores.py (shared with the credential benchmark)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.credentials_keystores import jks_bytes, keytab_bytes, pkcs12_bytes

__all__ = ["jks_bytes", "keytab_bytes", "keytool_keystore", "ktutil_keytab", "pkcs12_bytes"]


def keytool_keystore(tmp: Path, storetype: str) -> bytes | None:
    """A keystore made by the JDK's keytool (a private key, or for JCEKS a secret key); None without it."""
    keytool = shutil.which("keytool")
    if keytool is None:
        return None
    path = tmp / f"fake.{storetype.lower()}"
    common = [keytool, "-keystore", str(path), "-storetype", storetype, "-storepass", "fake-pass"]
    if storetype == "JCEKS":
        cmd = [
            *common,
            "-genseckey",
            "-alias",
            "s",
            "-keyalg",
            "AES",
            "-keysize",
            "128",
            "-keypass",
            "fake-pass",
        ]
    else:
        cmd = [
            *common,
            "-genkeypair",
            "-alias",
            "k",
            "-keyalg",
            "EC",
            "-dname",
            "CN=fake",
            "-keypass",
            "fake-pass",
        ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path.read_bytes()


def ktutil_keytab(tmp: Path) -> bytes | None:
    """A keytab written by MIT krb5's ktutil from a fake password; None without it."""
    ktutil = shutil.which("ktutil")
    if ktutil is None:
        return None
    path = tmp / "fake.keytab"
    script = (
        "addent -password -p svc/host.example.org@EXAMPLE.ORG -k 1 -e aes256-cts-hmac-sha1-96\n"
        f"fake-pass\nwkt {path}\nquit\n"
    )
    subprocess.run([ktutil], input=script.encode(), check=True, capture_output=True, timeout=60)
    return path.read_bytes()
