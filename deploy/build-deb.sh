#!/usr/bin/env bash
# Build dist/dropwarden_<version>_amd64.deb (Debian 12) with dh-virtualenv: a self-contained venv
# under /opt/dropwarden/venv, the unit, sysusers.d/tmpfiles.d, policies, Prometheus rules,
# dashboard, runbooks and the venv's CycloneDX SBOM. Offline apart from the package registries
# (pip fetches the pinned dependency ranges; apt the build tools).
#
# The tree is copied (tracked and untracked-but-not-ignored files, as in the working tree) into a
# scratch directory, so the build never writes into the checkout; agent/_revision.txt records the
# git revision there, which `dropwarden --version` prints.
# Usage: deploy/build-deb.sh [OUTDIR]   (default: dist/). CYCLONEDX=path/to/cyclonedx-py.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$top/dist}" && cd "${1:-$top/dist}" && pwd)
cyclonedx=${CYCLONEDX:-$top/.venv/bin/cyclonedx-py}

missing=()
for tool in dpkg-buildpackage:dpkg-dev dh:debhelper dh_virtualenv:dh-virtualenv; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
[ -e /usr/include/python3.11/Python.h ] || missing+=(python3-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "build-deb.sh: missing build tools; install: sudo apt-get install -y ${missing[*]}" >&2
        exit 2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ -x "$cyclonedx" ] || { echo "build-deb.sh: no cyclonedx-py at $cyclonedx (make install)" >&2; exit 2; }

work=$(mktemp -d /tmp/dropwarden-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/dropwarden"
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -P -t "$src")
revision=$(git -C "$top" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
printf '%s\n' "$revision" >"$src/agent/_revision.txt"

(cd "$src" && CYCLONEDX="$cyclonedx" dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
    tail -n 60 "$work/build.log" >&2
    exit 1
}
mv "$work"/dropwarden_*.deb "$out"/
ls "$out"/dropwarden_*.deb
