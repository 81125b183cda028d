#!/bin/bash
# nodeseal live demo (run as root; `make demo` builds first).
#
# Three nodes in network namespaces on one bridge run a MultiChain-style P2P
# mesh (tests/peer/mcpeer.py, port 7447).  First without nodeseal: tcpdump on
# the bridge shows the peers' markers and `version` messages in clear text.
# Then every peer runs under `nodeseal run`: the same traffic, and the capture
# holds nothing readable.  `nodeseal status` is shown while data flows.
#
# Everything happens in namespaces named nsdemo-<pid>-<hex>-*; they, the
# processes started here (killed by PID) and the work dir are removed at exit,
# also on Ctrl-C.  Exit status: 0 if all went well, 1 if the encryption check
# failed (or the mesh did not work), 2 on setup problems.
#
# Environment: NS_BUILD (default build) -> $NS_BUILD/nodeseal.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUILD=${NS_BUILD:-build}
[[ $BUILD = /* ]] || BUILD="$REPO/$BUILD"
NODESEAL="$BUILD/nodeseal"
PY=/usr/bin/python3
MCPEER="$REPO/tests/peer/mcpeer.py"
NETBED="$REPO/tests/integration/netbed.py"
PORT=7447
N=3

# nodeseal reads NODESEAL* from the environment; the demo sets its own.
for v in $(compgen -e | grep '^NODESEAL' || true); do unset "$v"; done

if [ -t 1 ]; then
	B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' Y=$'\e[33m' Z=$'\e[0m'
else
	B='' G='' R='' Y='' Z=''
fi
say()  { printf '\n%s==> %s%s\n' "$B" "$*" "$Z"; }
info() { printf '    %s\n' "$*"; }
die()  { printf '%sdemo: %s%s\n' "$R" "$*" "$Z" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, iptables)"
[ -x "$NODESEAL" ] || die "no $NODESEAL; build it with make"
for t in ip tcpdump iptables "$PY"; do
	command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh)"
done

PREFIX="nsdemo-$$-$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
SW="$PREFIX-sw"
W=$(mktemp -d "/tmp/$PREFIX-XXXX") || die "mktemp failed"
PIDS=()
NSS=()

ns_of() { echo "$PREFIX-n$1"; }
ip4_of() { echo "10.77.0.$(($1 + 1))"; }
marker_of() { echo "DEMO-MARKER-n$1"; }

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local rc=$? p ns
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	# anything still inside our own namespaces (e.g. orphans), by PID
	for ns in "${NSS[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'printf "\n%sinterrupted, cleaning up%s\n" "$Y" "$Z"; exit 130' INT TERM

# Stale demos (their pid is gone) are removed first.
for ns in $(ip netns list | awk '{print $1}' | grep -E '^nsdemo-[0-9]+-' || true); do
	pid=${ns#nsdemo-}; pid=${pid%%-*}
	if ! kill -0 "$pid" 2>/dev/null; then
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	fi
done

# ------------------------------------------------------------------ the bed
say "Building $N nodes on a bridge (namespaces $PREFIX-*)"
ip netns add "$SW" || die "ip netns add $SW failed"
NSS+=("$SW")
ip netns exec "$SW" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$SW" link set lo up
ip -n "$SW" link add br0 type bridge stp_state 0 forward_delay 0
ip -n "$SW" link set br0 up
for i in $(seq 0 $((N - 1))); do
	ns=$(ns_of "$i")
	ip netns add "$ns" || die "ip netns add $ns failed"
	NSS+=("$ns")
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$SW" link add "p$i" type veth peer name eth0 netns "$ns"
	ip -n "$SW" link set "p$i" master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$(ip4_of "$i")/24" dev eth0
	ip -n "$ns" -6 addr add "fd77::$((i + 1))/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	mkdir -p "$W/n$i/state" && chmod 700 "$W/n$i/state"
	info "n$i  $(ip4_of "$i")  fd77::$((i + 1))   (namespace $ns)"
done

say "Generating a network key (nodeseal genkey)"
(umask 077; "$NODESEAL" genkey >"$W/network.key") || die "nodeseal genkey failed"
for i in $(seq 0 $((N - 1))); do
	fp=$("$NODESEAL" pubkey --state-dir "$W/n$i/state" 2>/dev/null | awk '/^fingerprint/ {print $2}')
	info "n$i node key fingerprint $fp"
done

# ------------------------------------------------------------------ helpers
CAP_PID=
start_capture() { # FILE
	ip netns exec "$SW" tcpdump -i br0 -n -U --immediate-mode -s 0 -B 65536 -Z root \
		-w "$1" >"$1.log" 2>&1 &
	CAP_PID=$!
	PIDS+=("$CAP_PID")
	local t
	for t in $(seq 100); do grep -q "listening on" "$1.log" 2>/dev/null && break; sleep 0.05; done
	grep -q "listening on" "$1.log" || die "tcpdump did not start: $(cat "$1.log")"
	# prove it captures: a broadcast probe must be in the file
	local tok="DEMO-PROBE-$RANDOM$RANDOM"
	for t in $(seq 50); do
		ip netns exec "$(ns_of 0)" "$PY" -c 'import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)
s.sendto(sys.argv[1].encode(),("10.77.0.255",9))' "$tok"
		sleep 0.1
		grep -aq "$tok" "$1" && return 0
	done
	die "capture probe never seen"
}
stop_capture() {
	kill -INT "$CAP_PID" 2>/dev/null
	wait "$CAP_PID" 2>/dev/null
	CAP_PID=
}

MESH_PIDS=()
start_mesh() { # on|off BLOCKS BLOCK_SIZE
	local mode=$1 blocks=$2 bsize=$3 i j ns args
	MESH_PIDS=()
	for i in $(seq 0 $((N - 1))); do
		ns=$(ns_of "$i")
		args=(--name "n$i" --marker "$(marker_of "$i")" --listen "0.0.0.0:$PORT"
		      --expect-inbound $((N - 1)) --blocks "$blocks" --block-size "$bsize"
		      --timeout 40 --report "$W/$mode-n$i.json")
		for j in $(seq 0 $((N - 1))); do
			[ "$j" = "$i" ] || args+=(--connect "$(ip4_of "$j"):$PORT")
		done
		if [ "$mode" = on ]; then
			ip netns exec "$ns" "$NODESEAL" run --network-key-file "$W/network.key" \
				--state-dir "$W/n$i/state" -- "$PY" "$MCPEER" "${args[@]}" \
				>"$W/$mode-n$i.out" 2>"$W/$mode-n$i.err" &
		else
			ip netns exec "$ns" "$PY" "$MCPEER" "${args[@]}" \
				>"$W/$mode-n$i.out" 2>"$W/$mode-n$i.err" &
		fi
		MESH_PIDS+=($!)
		PIDS+=($!)
	done
}
wait_mesh() { # MODE -> 0 if every peer reported OK
	local mode=$1 ok=0 i p rc
	for i in "${!MESH_PIDS[@]}"; do
		p=${MESH_PIDS[$i]}
		for _ in $(seq 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$p" 2>/dev/null; then
			printf '    %sn%d still running after 60s, stopping it%s\n' "$R" "$i" "$Z"
			kill -TERM "$p" 2>/dev/null
		fi
		wait "$p"; rc=$?
		if [ "$rc" -eq 0 ]; then
			info "${G}$(tail -n1 "$W/$mode-n$i.out" | cut -c1-110)$Z"
		else
			ok=1
			info "${R}n$i exit $rc: $(tail -n1 "$W/$mode-n$i.out" | cut -c1-100)$Z"
			tail -n 5 "$W/$mode-n$i.err" | sed 's/^/        /'
		fi
	done
	return $ok
}
needles() {
	local i
	for i in $(seq 0 $((N - 1))); do printf -- '--needle\n%s\n' "$(marker_of "$i")"; done
	printf -- '--needle-hex\n%s\n' 76657273696f6e0000000000   # "version" command, 12 bytes
	printf -- '--needle-hex\n%s\n' 76657261636b000000000000   # "verack"
}
mapfile -t NEEDLES < <(needles)

# ------------------------------------------------------------------ 1: off
say "1. Mesh WITHOUT nodeseal, capturing the bridge"
start_capture "$W/off.pcap"
start_mesh off 2 262144
wait_mesh off; off_ok=$?
stop_capture
info "What anyone on the wire sees (tcpdump -A, readable parts):"
tcpdump -r "$W/off.pcap" -n -A "tcp port $PORT" 2>/dev/null |
	grep -a -o -E '.{0,12}(version|DEMO-MARKER-n[0-9]).{0,24}' | tr -c '[:print:]\n' '.' |
	head -n 6 | sed "s/^/      $Y/; s/\$/$Z/"
"$PY" "$NETBED" scan "$W/off.pcap" --port "$PORT" "${NEEDLES[@]}" --present >"$W/off.scan"
off_seen=$?
sed 's/^/      /' "$W/off.scan"

# ------------------------------------------------------------------ 2: on
say "2. The same mesh, every node under 'nodeseal run' (egress shaped to 100 Mbit/s)"
for i in $(seq 0 $((N - 1))); do
	tc -n "$(ns_of "$i")" qdisc replace dev eth0 root tbf rate 100mbit burst 256kb latency 100ms
done
start_capture "$W/on.pcap"
start_mesh on 10 1048576
# nodeseal status on n0 while the blocks are on their way
status_ok=1
for _ in $(seq 100); do
	if ip netns exec "$(ns_of 0)" "$NODESEAL" status --json --state-dir "$W/n0/state" 2>/dev/null |
		"$PY" -c 'import json,sys; c=json.load(sys.stdin)["connections"]; sys.exit(0 if sum(1 for x in c if x.get("state")=="relay" and x.get("bytes_in",0)>0 and x.get("bytes_out",0)>0)>=4 else 1)' \
		2>/dev/null; then
		status_ok=0
		sleep 1
		break
	fi
	sleep 0.1
done
info "nodeseal status on n0, while traffic flows:"
ip netns exec "$(ns_of 0)" "$NODESEAL" status --state-dir "$W/n0/state" 2>&1 | sed 's/^/      /'
wait_mesh on; on_ok=$?
stop_capture
info "What the wire sees now (tcpdump -A, looking for the same text):"
shown=$(tcpdump -r "$W/on.pcap" -n -A "tcp port $PORT" 2>/dev/null |
	grep -a -o -E '.{0,12}(version|DEMO-MARKER-n[0-9]).{0,24}' | head -n 6)
if [ -z "$shown" ]; then info "      ${G}(nothing)$Z"; else printf '%s\n' "$shown" | sed 's/^/      /'; fi
info "A slice of one encrypted connection (hex / ASCII):"
"$PY" "$NETBED" excerpt "$W/on.pcap" --port "$PORT" --skip 65536 --bytes 128 | sed 's/^/      /'
"$PY" "$NETBED" scan "$W/on.pcap" --port "$PORT" "${NEEDLES[@]}" --absent >"$W/on.scan"
on_clean=$?
sed 's/^/      /' "$W/on.scan"
on_bytes=$(sed -n 's/.* \([0-9]*\) payload bytes$/\1/p' "$W/on.scan")

# ------------------------------------------------------------------ summary
say "Summary"
res() { if [ "$1" -eq 0 ]; then printf '%sPASS%s' "$G" "$Z"; else printf '%sFAIL%s' "$R" "$Z"; fi; }
printf '    %-62s %s\n' "mesh without nodeseal: all peers OK" "$(res $off_ok)"
printf '    %-62s %s\n' "without nodeseal: markers and 'version' readable on the wire" "$(res $off_seen)"
printf '    %-62s %s\n' "mesh under nodeseal: all peers OK (every message intact)" "$(res $on_ok)"
printf '    %-62s %s\n' "under nodeseal: no marker, no P2P command on the wire" "$(res $on_clean)"
printf '    %-62s %s\n' "nodeseal status showed the relayed connections" "$(res $status_ok)"
info "(TCP payload in the encrypted capture: ${on_bytes:-?} bytes, all of it ciphertext)"
if [ $on_clean -ne 0 ] || [ $on_ok -ne 0 ] || [ $off_ok -ne 0 ] || [ $off_seen -ne 0 ]; then
	printf '\n%sDEMO FAILED%s\n' "$R" "$Z"
	exit 1
fi
[ $status_ok -eq 0 ] || info "${Y}(status did not show 4 relaying connections in time)$Z"
printf '\n%sDEMO OK: the same P2P traffic, readable without nodeseal, sealed with it.%s\n' "$G" "$Z"
exit 0
