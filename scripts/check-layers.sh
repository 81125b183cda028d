#!/bin/bash
# check-layers.sh: each directory of src/ is a layer, and includes only
# itself and the layers below it (docs/STYLE.md).  Reads every
# '#include "..."' of src/ and prints each include that reaches sideways or
# up as "file:line: LAYER includes OTHER"; exits 1 if there is one.
#
# The order, lowest first.  Layers on one line are peers: neither may
# include the other.  It is the order of docs/STYLE.md; change both.
set -euo pipefail
cd "$(dirname "$0")/.."

ORDER=(
	"crypto util"
	"event"
	"noise"
	"proto"
	"keys peers"
	"packet chain"
	"config"
	"intercept relay"
	"daemon"
	"cli"
)

# Known violations, as "file:LAYER includes OTHER", allowed until they go
# (none now: keep the list for a migration in progress, with its reason).
ALLOWED=()

declare -A rank
for i in "${!ORDER[@]}"; do
	for layer in ${ORDER[$i]}; do
		rank[$layer]=$i
	done
done

declare -A used
allowed() {
	local v
	for v in "${ALLOWED[@]}"; do
		[ "$v" = "$1" ] && used[$v]=1 && return 0
	done
	return 1
}

bad=0
while IFS=: read -r file line text; do
	layer=${file#src/}
	layer=${layer%%/*}
	target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]*)".*/\1/' <<<"$text")
	# The include's own path, resolved from the including file's directory.
	path=$(realpath -m --relative-to=src "$(dirname "$file")/$target")
	other=$layer
	[[ $path == */* ]] && other=${path%%/*}
	[ "$other" = "$layer" ] && continue
	if [ -z "${rank[$layer]+x}" ] || [ -z "${rank[$other]+x}" ]; then
		echo "$file:$line: $layer includes $other, and one of them has no place in the order"
		bad=1
	elif [ "${rank[$other]}" -ge "${rank[$layer]}" ] && ! allowed "$file:$layer includes $other"; then
		echo "$file:$line: $layer includes $other"
		bad=1
	fi
done < <(grep -rnE --include='*.[ch]' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' src)
for v in "${ALLOWED[@]}"; do
	[ -n "${used[$v]+x}" ] || echo "note: '$v' no longer happens; remove it from ALLOWED"
done
exit $bad
