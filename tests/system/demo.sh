#!/bin/sh
# The demo, until the stick replaces it: builds tabi and the demo guest, boots
# the nested host (QEMU TCG emulating an AMD CPU with SVM, KVM inside) and runs
# the demo guest under tabi for DEMO_SECONDS (35), console live.
#   tests/system/demo.sh [--vmm qemu]   (qemu: the guest under QEMU/KVM
#                                       instead, e.g. before tabi builds)
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
VMM=tabi
[ "${1:-}" = --vmm ] && VMM=${2:-tabi}
[ "${1:-}" = --vmm=qemu ] && VMM=qemu
say() { echo "[demo] $*"; }
cd "$ROOT" || exit 1
tools=""
if [ "$VMM" = tabi ]; then
	say "building tabi (make tabi)..."
	mkdir -p "$ROOT/build"
	make -s --no-print-directory tabi >"$ROOT/build/demo-make.log" 2>&1 || {
		echo "demo: 'make tabi' failed (see build/demo-make.log); 'tests/system/demo.sh --vmm qemu' shows the guest under QEMU" >&2
		tail -n 20 "$ROOT/build/demo-make.log" >&2; exit 1; }
else
	tools=tools
fi
say "building the demo guest (Debian kernel $(kmods_kver), busybox initramfs, virtio modules)..."
say "building the nested host initramfs (KVM modules, tabi, the guest)..."
sys_build $tools || exit 1
sys_data_disk "$OUT/demo.data.img" 1G
drives="-drive file=$OUT/demo.data.img,format=raw,if=virtio"
[ -n "$tools" ] && drives="$drives -drive file=$OUT/tools.img,format=raw,if=virtio,snapshot=on"
say "booting the nested host: QEMU TCG, -cpu $OUTER_CPU_DEFAULT, Debian kernel, KVM as modules..."
say "(console below; type into the guest's shell if you like; Ctrl-A X aborts QEMU)"
t0=$(date +%s)
# shellcheck disable=SC2086
SYS_LIVE=1 outer_boot "$OUT/demo.log" default "tabi.script=demo tabi.vmm=$VMM tabi.demo_seconds=${DEMO_SECONDS:-35}" $drives
stty sane 2>/dev/null
if grep -aq '^TABI-HOST-DONE' "$OUT/demo.log"; then
	say "done in $(( $(date +%s) - t0 ))s; the whole console is in $OUT/demo.log"
else
	say "the nested host did not finish; see $OUT/demo.log" >&2
	exit 1
fi
