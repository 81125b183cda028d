#!/bin/bash
# nodeseal benchmark suite (issue 5).  Run as root:   make bench   or   bench/run.sh
#
# Two hosts in network namespaces joined by a veth (10.88.0.1 <-> 10.88.0.2),
# built afresh for every transport.  For each transport, after checking that
# it carries traffic and that a marker string does not cross the veth in
# clear (and does, for plain TCP), it measures in one run:
#   idle     RSS of the transport's processes (both ends) with N idle connections
#   rr       100-byte request/response round trips: p50, p99 (bench/rr.c)
#   connrate new connections/s, each connect + 1-byte echo + close (bench/connrate.c)
#   iperf3   single-stream bulk throughput (receiver side) and CPU seconds per GB
#            of the transport's processes at both ends
# and prints a table (with the ratios of each nodeseal mode to plain and to the
# best other, non-nodeseal, encrypting transport, and of packet mode to proxy
# mode) and writes bench/results/latest.csv.
#
# Environment:
#   BENCH_QUICK=1                  short smoke run (~2 minutes)
#   BENCH_TRANSPORTS=plain,nodeseal  subset (plain nodeseal nodeseal-pkt stunnel spiped socat
#                                  ssh wireguard); nodeseal is proxy mode, nodeseal-pkt
#                                  packet mode (nodeseal up --mode packet)
#   BENCH_NO_INSTALL=1             do not run bench/install-deps.sh
#   BENCH_NODESEAL=/path/to/nodeseal  binary to measure (default build/nodeseal)
#   BENCH_IPERF_SECONDS, BENCH_RR_COUNT, BENCH_CONN_SECONDS, BENCH_CONN_WORKERS,
#   BENCH_IDLE_CONNS               override the individual sizes
#   BENCH_PKT_MAX_CONNECTIONS=N    packet mode's --max-connections (default: its own, 4096)
#
# Everything runs inside the two namespaces this script creates; every process
# it starts is remembered by PID and stopped on exit (trap), and the namespaces
# are deleted.  Logs and captures of the last run: bench/results/logs/.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
RESULTS=$HERE/results
LOGDIR=$RESULTS/logs
NODESEAL=${BENCH_NODESEAL:-$REPO/build/nodeseal}
# nodeseal reads NODESEAL and NODESEAL_* from its environment: keep the
# caller's out of the daemons' configuration
while read -r v; do unset "$v"; done < <(compgen -e | grep '^NODESEAL')

NS_A=nsbench-a            # client host, 10.88.0.1
NS_B=nsbench-b            # server host, 10.88.0.2
IP_A=10.88.0.1
IP_B=10.88.0.2
WG_IF_A=nsbwg-a           # wireguard-go interfaces (their UAPI sockets live in
WG_IF_B=nsbwg-b           # the shared /var/run/wireguard, so the names differ)
WG_IP_A=10.89.0.1
WG_IP_B=10.89.0.2
SRV_PORT=7447             # every test server listens on 0.0.0.0:7447 on host B
ENTRY_PORT=17447          # tunnels' local entry on host A (127.0.0.1)

ALL_TRANSPORTS="plain nodeseal nodeseal-pkt stunnel spiped socat ssh wireguard"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	IPERF_T=${BENCH_IPERF_SECONDS:-2}; RR_N=${BENCH_RR_COUNT:-1000}
	CONN_T=${BENCH_CONN_SECONDS:-2}; IDLE_N=${BENCH_IDLE_CONNS:-200}
else
	IPERF_T=${BENCH_IPERF_SECONDS:-5}; RR_N=${BENCH_RR_COUNT:-5000}
	CONN_T=${BENCH_CONN_SECONDS:-5}; IDLE_N=${BENCH_IDLE_CONNS:-1000}
fi
CONN_W=${BENCH_CONN_WORKERS:-4}

T0=$(date +%s.%N)
say() { printf '[%6.1fs] %s\n' "$(awk -v t0="$T0" -v t="$(date +%s.%N)" 'BEGIN{print t-t0}')" "$*"; }
die() { echo "bench: $*" >&2; exit 1; }

label_of() {
	case $1 in
	plain) echo "plain TCP" ;;
	nodeseal) echo "nodeseal (proxy)" ;;
	nodeseal-pkt) echo "nodeseal-pkt (packet)" ;;
	stunnel) echo "stunnel4 TLS1.3" ;;
	spiped) echo "spiped" ;;
	socat) echo "socat+OpenSSL" ;;
	ssh) echo "ssh -L" ;;
	wireguard) echo "wireguard-go" ;;
	esac
}

# --------------------------------------------------------------- selection

if [ -n "${BENCH_TRANSPORTS:-}" ] && [ "${BENCH_TRANSPORTS}" != all ]; then
	SELECTED=""
	for t in ${BENCH_TRANSPORTS//,/ }; do
		case $t in
		plain | tcp) t=plain ;;
		nodeseal | nodeseal-proxy | proxy) t=nodeseal ;;
		nodeseal-pkt | nodeseal-packet | packet) t=nodeseal-pkt ;;
		stunnel | stunnel4) t=stunnel ;;
		spiped) ;;
		socat) ;;
		ssh | ssh-L | ssh-l) t=ssh ;;
		wireguard | wireguard-go | wg) t=wireguard ;;
		*) die "unknown transport '$t' (known: ${ALL_TRANSPORTS// /,})" ;;
		esac
		case " $SELECTED " in *" $t "*) ;; *) SELECTED="$SELECTED $t" ;; esac
	done
	SELECTED=${SELECTED# }
else
	SELECTED=$ALL_TRANSPORTS
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, iptables, tcpdump)"

# One run at a time: the namespace names are fixed.
mkdir -p /run/lock
exec 9>/run/lock/nodeseal-bench.lock
flock -n 9 || die "another bench run holds /run/lock/nodeseal-bench.lock"

# ------------------------------------------------------ processes, cleanup

PIDS=()          # every process this script started (direct children)
SPAWN_LOGS=()    # log names of the current transport's processes
WORK=""
MADE_RUN_SSHD=0

# is pid $1 still a live child of this shell? (guards against PID reuse)
our_live_child() {
	local s f
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	read -r -a f <<<"$s"
	[ "${f[0]}" != Z ] && [ "${f[1]}" = "$$" ]
}

# stop_pids PID...: SIGTERM, up to 3 s grace, SIGKILL; only our own children.
stop_pids() {
	local p i alive mine=()
	for p in "$@"; do our_live_child "$p" && mine+=("$p"); done
	if [ ${#mine[@]} -gt 0 ]; then
		kill -TERM "${mine[@]}" 2>/dev/null
		for i in $(seq 30); do
			alive=0
			for p in "${mine[@]}"; do our_live_child "$p" && alive=1; done
			[ $alive = 0 ] && break
			sleep 0.1
		done
		for p in "${mine[@]}"; do our_live_child "$p" && kill -KILL "$p" 2>/dev/null; done
	fi
	for p in "$@"; do wait "$p" 2>/dev/null; done
	local keep=() q
	for q in "${PIDS[@]}"; do
		for p in "$@"; do [ "$q" = "$p" ] && continue 2; done
		keep+=("$q")
	done
	PIDS=("${keep[@]}")
}

# kill whatever still runs inside one of *our* namespaces (orphans such as
# socat's per-connection children or sshd's session processes)
kill_ns_procs() {
	local ns=$1 pids i
	pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
	[ -z "${pids// /}" ] && return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null
	for i in $(seq 20); do
		pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		[ -z "${pids// /}" ] && return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	sleep 0.2
}

ns_delete() {
	local ns
	for ns in "$NS_A" "$NS_B"; do
		if [ -e "/run/netns/$ns" ]; then
			kill_ns_procs "$ns"
			ip netns del "$ns" 2>/dev/null
		fi
	done
	rm -f "/var/run/wireguard/$WG_IF_A.sock" "/var/run/wireguard/$WG_IF_B.sock"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ ${#PIDS[@]} -gt 0 ] && stop_pids "${PIDS[@]}"
	ns_delete
	[ -n "$WORK" ] && rm -rf "$WORK"
	[ "$MADE_RUN_SSHD" = 1 ] && rmdir /run/sshd 2>/dev/null
	exit $rc
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

# spawn NS NAME CMD...: start CMD in namespace NS in the background, output to
# $LOGDIR/NAME.log; its PID (ip netns exec execs, so it is CMD's) in SPAWNED.
spawn() {
	local ns=$1 name=$2
	shift 2
	ip netns exec "$ns" "$@" >"$LOGDIR/$name.log" 2>&1 </dev/null 9>&- &
	SPAWNED=$!
	PIDS+=("$SPAWNED")
	SPAWN_LOGS+=("$name")
}

# in NS CMD...: run CMD in NS in the foreground, with a time limit
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" timeout -k 5 120 "$@" 9>&-
}

# wait_listen NS PORT [SECONDS [PID]]: until something listens on TCP PORT in
# NS; gives up early if PID (the process expected to listen) has exited
wait_listen() {
	local ns=$1 port=$2 limit=${3:-10} pid=${4:-} i
	for i in $(seq $((limit * 20))); do
		[ -n "$(ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
		[ -n "$pid" ] && ! our_live_child "$pid" && return 1
		sleep 0.05
	done
	return 1
}

# wait_file FILE REGEX SECONDS [PID]: until FILE matches REGEX (or PID died)
wait_file() {
	local file=$1 re=$2 limit=$3 pid=${4:-} i
	for i in $(seq $((limit * 20))); do
		grep -qE "$re" "$file" 2>/dev/null && return 0
		[ -n "$pid" ] && ! our_live_child "$pid" && { grep -qE "$re" "$file" 2>/dev/null; return; }
		sleep 0.05
	done
	return 1
}

# wait_exit PID SECONDS: until PID (our child) has exited
wait_exit() {
	local i
	for i in $(seq $(($2 * 20))); do
		our_live_child "$1" || return 0
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------- process tree figures

# tree_pids ROOT...: ROOTs and all their descendants, into TREE
tree_pids() {
	TREE=()
	local queue=("$@") i=0 p f kids
	while [ $i -lt ${#queue[@]} ]; do
		p=${queue[$i]}
		i=$((i + 1))
		[ -d "/proc/$p" ] || continue
		TREE+=("$p")
		for f in /proc/"$p"/task/*/children; do
			kids=()
			read -r -a kids <"$f" 2>/dev/null
			[ ${#kids[@]} -gt 0 ] && queue+=("${kids[@]}")
		done
	done
}

# cpu_ticks ROOT...: utime+stime+cutime+cstime summed over the trees
cpu_ticks() {
	local t=0 p s f
	tree_pids "$@"
	for p in "${TREE[@]}"; do
		s=$(<"/proc/$p/stat") 2>/dev/null || continue
		s=${s##*) }
		read -r -a f <<<"$s"
		t=$((t + f[11] + f[12] + f[13] + f[14]))
	done
	echo $t
}

# mem_kib ROOT...: "RSS PSS_ANON NPROC" in KiB summed over the trees.  Anonymous
# PSS shares the pages of forked children fairly and, unlike PSS, does not move
# when unrelated processes map or unmap the same libraries.
mem_kib() {
	local files=() p
	tree_pids "$@"
	[ ${#TREE[@]} -eq 0 ] && { echo "0 0 0"; return; }
	for p in "${TREE[@]}"; do files+=("/proc/$p/status" "/proc/$p/smaps_rollup"); done
	awk -v n=${#TREE[@]} '/^VmRSS:/ {r += $2} /^Pss_Anon:/ {s += $2} END {printf "%d %d %d\n", r, s, n}' \
		"${files[@]}" 2>/dev/null
}

CLK_TCK=$(getconf CLK_TCK)

# ----------------------------------------------------------------- network

ns_create() {
	ns_delete
	ip netns add "$NS_A" && ip netns add "$NS_B" || return 1
	# the veth is created inside A with its peer placed straight into B:
	# no interface ever appears in the namespace this script runs in
	ip -n "$NS_A" link add veth0 type veth peer name veth0 netns "$NS_B" || return 1
	ip -n "$NS_A" addr add "$IP_A/24" dev veth0 || return 1
	ip -n "$NS_B" addr add "$IP_B/24" dev veth0 || return 1
	local ns
	for ns in "$NS_A" "$NS_B"; do
		ip -n "$ns" link set lo up || return 1
		ip -n "$ns" link set veth0 up || return 1
		# many short connections: reuse TIME_WAIT ports, wide ephemeral range
		# (below nodeseal's delivery ports, 61000-65535, as it must be)
		ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
			net.ipv4.ip_local_port_range="1024 60999" net.core.somaxconn=4096 || return 1
	done
}

# ------------------------------------------------------------- transports
#
# setup_X starts the transport at both ends and sets
#   HOST PORT   where the tools in namespace A connect
#   TP_A TP_B   the transport's root PIDs at each end (for CPU and memory)
# or returns non-zero with SETUP_ERR set.  The far end always forwards to
# 127.0.0.1:7447 (or, for both nodeseal modes, plain and wireguard, the
# server is reached at its own address on port 7447).

need_cmds() {
	local c pkg
	for c in "$@"; do
		pkg=${c#*:}
		c=${c%%:*}
		if ! command -v "$c" >/dev/null 2>&1; then
			local cand
			cand=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
			if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
				SETUP_ERR="Debian package '$pkg' is not available (apt-cache policy: no candidate)"
			else
				SETUP_ERR="'$c' not found: Debian package '$pkg' is not installed (run bench/install-deps.sh)"
			fi
			return 1
		fi
	done
}

setup_plain() {
	HOST=$IP_B PORT=$SRV_PORT TP_A="" TP_B=""
}

# nodeseal_opts T SIDE: the options of transport T's daemon at SIDE (a or b),
# into NS_OPTS; "up" and "down" get the same ones.  Both modes use one
# network key file and protect SRV_PORT; packet mode binds NFQUEUE 7447.
# Packet mode runs with its default table (4096 entries) unless
# BENCH_PKT_MAX_CONNECTIONS is set: a full table evicts ended connections
# first, so connrate's thousands a second do not fill it.
PKT_MAX_CONNECTIONS=${BENCH_PKT_MAX_CONNECTIONS:-}
nodeseal_opts() {
	NS_OPTS=(--network-key-file "$WORK/network.key" --state-dir "$WORK/$1-$2"
		--ports "$SRV_PORT" --log-level warn)
	[ "$1" = nodeseal-pkt ] && NS_OPTS+=(--mode packet --queue-num "$SRV_PORT")
	[ "$1" = nodeseal-pkt ] && [ -n "$PKT_MAX_CONNECTIONS" ] &&
		NS_OPTS+=(--max-connections "$PKT_MAX_CONNECTIONS")
	return 0
}

# start_nodeseal T: both daemons of transport T (nodeseal or nodeseal-pkt)
start_nodeseal() {
	local t=$1 side ns ok i
	[ -x "$NODESEAL" ] || { SETUP_ERR="$NODESEAL not found (run make)"; return 1; }
	if [ ! -s "$WORK/network.key" ]; then
		(umask 077 && "$NODESEAL" genkey >"$WORK/network.key") ||
			{ SETUP_ERR="nodeseal genkey failed"; return 1; }
	fi
	for side in a b; do
		ns=$NS_A
		[ $side = b ] && ns=$NS_B
		nodeseal_opts "$t" $side
		spawn "$ns" "$t-$side" "$NODESEAL" up "${NS_OPTS[@]}"
		if [ $side = a ]; then TP_A=$SPAWNED; else TP_B=$SPAWNED; fi
	done
	for side in a b; do
		ns=$NS_A
		[ $side = b ] && ns=$NS_B
		ok=0
		for i in $(seq 100); do
			if ip netns exec "$ns" "$NODESEAL" status --state-dir "$WORK/$t-$side" \
				>/dev/null 2>&1; then
				ok=1
				break
			fi
			sleep 0.05
		done
		[ $ok = 1 ] || { SETUP_ERR="nodeseal up ($t, $side) did not come up: $(tail -n 3 "$LOGDIR/$t-$side.log" | tr '\n' ' ')"; return 1; }
	done
	HOST=$IP_B PORT=$SRV_PORT
}

setup_nodeseal() { start_nodeseal nodeseal; }

# Packet mode: no proxy, the client connects straight to B's port 7447 and
# both daemons rewrite the segments through NFQUEUE (iperf3's control and
# data connections both use port 7447, so both are protected).
setup_nodeseal_pkt() { start_nodeseal nodeseal-pkt; }

# teardown_nodeseal T: "nodeseal down" with the daemons' own options (it asks
# the daemon to stop, waits, and removes whatever rules are left), then stop
# the daemons by PID if they are still there.  The daemons' status (packet
# mode: queue counters) is kept in the logs first.
teardown_nodeseal() {
	local t=$1 side ns
	for side in a b; do
		ns=$NS_A
		[ $side = b ] && ns=$NS_B
		nodeseal_opts "$t" $side
		in_ns "$ns" "$NODESEAL" status --json --state-dir "$WORK/$t-$side" \
			>"$LOGDIR/$t-$side.status.json" 2>&1
		in_ns "$ns" "$NODESEAL" down "${NS_OPTS[@]}" >>"$LOGDIR/$t-$side.log" 2>&1
	done
	stop_pids "$TP_A" "$TP_B"
}

make_tls_cert() {
	[ -s "$WORK/tls-cert.pem" ] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$WORK/tls-key.pem" -out "$WORK/tls-cert.pem" -subj "/CN=$IP_B" \
		-addext "subjectAltName=IP:$IP_B" >"$LOGDIR/openssl-req.log" 2>&1
}

setup_stunnel() {
	need_cmds stunnel4:stunnel4 openssl:openssl || return 1
	make_tls_cert || { SETUP_ERR="openssl req failed: $(tail -n 2 "$LOGDIR/openssl-req.log")"; return 1; }
	cat >"$WORK/stunnel-a.conf" <<-EOF
		foreground = yes
		pid =
		syslog = no
		debug = warning
		[bench]
		client = yes
		accept = 127.0.0.1:$ENTRY_PORT
		connect = $IP_B:8443
		CAfile = $WORK/tls-cert.pem
		verifyChain = yes
		checkIP = $IP_B
		sslVersionMin = TLSv1.3
		sessionResume = no
		socket = l:TCP_NODELAY=1
		socket = r:TCP_NODELAY=1
	EOF
	cat >"$WORK/stunnel-b.conf" <<-EOF
		foreground = yes
		pid =
		syslog = no
		debug = warning
		[bench]
		accept = $IP_B:8443
		connect = 127.0.0.1:$SRV_PORT
		cert = $WORK/tls-cert.pem
		key = $WORK/tls-key.pem
		sslVersionMin = TLSv1.3
		sessionResume = no
		socket = l:TCP_NODELAY=1
		socket = r:TCP_NODELAY=1
	EOF
	spawn "$NS_B" stunnel-b stunnel4 "$WORK/stunnel-b.conf"
	TP_B=$SPAWNED
	spawn "$NS_A" stunnel-a stunnel4 "$WORK/stunnel-a.conf"
	TP_A=$SPAWNED
	wait_listen "$NS_B" 8443 10 "$TP_B" || { SETUP_ERR="stunnel (B) not listening: $(tail -n 2 "$LOGDIR/stunnel-b.log" | tr '\n' ' ')"; return 1; }
	wait_listen "$NS_A" "$ENTRY_PORT" 10 "$TP_A" || { SETUP_ERR="stunnel (A) not listening: $(tail -n 2 "$LOGDIR/stunnel-a.log" | tr '\n' ' ')"; return 1; }
	HOST=127.0.0.1 PORT=$ENTRY_PORT
}

setup_spiped() {
	need_cmds spiped:spiped || return 1
	head -c 32 /dev/urandom >"$WORK/spiped.key"
	# -n 0: no limit on connections (default 100; the idle test holds more)
	spawn "$NS_B" spiped-b spiped -d -F -n 0 -s "[$IP_B]:8025" -t "[127.0.0.1]:$SRV_PORT" \
		-k "$WORK/spiped.key"
	TP_B=$SPAWNED
	spawn "$NS_A" spiped-a spiped -e -F -n 0 -s "[127.0.0.1]:$ENTRY_PORT" -t "[$IP_B]:8025" \
		-k "$WORK/spiped.key"
	TP_A=$SPAWNED
	wait_listen "$NS_B" 8025 10 "$TP_B" || { SETUP_ERR="spiped (B) not listening: $(tail -n 2 "$LOGDIR/spiped-b.log" | tr '\n' ' ')"; return 1; }
	wait_listen "$NS_A" "$ENTRY_PORT" 10 "$TP_A" || { SETUP_ERR="spiped (A) not listening: $(tail -n 2 "$LOGDIR/spiped-a.log" | tr '\n' ' ')"; return 1; }
	HOST=127.0.0.1 PORT=$ENTRY_PORT
}

setup_socat() {
	need_cmds socat:socat openssl:openssl || return 1
	make_tls_cert || { SETUP_ERR="openssl req failed: $(tail -n 2 "$LOGDIR/openssl-req.log")"; return 1; }
	spawn "$NS_B" socat-b socat \
		"OPENSSL-LISTEN:8444,bind=$IP_B,reuseaddr,fork,backlog=4096,nodelay,cert=$WORK/tls-cert.pem,key=$WORK/tls-key.pem,verify=0,openssl-min-proto-version=TLS1.3" \
		"TCP4:127.0.0.1:$SRV_PORT,nodelay"
	TP_B=$SPAWNED
	spawn "$NS_A" socat-a socat \
		"TCP4-LISTEN:$ENTRY_PORT,bind=127.0.0.1,reuseaddr,fork,backlog=4096,nodelay" \
		"OPENSSL:$IP_B:8444,nodelay,cafile=$WORK/tls-cert.pem,verify=1,commonname=$IP_B,openssl-min-proto-version=TLS1.3"
	TP_A=$SPAWNED
	wait_listen "$NS_B" 8444 10 "$TP_B" || { SETUP_ERR="socat (B) not listening: $(tail -n 2 "$LOGDIR/socat-b.log" | tr '\n' ' ')"; return 1; }
	wait_listen "$NS_A" "$ENTRY_PORT" 10 "$TP_A" || { SETUP_ERR="socat (A) not listening: $(tail -n 2 "$LOGDIR/socat-a.log" | tr '\n' ' ')"; return 1; }
	HOST=127.0.0.1 PORT=$ENTRY_PORT
}

setup_ssh() {
	need_cmds ssh:openssh-client /usr/sbin/sshd:openssh-server ssh-keygen:openssh-client || return 1
	if [ ! -d /run/sshd ]; then       # sshd's privilege separation directory
		mkdir -p /run/sshd && chmod 755 /run/sshd && MADE_RUN_SSHD=1
	fi
	ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$WORK/ssh_host_ed25519_key" || { SETUP_ERR="ssh-keygen failed"; return 1; }
	ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$WORK/ssh_client_key" || { SETUP_ERR="ssh-keygen failed"; return 1; }
	cp "$WORK/ssh_client_key.pub" "$WORK/ssh_authorized_keys"
	echo "[$IP_B]:2222 $(cut -d' ' -f1,2 "$WORK/ssh_host_ed25519_key.pub")" >"$WORK/ssh_known_hosts"
	cat >"$WORK/sshd_config" <<-EOF
		Port 2222
		ListenAddress $IP_B
		HostKey $WORK/ssh_host_ed25519_key
		AuthorizedKeysFile $WORK/ssh_authorized_keys
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		PidFile none
		AllowTcpForwarding yes
		PermitTTY no
		X11Forwarding no
		LogLevel ERROR
		Ciphers aes256-gcm@openssh.com
	EOF
	spawn "$NS_B" sshd-b /usr/sbin/sshd -D -e -f "$WORK/sshd_config"
	TP_B=$SPAWNED
	wait_listen "$NS_B" 2222 10 "$TP_B" || { SETUP_ERR="sshd not listening: $(tail -n 3 "$LOGDIR/sshd-b.log" | tr '\n' ' ')"; return 1; }
	spawn "$NS_A" ssh-a ssh -N -T -F /dev/null -i "$WORK/ssh_client_key" -o IdentitiesOnly=yes \
		-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/ssh_known_hosts" \
		-o GlobalKnownHostsFile=/dev/null -o ExitOnForwardFailure=yes -o LogLevel=ERROR \
		-o Ciphers=aes256-gcm@openssh.com -p 2222 \
		-L "127.0.0.1:$ENTRY_PORT:127.0.0.1:$SRV_PORT" "root@$IP_B"
	TP_A=$SPAWNED
	wait_listen "$NS_A" "$ENTRY_PORT" 15 "$TP_A" || { SETUP_ERR="ssh -L not listening: $(tail -n 3 "$LOGDIR/ssh-a.log" | tr '\n' ' ')"; return 1; }
	HOST=127.0.0.1 PORT=$ENTRY_PORT
}

setup_wireguard() {
	need_cmds wireguard-go:wireguard-go wg:wireguard-tools || return 1
	[ -c /dev/net/tun ] || { SETUP_ERR="/dev/net/tun missing"; return 1; }
	local side ns ifc peer ip peerip
	for side in a b; do
		(umask 077 && wg genkey >"$WORK/wg-$side.key") && wg pubkey <"$WORK/wg-$side.key" >"$WORK/wg-$side.pub" ||
			{ SETUP_ERR="wg genkey failed"; return 1; }
	done
	for side in a b; do
		if [ $side = a ]; then
			ns=$NS_A ifc=$WG_IF_A ip=$WG_IP_A peer=b peerip=$IP_B
		else
			ns=$NS_B ifc=$WG_IF_B ip=$WG_IP_B peer=a peerip=$IP_A
		fi
		# wireguard-go refuses to run when the kernel has WireGuard, unless told
		spawn "$ns" "wireguard-go-$side" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
			LOG_LEVEL=error wireguard-go -f "$ifc"
		if [ $side = a ]; then TP_A=$SPAWNED; else TP_B=$SPAWNED; fi
		local i
		for i in $(seq 100); do
			[ -S "/var/run/wireguard/$ifc.sock" ] && break
			sleep 0.05
		done
		[ -S "/var/run/wireguard/$ifc.sock" ] || { SETUP_ERR="wireguard-go ($side) did not start: $(tail -n 3 "$LOGDIR/wireguard-go-$side.log" | tr '\n' ' ')"; return 1; }
		local peerpub
		peerpub=$(cat "$WORK/wg-$peer.pub")
		ip netns exec "$ns" wg set "$ifc" private-key "$WORK/wg-$side.key" listen-port 51820 \
			peer "$peerpub" allowed-ips "${ip%.*}.0/24" endpoint "$peerip:51820" \
			>>"$LOGDIR/wireguard-go-$side.log" 2>&1 || { SETUP_ERR="wg set ($side) failed: $(tail -n 2 "$LOGDIR/wireguard-go-$side.log" | tr '\n' ' ')"; return 1; }
		ip -n "$ns" addr add "$ip/24" dev "$ifc" && ip -n "$ns" link set "$ifc" mtu 1420 up ||
			{ SETUP_ERR="addressing $ifc failed"; return 1; }
	done
	HOST=$WG_IP_B PORT=$SRV_PORT
}

# ------------------------------------------------------------ measurements

# marker_check T: the marker must cross the veth in clear for plain only
marker_check() {
	local t=$1 pcap=$LOGDIR/$1.pcap marker tcpd found packets
	marker="BENCH-MARKER-PLAINTEXT-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	rm -f "$pcap"
	spawn "$NS_B" "marker-server-$t" "$BIN/connrate" server "$SRV_PORT"
	MARKER_SRV=$SPAWNED
	wait_listen "$NS_B" "$SRV_PORT" 10 "$MARKER_SRV" || { MARKER_ERR="echo server did not start"; stop_pids "$MARKER_SRV"; return 1; }
	spawn "$NS_B" "tcpdump-$t" tcpdump -i veth0 -nn -U --immediate-mode -s 0 -Z root -w "$pcap"
	tcpd=$SPAWNED
	if ! wait_file "$LOGDIR/tcpdump-$t.log" 'listening on' 10 "$tcpd"; then
		MARKER_ERR="tcpdump did not start: $(tail -n 2 "$LOGDIR/tcpdump-$t.log" | tr '\n' ' ')"
		stop_pids "$tcpd" "$MARKER_SRV"
		return 1
	fi
	sleep 0.3
	# twice: once on a fresh connection, once more with the first one's state warm
	if ! in_ns "$NS_A" "$BIN/connrate" send "$HOST" "$PORT" "$marker" >"$LOGDIR/marker-$t.log" 2>&1 ||
		! in_ns "$NS_A" "$BIN/connrate" send "$HOST" "$PORT" "$marker" >>"$LOGDIR/marker-$t.log" 2>&1; then
		MARKER_ERR="does not carry traffic: $(tail -n 1 "$LOGDIR/marker-$t.log")"
		stop_pids "$tcpd" "$MARKER_SRV"
		return 1
	fi
	sleep 0.5
	kill -INT "$tcpd" 2>/dev/null
	wait_exit "$tcpd" 5
	stop_pids "$tcpd" "$MARKER_SRV"
	packets=$(tcpdump -r "$pcap" -nn 2>/dev/null | wc -l)
	found=$(grep -a -c -F "$marker" "$pcap" 2>/dev/null)
	found=${found:-0}
	MARKER_INFO="$packets packets on veth0, marker found in $found"
	if [ "$t" = plain ]; then
		[ "$found" -gt 0 ] || { MARKER_ERR="marker NOT seen in the clear for plain TCP: the capture does not work ($MARKER_INFO)"; return 1; }
	else
		[ "$packets" -ge 4 ] || { MARKER_ERR="traffic did not cross the veth ($MARKER_INFO)"; return 1; }
		[ "$found" -eq 0 ] || { MARKER_ERR="marker seen IN CLEAR on the veth ($MARKER_INFO)"; return 1; }
	fi
	return 0
}

# idle: N idle connections; RSS/PSS of the transport's trees before and with them
measure_idle() {
	local t=$1 srv cli before_a before_b with_a with_b r0 p0 r1 p1 np
	IDLE_KIB="" IDLE_TOTAL="" IDLE_PSS=""
	spawn "$NS_B" "idle-server-$t" "$BIN/idle" server "$SRV_PORT"
	srv=$SPAWNED
	wait_listen "$NS_B" "$SRV_PORT" 10 "$srv" || { NOTE+="idle server failed; "; stop_pids "$srv"; return 1; }
	sleep 0.5
	read -r r0 p0 _ < <(mem_kib $TP_A $TP_B)
	before_a=$(mem_kib $TP_A) before_b=$(mem_kib $TP_B)
	spawn "$NS_A" "idle-client-$t" "$BIN/idle" client "$HOST" "$PORT" "$IDLE_N"
	cli=$SPAWNED
	if ! wait_file "$LOGDIR/idle-client-$t.log" '^(ready|failed)' 180 "$cli" ||
		! grep -q '^ready' "$LOGDIR/idle-client-$t.log"; then
		say "   idle: FAILED: $(tail -n 1 "$LOGDIR/idle-client-$t.log")"
		NOTE+="idle failed ($(tail -n 1 "$LOGDIR/idle-client-$t.log")); "
		stop_pids "$cli" "$srv"
		return 1
	fi
	sleep 1
	read -r r1 p1 np < <(mem_kib $TP_A $TP_B)
	with_a=$(mem_kib $TP_A) with_b=$(mem_kib $TP_B)
	stop_pids "$cli" "$srv"
	if [ -n "$TP_A$TP_B" ]; then
		IDLE_KIB=$(awk -v a="$r0" -v b="$r1" -v n="$IDLE_N" 'BEGIN{printf "%.2f", (b-a)/n}')
		IDLE_PSS=$(awk -v a="$p0" -v b="$p1" -v n="$IDLE_N" 'BEGIN{printf "%.2f", (b-a)/n}')
		IDLE_TOTAL=$r1
		# forked per-connection processes: summed RSS counts each shared page
		# once per process; say what the anonymous PSS is
		if awk -v r="$IDLE_KIB" -v p="$IDLE_PSS" 'BEGIN{exit !(r > 2 * p + 1)}'; then
			NOTE+="KiB/idle conn sums the RSS of $np processes, counting shared pages once per process; anonymous PSS is $IDLE_PSS KiB/conn; "
		fi
		say "   idle: $IDLE_N conns: RSS ${r0} -> ${r1} KiB (A: ${before_a%% *} -> ${with_a%% *}, B: ${before_b%% *} -> ${with_b%% *}; $np processes) = $IDLE_KIB KiB/conn (anon PSS $IDLE_PSS)"
	else
		say "   idle: $IDLE_N conns held (no transport processes)"
	fi
}

measure_rr() {
	local t=$1 srv out
	RR_P50="" RR_P99=""
	spawn "$NS_B" "rr-server-$t" "$BIN/rr" server "$SRV_PORT"
	srv=$SPAWNED
	wait_listen "$NS_B" "$SRV_PORT" 10 "$srv" || { NOTE+="rr server failed; "; stop_pids "$srv"; return 1; }
	if out=$(in_ns "$NS_A" "$BIN/rr" client "$HOST" "$PORT" "$RR_N" 100 2>&1); then
		RR_P50=$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <<<"$out")
		RR_P99=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$out")
		say "   rr: $out"
	else
		say "   rr: FAILED: $out"
		NOTE+="rr failed ($out); "
	fi
	echo "$out" >"$LOGDIR/rr-client-$t.log"
	stop_pids "$srv"
}

measure_connrate() {
	local t=$1 srv out
	CONN_S=""
	spawn "$NS_B" "connrate-server-$t" "$BIN/connrate" server "$SRV_PORT"
	srv=$SPAWNED
	wait_listen "$NS_B" "$SRV_PORT" 10 "$srv" || { NOTE+="connrate server failed; "; stop_pids "$srv"; return 1; }
	if out=$(in_ns "$NS_A" "$BIN/connrate" client "$HOST" "$PORT" "$CONN_T" "$CONN_W" 2>&1); then
		CONN_S=$(sed -n 's/.*conn_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
		say "   connrate: $out"
		grep -q 'errors=0 ' <<<"$out" || NOTE+="connrate errors: ${out#*errors=}; "
	else
		say "   connrate: FAILED: $out"
		NOTE+="connrate failed ($out); "
	fi
	echo "$out" >"$LOGDIR/connrate-client-$t.log"
	stop_pids "$srv"
}

IPERF_PARSE='
import json, sys
d = json.load(open(sys.argv[1]))
if "error" in d:
    sys.exit("iperf3: " + d["error"])
s = d["end"]["sum_received"]
print(s["bytes"], s["bits_per_second"])
'

measure_iperf() {
	local t=$1 srv c0 c1 json parsed bytes bps
	json=$LOGDIR/iperf3-$t.json
	GBIT="" CPU_GB="" CPU_S="" GBYTES=""
	spawn "$NS_B" "iperf3-server-$t" iperf3 -s -p "$SRV_PORT" -1
	srv=$SPAWNED
	wait_listen "$NS_B" "$SRV_PORT" 10 "$srv" || { NOTE+="iperf3 server failed; "; stop_pids "$srv"; return 1; }
	c0=$(cpu_ticks $TP_A $TP_B)
	in_ns "$NS_A" iperf3 -c "$HOST" -p "$PORT" -t "$IPERF_T" -J >"$json" 2>"$LOGDIR/iperf3-client-$t.err"
	sleep 0.5      # let per-connection children exit and be reaped into cutime
	c1=$(cpu_ticks $TP_A $TP_B)
	stop_pids "$srv"
	if ! parsed=$(/usr/bin/python3 -c "$IPERF_PARSE" "$json" 2>&1) || [ -z "$parsed" ]; then
		say "   iperf3: FAILED: $(tail -n 2 "$LOGDIR/iperf3-client-$t.err" | tr '\n' ' ') $parsed"
		NOTE+="iperf3 failed; "
		return 1
	fi
	read -r bytes bps <<<"$parsed"
	GBIT=$(awk -v b="$bps" 'BEGIN{printf "%.3f", b/1e9}')
	GBYTES=$(awk -v b="$bytes" 'BEGIN{printf "%.3f", b/1e9}')
	if [ -n "$TP_A$TP_B" ]; then
		CPU_S=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/hz}')
		CPU_GB=$(awk -v c="$CPU_S" -v g="$GBYTES" 'BEGIN{ if (g > 0) printf "%.3f", c/g }')
		say "   iperf3: $GBIT Gbit/s received, $GBYTES GB; transport CPU $CPU_S s = $CPU_GB s/GB"
	else
		say "   iperf3: $GBIT Gbit/s received, $GBYTES GB"
	fi
}

# ------------------------------------------------------------------- main

mkdir -p "$RESULTS"
rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null

if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
	"$HERE/install-deps.sh" || die "bench/install-deps.sh failed"
fi
for c in ip ss tcpdump iperf3 cc awk flock timeout; do
	command -v "$c" >/dev/null || die "'$c' not found (run bench/install-deps.sh)"
done
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 not found (it parses iperf3's JSON)"
if [ ! -x "$NODESEAL" ]; then
	case " $SELECTED " in *" nodeseal"*) make -C "$REPO" >/dev/null || die "make failed" ;; esac
fi

WORK=$(mktemp -d /tmp/nodeseal-bench.XXXXXX)
BIN=$WORK/bin
mkdir -p "$BIN"
for tool in rr connrate idle; do
	cc -O2 -Wall -Wextra -o "$BIN/$tool" "$HERE/$tool.c" -lpthread 2>"$LOGDIR/cc-$tool.log" ||
		{ cat "$LOGDIR/cc-$tool.log" >&2; die "compiling bench/$tool.c failed"; }
done

TSV=$WORK/results.tsv
: >"$TSV"

NS_VERSION=$("$NODESEAL" version 2>/dev/null | head -n 1)
NS_VERSION=${NS_VERSION#nodeseal }
GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)
[ -n "$(git -C "$REPO" status --porcelain -- src 2>/dev/null)" ] && GIT_REV="$GIT_REV+dirty-src"
HEADER="$(date -u '+%Y-%m-%dT%H:%M:%SZ') $(uname -sr), $(nproc) CPUs; nodeseal ${NS_VERSION:-?} (${GIT_REV:-no git})"
MODE="iperf3 -t $IPERF_T, rr $RR_N x 100 B, connrate ${CONN_T}s x $CONN_W workers, idle $IDLE_N conns"
[ "${BENCH_QUICK:-0}" = 1 ] && MODE="QUICK: $MODE"
say "nodeseal bench: $HEADER"
say "$MODE; transports: $SELECTED"

for t in $SELECTED; do
	label=$(label_of "$t")
	say "== $label"
	SPAWN_LOGS=()
	HOST="" PORT="" TP_A="" TP_B="" SETUP_ERR="" MARKER_ERR="" MARKER_INFO="" NOTE=""
	GBIT="" CPU_GB="" CPU_S="" GBYTES="" RR_P50="" RR_P99="" CONN_S="" IDLE_KIB="" IDLE_TOTAL="" IDLE_PSS=""
	status=ok
	if ! ns_create; then
		status="FAILED"
		NOTE="could not create namespaces"
		say "   FAILED: $NOTE"
	elif ! "setup_${t//-/_}"; then
		case $SETUP_ERR in
		*"not available"* | *"not installed"*) status="SKIPPED" ;;
		*) status="FAILED" ;;
		esac
		NOTE="setup: $SETUP_ERR"
		say "   $status $label: $SETUP_ERR"
	elif ! marker_check "$t"; then
		status="FAILED"
		NOTE="marker check: $MARKER_ERR"
		say "   FAILED $label, not measured: $MARKER_ERR"
	else
		say "   marker check ok: $MARKER_INFO; tools connect to $HOST:$PORT"
		measure_idle "$t"
		measure_rr "$t"
		measure_connrate "$t"
		measure_iperf "$t"
		case $NOTE in *failed*) status=partial ;; esac
		for p in $TP_A $TP_B; do
			our_live_child "$p" || { NOTE+="transport process $p died during the run; "; status=FAILED; }
		done
	fi
	if [ "$status" = FAILED ]; then
		for f in "${SPAWN_LOGS[@]}"; do
			[ -s "$LOGDIR/$f.log" ] || continue
			echo "      $f.log:"
			tail -n 3 "$LOGDIR/$f.log" | sed 's/^/      | /'
		done
	fi
	case $t in nodeseal*) [ -n "$TP_A$TP_B" ] && teardown_nodeseal "$t" ;; esac
	[ -n "$TP_A$TP_B" ] && stop_pids $TP_A $TP_B
	ns_delete
	NOTE=${NOTE%; }
	NOTE=${NOTE//$'\n'/ }
	NOTE=${NOTE//$'\t'/ }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$label" "$status" \
		"$GBIT" "$CPU_GB" "$RR_P50" "$RR_P99" "$CONN_S" "$IDLE_KIB" "$IDLE_TOTAL" "$IDLE_PSS" \
		"$CPU_S" "$GBYTES" "$NOTE" >>"$TSV"
done

# ------------------------------------------------------------------ report

CSV=$RESULTS/latest.csv
TXT=$RESULTS/latest.txt
awk -F'\t' -v csv="$CSV" -v header="$HEADER" -v mode="$MODE" '
function num(x) { return x != "" }
function measured(r) { return v[r, 3] == "ok" || v[r, 3] == "partial" }
function fmt(v, d) { return v == "" ? "-" : sprintf("%." d "f", v) }
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "" : a / b }
function rfmt(r) { return r == "" ? "-" : sprintf("%.2fx", r) }
function q(s) { gsub(/"/, "\"\"", s); return "\"" s "\"" }
function isns(k) { return k ~ /^nodeseal/ }
# ratio rows under the table: one block per nodeseal mode
function ratio_rows(r, short) {
	printf "%-22s", short " / plain"
	for (m = 1; m <= nm; m++) printf " %" width[m] "s", plain && measured(plain) ? rfmt(ratio(v[r, col[m]], v[plain, col[m]])) : "-"
	printf "\n"
	any = 0
	for (m = 1; m <= nm; m++) if (best[r, m] != "") any = 1
	if (!any) return
	printf "%-22s", short " / best other"
	for (m = 1; m <= nm; m++) printf " %" width[m] "s", rfmt(ratio(v[r, col[m]], best[r, m]))
	printf "\n%-22s", "  best other is"
	for (m = 1; m <= nm; m++) { w = whokey[r, m]; if (w == "") w = "-"; printf " %" width[m] "s", substr(w, 1, width[m]) }
	printf "\n"
}
BEGIN {
	# metrics: column index, name, decimals, direction (+1 higher is better)
	nm = split("4 5 6 7 8 9", col, " ")
	split("gbit_s cpu_s_per_gb p50_us p99_us conn_per_s kib_per_idle_conn", mname, " ")
	split("2 2 1 1 0 2", dec, " ")
	split("1 -1 -1 -1 1 -1", dir, " ")
	split("Gbit/s|CPU s/GB|p50 us|p99 us|conn/s|KiB/idle conn", title, "|")
	split("9 9 9 9 9 14", width, " ")
	nohs["ssh"] = 1; nohs["wireguard"] = 1
}
{ n++; for (i = 1; i <= 14; i++) v[n, i] = $i; key[n] = $1; if ($1 == "plain") plain = n; if ($1 == "nodeseal") ns = n; if ($1 == "nodeseal-pkt") pkt = n }
END {
	# best other encrypting transport, per row and metric; for a nodeseal
	# mode, the other mode is not "other" (it is compared on its own line)
	for (r = 1; r <= n; r++) for (m = 1; m <= nm; m++) {
		best[r, m] = ""; who[r, m] = ""
		for (o = 1; o <= n; o++) {
			if (o == r || key[o] == "plain" || !measured(o) || !num(v[o, col[m]])) continue
			if (isns(key[r]) && isns(key[o])) continue
			# conn/s is "a full handshake per connection": not what ssh -L
			# (a channel in one session) or wireguard-go (one tunnel) do
			if (mname[m] == "conn_per_s" && nohs[key[o]]) continue
			x = v[o, col[m]] + 0
			if (best[r, m] == "" || (dir[m] > 0 ? x > best[r, m] : x < best[r, m])) { best[r, m] = x; who[r, m] = v[o, 2]; whokey[r, m] = key[o] }
		}
	}
	# CSV
	h = "transport,label,status"
	for (m = 1; m <= nm; m++) h = h "," mname[m]
	h = h ",idle_rss_total_kib,anon_pss_kib_per_idle_conn,iperf_cpu_s,iperf_gbytes"
	for (m = 1; m <= nm; m++) h = h "," mname[m] "_vs_plain"
	for (m = 1; m <= nm; m++) h = h "," mname[m] "_vs_best_other," mname[m] "_best_other"
	for (m = 1; m <= nm; m++) h = h "," mname[m] "_vs_nodeseal_proxy"
	print h ",note" > csv
	for (r = 1; r <= n; r++) {
		line = v[r, 1] "," q(v[r, 2]) "," v[r, 3]
		for (m = 1; m <= nm; m++) line = line "," v[r, col[m]]
		line = line "," v[r, 10] "," v[r, 11] "," v[r, 12] "," v[r, 13]
		for (m = 1; m <= nm; m++) {
			rr = (plain && r != plain && measured(r) && measured(plain)) ? ratio(v[r, col[m]], v[plain, col[m]]) : ""
			line = line "," (rr == "" ? "" : sprintf("%.4f", rr))
		}
		for (m = 1; m <= nm; m++) {
			rr = (key[r] != "plain" && measured(r)) ? ratio(v[r, col[m]], best[r, m]) : ""
			line = line "," (rr == "" ? "" : sprintf("%.4f", rr)) "," q(rr == "" ? "" : who[r, m])
		}
		for (m = 1; m <= nm; m++) {
			rr = (ns && r != ns && measured(r) && measured(ns)) ? ratio(v[r, col[m]], v[ns, col[m]]) : ""
			line = line "," (rr == "" ? "" : sprintf("%.4f", rr))
		}
		print line "," q(v[r, 14]) > csv
	}
	# table
	printf "\nnodeseal bench  %s\n%s\n\n", header, mode
	printf "%-22s", "transport"
	for (m = 1; m <= nm; m++) printf " %" width[m] "s", title[m]
	printf "  %s\n", "status"
	for (r = 1; r <= n; r++) {
		printf "%-22s", v[r, 2]
		for (m = 1; m <= nm; m++) {
			cell = measured(r) ? fmt(v[r, col[m]], dec[m]) : "-"
			if (mname[m] == "conn_per_s" && nohs[key[r]] && cell != "-") cell = cell "*"
			printf " %" width[m] "s", cell
		}
		printf "  %s\n", v[r, 3]
	}
	nsm = (ns && measured(ns)) + (pkt && measured(pkt))
	if (ns && measured(ns)) ratio_rows(ns, "proxy")
	if (pkt && measured(pkt)) ratio_rows(pkt, "packet")
	if (ns && measured(ns) && pkt && measured(pkt)) {
		printf "%-22s", "packet / proxy"
		for (m = 1; m <= nm; m++) printf " %" width[m] "s", rfmt(ratio(v[pkt, col[m]], v[ns, col[m]]))
		printf "\n"
	}
	if (nsm) {
		printf "\nratios are nodeseal / other: above 1 is better for Gbit/s and conn/s, below 1 is better for the rest.\n"
		printf "proxy: nodeseal in proxy mode (the default); packet: nodeseal up --mode packet (NFQUEUE).\n"
		printf "\"best other\" is the best encrypting transport other than nodeseal in either mode.\n"
	}
	printf "CPU s/GB: user+system seconds of the transport processes at both ends during iperf3, per GB received\n"
	printf "(kernel TCP/softirq work is not attributed to any transport; wireguard-go: its processes only).\n"
	printf "KiB/idle conn: (RSS with the idle connections - RSS before) / connections, both ends summed.\n"
	printf "conn/s *: ssh -L opens a channel in its one SSH session and wireguard-go routes through its one tunnel,\n"
	printf "so neither does a handshake per connection (nodeseal, stunnel, spiped and socat do); they are not\n"
	printf "candidates for \"best other\" in that column.\n"
	for (r = 1; r <= n; r++) if (v[r, 14] != "") printf "note: %s: %s\n", v[r, 2], v[r, 14]
}' "$TSV" | sed '/^transport /s/ us/ µs/g' | tee "$TXT"
say "CSV: $CSV   table: $TXT   logs and captures: $LOGDIR/"
# a transport that could not be verified or measured fails the run (a SKIPPED
# one, whose package does not exist, does not)
if cut -f3 "$TSV" | grep -qx FAILED; then
	echo "bench: some transports FAILED (see the notes above)" >&2
	exit 1
fi
