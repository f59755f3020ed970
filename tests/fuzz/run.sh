#!/bin/sh
# Runs each libFuzzer target for SECONDS seconds on its own corpus under
# build/fuzz-corpus/NAME, prints one line per target and a final
# "fuzz: N passed, N failed"; exits non-zero if any target crashed.
# Targets that honour TABI_FUZZ_WRITE_SEED=DIR write a small valid session
# there first; its files (and a copy prefixed by 0x01, which selects the
# checksum-fixing mode of fuzz_snapshot_parse) seed the corpus.
secs=${1:?usage: tests/fuzz/run.sh SECONDS FUZZ_BINARY...}
shift
build=${BUILD:-build}
p=0; f=0
for bin in "$@"; do
	name=$(basename "$bin")
	corpus="$build/fuzz-corpus/$name"
	arts="$build/fuzz-artifacts"
	log="$build/fuzz-logs/$name.log"
	mkdir -p "$corpus" "$arts" "$build/fuzz-logs"
	seed="$build/fuzz-seed/$name"
	rm -rf "$seed"
	if TABI_FUZZ_WRITE_SEED="$seed" "$bin" -runs=0 >/dev/null 2>&1 &&
	   [ -d "$seed" ]; then
		for s in "$seed"/gen-*; do
			[ -f "$s" ] || continue
			cp "$s" "$corpus/seed-$(basename "$s")"
			{ printf '\001'; cat "$s"; } > "$corpus/seed-fix-$(basename "$s")"
		done
	fi
	if "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$arts/$name-" \
		"$corpus" >"$log" 2>&1; then
		runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" |
		       grep -Eo '[0-9]+$')
		echo "$name: passed (${runs:-?} runs in ${secs}s)"
		p=$((p + 1))
	else
		echo "$name: FAILED (crash; log $log, inputs under $arts/)"
		grep -E 'ERROR|SUMMARY' "$log" | head -n 5
		f=$((f + 1))
	fi
done
echo "fuzz: $p passed, $f failed"
[ "$f" -eq 0 ]
