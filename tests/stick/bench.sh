#!/bin/sh
# `make bench` (the stick's part): power-on -> guest resumed, for the stick
# booted as USB storage in a QEMU "PC" (TCG, -cpu EPYC,+svm,+npt, SeaBIOS),
# broken down from the arrival times of serial console lines:
#   firmware+bootloader  QEMU start -> kernel start (the first /init line's
#                        arrival minus the uptime it prints)
#   host kernel          kernel start -> /init (the uptime /init prints)
#   /init to tabi        /init -> "resuming the session" (modules, USB stick,
#                        KVM, mount)
#   tabi resume          "resuming the session" -> the guest's next line
#                        (the demo guest prints one per second: +<=1 s)
# Peer: the same stick's cold boot of the guest (tabi run -> the guest's
# "tabi-guest: demo" line), measured in the same run: resume/cold-boot ratio.
# BENCH_RUNS (default 1) resumes are measured; each one freezes again.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
RUNS=${BENCH_RUNS:-1}
CPU=${BENCH_CPU:-EPYC,+svm,+npt}
IMG=$OUT/bench.img
cd "$ROOT" || exit 1
[ -x build/tabi ] || { echo "bench: build/tabi is missing: run 'make tabi'" >&2; exit 1; }
./mkusb.sh --image "$IMG" --size 1G --mem 256M >/dev/null || exit 1

# at NAME REGEX: arrival time (epoch s) of the first stamped line matching REGEX.
at() { tr -d '\r' <"$OUT/$1.stamped" | grep -a -E -- "$2" | head -n1 | cut -d' ' -f1; }
# uptime_of NAME REGEX: the host uptime /init printed on that line.
uptime_of() { tr -d '\r' <"$OUT/$1.stamped" | grep -a -E -- "$2" | head -n1 | sed -n 's/.*tabi-stick: \[ *\([0-9.]*\)s\].*/\1/p'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%.2f", a - b }'; }

# boot NAME: boots the stick, waits for the guest, freezes it; prints the phases.
boot() {
	PC_STAMP=1 pc_start "$1" bios "$CPU" "$IMG"
	pc_wait "$1" "counter=[0-9]" 300 || { echo "bench: $1: the guest never ran; see $OUT/$1.log" >&2; pc_kill "$1"; return 1; }
	sleep 2
	pc_power "$1"
	pc_wait "$1" "safe to remove" 300 && pc_wait_exit "$1" 30
	pc_kill "$1"
	t0=$(cat "$OUT/$1.t0")
	ti=$(at "$1" "tabi-stick: .*\] init")
	ui=$(uptime_of "$1" "tabi-stick: .*\] init")
	kstart=$(sub "$ti" "$ui")
	FW=$(sub "$kstart" "$t0"); KERN=$ui
	tg=$(at "$1" "resuming the session|no session on the stick")
	INIT=$(sub "$(uptime_of "$1" "resuming the session|no session on the stick")" "$ui")
	if grep -aq "resuming the session" "$OUT/$1.log"; then
		VMM=$(sub "$(at "$1" "counter=[0-9]")" "$tg")
	else
		VMM=$(sub "$(at "$1" "tabi-guest: demo")" "$tg")
	fi
	TOTAL=$(sub "$(at "$1" "counter=[0-9]")" "$t0")
}

echo "bench: cold boot (no session on the stick yet)..."
boot cold || exit 1
COLD=$VMM
printf '  %-34s %8s s\n' "firmware + bootloader" "$FW" "host kernel" "$KERN" "/init to tabi" "$INIT" \
	"tabi run -> guest userspace" "$VMM" "power-on -> guest running" "$TOTAL"
i=0; RES=""
while [ $i -lt "$RUNS" ]; do
	i=$((i + 1))
	echo "bench: resume $i (power-on -> guest resumed)..."
	boot "resume$i" || exit 1
	printf '  %-34s %8s s\n' "firmware + bootloader" "$FW" "host kernel" "$KERN" "/init to tabi" "$INIT" \
		"tabi resume -> guest running (+<=1)" "$VMM" "power-on -> guest resumed" "$TOTAL"
	RES="$RES $VMM"
done
r=$(echo "$RES" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "bench: ratio  tabi resume / tabi cold boot of the same guest = $(awk -v a="$r" -v b="$COLD" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }') (same run, same emulated PC)"
echo "bench: times are from a TCG-emulated PC (nested KVM) on a noisy build machine; compare only ratios"
