#!/bin/sh
# `make demo`: the journey of a tabi stick, in QEMU.
#  1. mkusb.sh --image build/stick/demo.img (the demo guest: clock + counter);
#  2. PC A (SeaBIOS, -cpu EPYC,+svm,+npt) boots the stick from USB; the guest
#     starts; after DEMO_SECONDS (20) of counting the power button is pressed
#     (QEMU monitor: system_powerdown) and the session freezes onto the stick;
#  3. PC B (UEFI/OVMF, -cpu Opteron_G4,+svm,+npt) boots the same stick and the
#     guest goes on counting where it stopped; the power button freezes it again.
# Consoles are shown live; logs: build/stick/demoA.log, demoB.log.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
# PC B is "another PC": Opteron_G4 under QEMU TCG needs -avx,-xsave or its
# 6.1 kernel hangs early in boot (TCG, not tabi); it is still x86-64-v2.
PC_B_CPU=${PC_B_CPU:-Opteron_G4,+svm,+npt,-avx,-xsave}
SECS=${DEMO_SECONDS:-20}
IMG=$OUT/demo.img
say() { printf '\n\033[1m[demo] %s\033[0m\n' "$*"; }
cd "$ROOT" || exit 1
[ -x build/tabi ] || { echo "demo: build/tabi is missing: run 'make tabi'" >&2; exit 1; }
counter() { pc_console "$1" | sed -n 's/.*counter=\([0-9]*\).*/\1/p' | tail -n1; }

say "1. authoring the stick: ./mkusb.sh --image $IMG (demo guest; no root, no loop devices)"
./mkusb.sh --image "$IMG" --size 1G || exit 1
sfdisk -l "$IMG" | sed -n '/^Device/,$p'

say "2. PC A: SeaBIOS, AMD EPYC (+SVM), the stick on USB (xhci). Power on."
PC_LIVE=1 pc_start A bios "EPYC,+svm,+npt" "$IMG"
pc_wait A "counter=$SECS( |\$)" 300 || { say "PC A: the guest did not count to $SECS; see $OUT/A.log"; pc_kill A; exit 1; }
say "PC A: pressing the power button (system_powerdown)"
pc_power A
if ! { pc_wait A "safe to remove" 300 && pc_wait_exit A 30; }; then
	say "PC A: the session did not freeze; see $OUT/A.log"; pc_kill A; exit 1
fi
a=$(counter A)
say "PC A: frozen at counter=$a, powered off. Pull the stick, walk to another PC..."

say "3. PC B: UEFI (OVMF), AMD Opteron_G4 (+SVM), the same stick. Power on."
PC_LIVE=1 pc_start B uefi "$PC_B_CPU" "$IMG"
if ! pc_wait B "counter=$((a + SECS / 2))( |\$)" 300; then
	say "PC B: the guest did not continue; see $OUT/B.log"; pc_kill B; exit 1
fi
b=$(pc_console B | sed -n 's/.*counter=\([0-9]*\).*/\1/p' | head -n1)
say "PC B: pressing the power button again"
pc_power B
pc_wait B "safe to remove" 300 && pc_wait_exit B 30
pc_kill B
cp "$OUT/A.log" "$OUT/demoA.log"; cp "$OUT/B.log" "$OUT/demoB.log"
say "what happened:"
echo "  - the stick was authored without root: $IMG"
echo "  - PC A (BIOS, EPYC) booted it; the guest counted to $a; the power button froze it onto the stick"
echo "  - PC B (UEFI, Opteron_G4) booted it; the guest resumed at counter=$b (it was $a): it went on where it was"
echo "  - the power button froze it again: the stick holds the session ($(debugfs -R 'ls /session' "$IMG?offset=$((264192 * 512))" 2>/dev/null | grep -o 'gen-[0-9]*\.tabi' | tail -n1))"
[ "$b" = $((a + 1)) ]
