#!/bin/sh
# Runs each unit-test binary and sums their "N passed, N failed" lines.
p=0; f=0; bad=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -E 'FAIL|ERROR|passed' 
	line=$(printf '%s\n' "$out" | grep -Eo '[0-9]+ passed, [0-9]+ failed' | tail -n1)
	set -- $line
	p=$((p + ${1:-0})); f=$((f + ${3:-0}))
	# A crash or a non-zero exit without a counted failure is one failure.
	if [ -z "$line" ] || { [ $rc -ne 0 ] && [ "${3:-0}" -eq 0 ]; }; then bad=$((bad+1)); fi
done
f=$((f + bad))
echo "unit: $p passed, $f failed"
[ $f -eq 0 ]
