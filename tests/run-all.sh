#!/bin/sh
# Everything: unit tests (make check), bounded fuzzing (make fuzz) and the
# whole-system tests in nested KVM (tests/system/run.sh). Sums every
# "N passed, N failed" line into one final "N passed, N failed"; a stage that
# fails without such a line counts as one failure. Exit non-zero on any failure.
# FUZZ_SECONDS bounds each fuzzer (Makefile default); MAKE overrides make.
cd "$(dirname "$0")/.." || exit 1
MAKE=${MAKE:-make}
P=0; F=0
log=$(mktemp "${TMPDIR:-/tmp}/tabi-run-all.XXXXXX")
trap 'rm -f "$log"' EXIT

stage() {
	name=$1; shift
	echo "== $name: $*"
	"$@" >"$log" 2>&1; rc=$?
	cat "$log"
	sums=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$log")
	if [ -z "$sums" ]; then
		[ $rc -ne 0 ] && { F=$((F + 1)); echo "== $name: FAILED (exit $rc, no result line)"; }
		return
	fi
	# Stages print one summary last; take that one (it includes the others).
	set -- $(printf '%s\n' "$sums" | tail -n1)
	P=$((P + $1)); F=$((F + $3))
	if [ $rc -ne 0 ] && [ "$3" -eq 0 ]; then F=$((F + 1)); echo "== $name: FAILED (exit $rc)"; fi
}

stage unit   $MAKE -s --no-print-directory check
stage fuzz   $MAKE -s --no-print-directory fuzz ${FUZZ_SECONDS:+FUZZ_SECONDS=$FUZZ_SECONDS}
stage system tests/system/run.sh
stage pull tests/system/pull.sh
[ -x tests/stick/run.sh ] && stage stick tests/stick/run.sh
echo "$P passed, $F failed"
[ $F -eq 0 ]
