#!/bin/bash
# ruletext_capture.sh: writes ruletext_dumps.h, the iptables-save dumps
# test_ruletext reads, as both backends print them.  Root; each dump is made
# in a scratch network namespace, deleted after.
#
#   tests/unit/ruletext_capture.sh build/nodeseal > tests/unit/ruletext_dumps.h
#
# Rules text comes from ns_intercept_rules_text (RULES_TEXT below: a tiny
# program against build/libnodeseal.a) for the defaults; the other
# programs' rules are FOREIGN below.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; ip netns del nsrtcap 2>/dev/null || true' EXIT

cat >"$tmp/gen.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "src/intercept/intercept.h"
#include "src/intercept/ruletext.h"
/* gen MODE PORTS V6: the rules text; gen remove FILE: the removal text */
int main(int argc, char **argv)
{
	static char out[16384], saved[1 << 20];
	struct ns_config c;
	char err[256], *a[] = { "gen", "--mode", argv[1], "--ports", argv[2], NULL };
	int i = 1;

	if (argc == 3 && argv[1][0] == 'r') {
		FILE *f = fopen(argv[2], "r");
		saved[fread(saved, 1, sizeof(saved) - 1, f)] = '\0';
		ns_intercept_removal_text(saved, out, sizeof(out));
	} else {
		if (argc != 4 || ns_config_load(&c, 5, a, &i, err, sizeof(err)) != 0)
			return 1;
		ns_intercept_rules_text(&c, atoi(argv[3]), out, sizeof(out));
	}
	fputs(out, stdout);
	return 0;
}
C
cc -std=c11 -D_GNU_SOURCE -I. -o "$tmp/gen" "$tmp/gen.c" "$build/libnodeseal.a" \
   -lcrypto -lpthread -lnetfilter_queue -lmnl

foreign() {
	local net=$1
	printf '%s\n' '*filter' ':FOREIGN - [0:0]' '-A INPUT -p tcp --dport 22 -j ACCEPT' \
	       "-A FOREIGN -s $net -j DROP" '-A INPUT -j FOREIGN' 'COMMIT' \
	       '*nat' '-A POSTROUTING -o eth9 -j MASQUERADE' 'COMMIT'
}

# dump NAME BACKEND V6 MODE PORTS WITH_FOREIGN REMOVE_AFTER
dump() {
	local name=$1 be=$2 v6=$3 mode=$4 ports=$5 with=$6 remove=$7 t=iptables net=10.9.0.0/16
	[ "$v6" = 1 ] && t=ip6tables && net=fd00:9::/32
	ip netns add nsrtcap
	[ "$with" = 1 ] && foreign $net | ip netns exec nsrtcap $t-$be-restore --noflush
	"$tmp/gen" "$mode" "$ports" "$v6" | ip netns exec nsrtcap $t-$be-restore --noflush
	if [ "$remove" = 1 ]; then
		ip netns exec nsrtcap $t-$be-save >"$tmp/saved"
		"$tmp/gen" remove "$tmp/saved" | ip netns exec nsrtcap $t-$be-restore --noflush
	fi
	echo "static const char $name[] ="
	ip netns exec nsrtcap $t-$be-save | sed 's/\\/\\\\/g; s/"/\\"/g; s/^/\t"/; s/$/\\n"/'
	echo "	;"
	echo
	ip netns del nsrtcap
}

echo "/* ruletext_dumps.h: iptables-save output, written by ruletext_capture.sh"
echo " * ($(iptables-nft-save -V), $(iptables-legacy-save -V)); do not edit. */"
echo
for be in nft legacy; do
	for v6 in 0 1; do
		for mode in proxy packet; do
			dump "${be}_${mode}$((v6 ? 6 : 4))" $be $v6 $mode 7447 1 0
		done
	done
	dump "${be}_removed4" $be 0 proxy 7447 0 1
done
dump legacy_packet_ports4 legacy 0 packet 8333,7447,9000 0 0
