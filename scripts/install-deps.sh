#!/bin/sh
# Installs the Debian packages nodeseal's build, tests, demo and benchmarks
# need, if any is missing.  Run as root on Debian 12.  (systemd: only for
# test_package's systemd-analyze verify of the unit; it is not started.)
set -eu

PKGS="build-essential clang libclang-rt-14-dev libssl-dev libcjson-dev pkg-config perl cppcheck
libnetfilter-queue-dev libmnl-dev nftables valgrind
iproute2 iptables tcpdump python3 python3-pytest python3-scapy python3-yaml python3-cryptography procps
systemd"
# The container tests (tests/integration/test_container.py), with their
# recommends (catatonit for --init, netavark's DNS for names): rootful podman.
# scripts/container-setup.sh configures podman and makes the base image.
CONTAINER_PKGS="podman runc mmdebstrap podman-compose"

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=""
for p in $PKGS; do
	installed "$p" || missing="$missing $p"
done
cmissing=""
for p in $CONTAINER_PKGS; do
	installed "$p" || cmissing="$cmissing $p"
done
[ -z "$missing$cmissing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing$cmissing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing$cmissing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get install -y -qq --no-install-recommends $missing >/dev/null
# shellcheck disable=SC2086
[ -z "$cmissing" ] || apt-get install -y -qq $cmissing >/dev/null
