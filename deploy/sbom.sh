#!/usr/bin/env bash
# CycloneDX SBOM of the runtime venv: a fresh venv with Dropwarden and its dependencies only (no
# test tools), as the .deb ships it. Prints the venv's size and package count (the dependency diet
# is measured with this). Usage: deploy/sbom.sh [OUTDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$top/dist}" && cd "${1:-$top/dist}" && pwd)
cyclonedx=${CYCLONEDX:-$top/.venv/bin/cyclonedx-py}
python=${PYTHON:-python3}
venv=$(mktemp -d /tmp/dropwarden-sbom.XXXXXX)
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-cache-dir "$top" 2>&1 | grep -v '^WARNING: Location' || true
"$venv/bin/python" -m pip uninstall --quiet -y pip >/dev/null 2>&1 || true
"$cyclonedx" environment --output-format JSON --output-file "$out/sbom.cdx.json" "$venv/bin/python"
packages=$("$venv/bin/python" -c 'import importlib.metadata as m; print(len({d.metadata["Name"].lower() for d in m.distributions()}))')
size=$(du -sm "$venv" | cut -f1)
echo "sbom: $out/sbom.cdx.json; runtime venv: $packages packages, $size MB"
