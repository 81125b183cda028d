#!/usr/bin/env bash
# The long fuzz runs (outside CI): every target for SECONDS (default 600),
# all in parallel, then the new inputs merged (minimised) into the corpora
# kept in tests/fuzz/corpus/, and the figures appended to docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}
make -s fuzz
out=build-fuzz/long
rm -rf "$out" && mkdir -p "$out"
pids=()
for f in build-fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	mkdir -p "$out/$name"
	"$f" -max_total_time="$SECONDS_EACH" -print_final_stats=1 "$out/$name" \
		"tests/fuzz/corpus/$name" >"$out/$name.log" 2>&1 &
	pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
{
	echo
	echo "## Run of $(date -u +%Y-%m-%d), ${SECONDS_EACH} s per target, all targets at once on $(nproc) cores"
	echo
	echo "| target | executions | exec/s | coverage (edges) | features | corpus before -> after merge | crashes |"
	echo "|---|---|---|---|---|---|---|"
	for f in build-fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		log="$out/$name.log"
		before=$(ls "tests/fuzz/corpus/$name" | wc -l)
		"$f" -merge=1 "tests/fuzz/corpus/$name" "$out/$name" >/dev/null 2>&1 || true
		after=$(ls "tests/fuzz/corpus/$name" | wc -l)
		execs=$(awk '/stat::number_of_executed_units/{print $2}' "$log")
		rate=$(awk '/stat::average_exec_per_sec/{print $2}' "$log")
		cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
		ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
		crashes=$(grep -c 'ERROR: \|deadly signal' "$log" || true)
		echo "| $name | $execs | $rate | $cov | $ft | $before -> $after | $crashes |"
	done
} | tee -a docs/FUZZING.md
exit $status
