#!/usr/bin/env bash
# Install the Debian packages the tests run for real (Prometheus, Alertmanager, promtool, systemd-analyze,
# logrotate, and whatever else a list in deploy/test-deps.d/ names: one `*.list` file per topic, so
# features add their tools without touching this script). Each list line is
#     COMMAND[|COMMAND...]   PACKAGE
# and the package is installed when none of the commands is found (a command may be a path).
#
# `servers.sh --check` only reports (exit 1 when something is missing).
# Idempotent: does nothing when everything is there. As root on Debian 12 it runs `apt-get update`
# once and installs what is missing; as any other user it prints the command to run and exits 0, so
# the tests that need those tools skip.
# The Debian prometheus package ships a systemd unit; where PID 1 is not systemd (containers, CI)
# that unit cannot start, and it does not need to: the tests start the binaries themselves.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
need=()
found() {
    local cmd
    local IFS='|'
    for cmd in $1; do
        if [ "${cmd#/}" != "$cmd" ]; then [ -e "$cmd" ] && return 0; else command -v "$cmd" >/dev/null 2>&1 && return 0; fi
    done
    return 1
}
for list in "$here"/test-deps.d/*.list; do
    [ -e "$list" ] || continue
    while read -r cmds pkg _; do
        case "$cmds" in ''|'#'*) continue ;; esac
        found "$cmds" || need+=("$pkg")
    done <"$list"
done

if [ "${#need[@]}" -eq 0 ]; then
    echo "servers.sh: every test tool already present"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then  # report only: exit 1 naming what is missing
    echo "servers.sh: missing packages: ${need[*]}"
    exit 1
fi

# De-duplicate (one package may provide several tools).
mapfile -t pkgs < <(printf '%s\n' "${need[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
    echo "servers.sh: not root; to run the tests that need them install: sudo apt-get install -y ${pkgs[*]}"
    echo "servers.sh: the tests that need these tools will skip"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "servers.sh: no apt-get here; install ${pkgs[*]} by other means (tests will skip)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# policy-rc.d keeps the packages' postinst from trying to start their services (no systemd PID 1
# in a container; on a real server we do not want stray Prometheus/Alertmanager daemons either).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
echo "servers.sh: installed ${pkgs[*]}"
