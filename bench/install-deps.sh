#!/bin/bash
# Installs the Debian packages the benchmark suite (bench/run.sh) uses, if any
# is missing.  Idempotent: checks dpkg first and does nothing when everything
# is installed.  Run as root on Debian 12.
#
# A package that the archive does not carry is reported and skipped (the
# transport that needs it is then skipped by run.sh, with a line saying so);
# it does not fail the install of the others.
set -euo pipefail

PKGS="build-essential iproute2 iptables tcpdump procps openssl iperf3 stunnel4 spiped
socat openssh-server openssh-client wireguard-go wireguard-tools"

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=""
for p in $PKGS; do
	installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

# Only ask apt for packages it has a candidate for; name the others.
avail=""
for p in $missing; do
	cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
		echo "bench/install-deps: package '$p' is not available in this Debian release; skipping it" >&2
	else
		avail="$avail $p"
	fi
done
[ -z "$avail" ] && exit 0

# Installing openssh-server/stunnel4 must not start system daemons in the host
# namespace.  If no policy-rc.d forbids it already, install a temporary one.
tmp_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	tmp_policy=/usr/sbin/policy-rc.d
	trap 'rm -f "$tmp_policy"' EXIT
fi

echo "bench/install-deps: installing$avail"
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $avail >/dev/null
