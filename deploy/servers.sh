#!/usr/bin/env bash
# Install the observability servers the integration tests run for real: Debian's prometheus
# (which also ships promtool), prometheus-alertmanager (alertmanager, amtool), systemd (for
# systemd-analyze) and logrotate (to dry-run the shipped rotation file).
#
# Idempotent: does nothing when prometheus, alertmanager (or Debian's prometheus-alertmanager),
# promtool, systemd-analyze and logrotate are all there. As root on Debian 12 it runs
# `apt-get update` once and installs what is missing; as any other user it prints the command to
# run and exits 0, so the tests that need the servers skip.
# The Debian prometheus package ships a systemd unit; where PID 1 is not systemd (containers,
# CI) that unit cannot start, and it does not need to: the tests start the binaries themselves.
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# Debian names the binary prometheus-alertmanager; upstream tarballs name it alertmanager.
command -v alertmanager >/dev/null 2>&1 || command -v prometheus-alertmanager >/dev/null 2>&1 \
    || need+=(prometheus-alertmanager)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# logrotate (in /usr/sbin) lets the tests dry-run deploy/logrotate/dropwarden.
command -v logrotate >/dev/null 2>&1 || [ -x /usr/sbin/logrotate ] || need+=(logrotate)

if [ "${#need[@]}" -eq 0 ]; then
    echo "servers.sh: prometheus, alertmanager, promtool, systemd-analyze and logrotate already present"
    exit 0
fi

# De-duplicate (prometheus may be listed twice).
mapfile -t pkgs < <(printf '%s\n' "${need[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
    echo "servers.sh: not root; to run the observability tests install: sudo apt-get install -y ${pkgs[*]}"
    echo "servers.sh: the tests that need these servers will skip"
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
