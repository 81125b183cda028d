#!/bin/sh
# Installs the Debian packages nodeseal's build, tests, demo and benchmarks
# need, if any is missing.  Run as root on Debian 12.
set -eu

PKGS="build-essential clang libclang-rt-14-dev libssl-dev libcjson-dev pkg-config perl cppcheck
libnetfilter-queue-dev libmnl-dev nftables valgrind
iproute2 iptables tcpdump python3 python3-pytest python3-scapy python3-cryptography procps"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
