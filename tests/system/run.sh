#!/bin/sh
# Whole-system tests: boots the nested host (QEMU TCG, AMD CPU with SVM) once
# per boot line of each test group and collects "CHECK <name> PASS|FAIL|SKIP"
# lines from its console.
#   tests/system/run.sh [--vmm tabi|qemu] [GROUP...]
# A group is tests/system/host/GROUP.sh (the host half, run inside the nested
# host) whose header declares:
#   #@ checks: NAME...          checks it must report (more lines allowed)
#   #@ boot: cpu=MODEL|default  one line per outer boot, in order; boot N runs
#                               the script with TABI_PHASE=N, all sharing one
#                               ext4 scratch disk (/data in the host)
#   #@ tools                    attach the QEMU tools disk (/tools)
#   #@ data: SIZE               scratch disk size (default 1G, sparse)
# --vmm qemu runs the guest halves under the inner QEMU/KVM instead of tabi,
# to check the harness itself; tabi-only checks then SKIP.
# Prints "CHECK ..." per check and finally "N passed, N failed".
# Logs: build/system/<group>.<phase>.log
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

VMM=tabi
while [ $# -gt 0 ]; do
	case "$1" in
	--vmm) VMM=$2; shift 2;;
	--vmm=*) VMM=${1#*=}; shift;;
	-h|--help) sed -n '2,18p' "$0"; exit 0;;
	*) break;;
	esac
done
if [ $# -gt 0 ]; then GROUPS_TO_RUN="$*"; else
	GROUPS_TO_RUN=$(for f in "$SYS_DIR"/host/*.sh; do
		n=$(basename "$f" .sh); [ -n "$(hdr "$f" checks)" ] && echo "$n"; done)
fi

if [ "$VMM" = tabi ] && [ ! -x "$ROOT/build/tabi" ]; then
	echo "system: build/tabi is missing: run 'make tabi' first (or --vmm qemu to test the harness alone)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
need_tools=$([ "$VMM" = qemu ] && echo tools)
for g in $GROUPS_TO_RUN; do
	[ -f "$SYS_DIR/host/$g.sh" ] || { echo "system: no test group $g (tests/system/host/$g.sh)" >&2; echo "0 passed, 1 failed"; exit 1; }
	grep -q '^#@ tools' "$SYS_DIR/host/$g.sh" && need_tools=tools
done
sys_build $need_tools || { echo "0 passed, 1 failed"; exit 1; }

P=0; F=0; S=0
t_all=$(date +%s)
for g in $GROUPS_TO_RUN; do
	f="$SYS_DIR/host/$g.sh"
	checks=$(hdr "$f" checks | tr '\n' ' ')
	boots=$(hdr "$f" boot | sed -n 's/.*cpu=\([^[:space:]]*\).*/\1/p')
	[ -n "$boots" ] || boots=default
	size=$(hdr "$f" data | head -n1); size=${size:-1G}
	drives=""
	sys_data_disk "$OUT/$g.data.img" "$size"
	drives="-drive file=$OUT/$g.data.img,format=raw,if=virtio"
	if [ "$VMM" = qemu ] || grep -q '^#@ tools' "$f"; then
		drives="$drives -drive file=$OUT/tools.img,format=raw,if=virtio,snapshot=on"
	fi
	: >"$OUT/$g.results"
	phase=0; logs=""; problems=""
	for cpu in $boots; do
		phase=$((phase + 1))
		log="$OUT/$g.$phase.log"; logs="$logs $log"
		sys_log "$g: boot $phase (cpu $cpu, vmm $VMM) -> $log"
		t0=$(date +%s)
		# shellcheck disable=SC2086
		outer_boot "$log" "$cpu" "tabi.script=$g tabi.phase=$phase tabi.vmm=$VMM" $drives
		orc=$?
		t1=$(date +%s)
		done_line=$(tr -d '\r' <"$log" | grep -a '^TABI-HOST-DONE' | tail -n1)
		sys_log "$g: boot $phase took $((t1 - t0))s: ${done_line:-no TABI-HOST-DONE line} (qemu rc=$orc)"
		tr -d '\r' <"$log" | grep -a '^CHECK ' >>"$OUT/$g.results"
		if [ "$orc" = 124 ] || [ "$orc" = 137 ]; then
			problems="$problems outer QEMU timed out after ${OUTER_TIMEOUT}s in boot $phase;"
		elif [ -z "$done_line" ]; then
			problems="$problems host script of boot $phase never finished (qemu rc=$orc);"
		fi
	done
	gfail=0
	# Declared checks first, then any the script reported without declaring.
	extra=$(awk '{print $2}' "$OUT/$g.results" | while read -r c; do
		case " $checks " in *" $c "*) ;; *) echo "$c";; esac; done | awk '!s[$0]++')
	for c in $checks $extra; do
		line=$(awk -v c="$c" '$2 == c' "$OUT/$g.results" | tail -n1)
		st=$(echo "$line" | awk '{print $3}')
		case "$st" in
		PASS) P=$((P + 1)); echo "CHECK $c PASS";;
		SKIP) S=$((S + 1)); echo "$line";;
		FAIL) F=$((F + 1)); gfail=1; echo "$line";;
		*) F=$((F + 1)); gfail=1; echo "CHECK $c FAIL never reported;${problems:- host script ended early}";;
		esac
	done
	if [ $gfail = 1 ] || [ -n "$problems" ]; then
		for l in $logs; do
			echo "---- tail of $l ----"
			tr -d '\r' <"$l" | tail -n 40
		done
		echo "----"
	fi
done
sys_log "total $(( $(date +%s) - t_all ))s; $S skipped"
echo "$P passed, $F failed"
[ $F -eq 0 ]
