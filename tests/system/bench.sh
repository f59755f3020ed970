#!/bin/sh
# Boot benchmark inside the nested host: tabi vs QEMU/KVM -M microvm and
# -M q35 with the same guest kernel/initrd, median of BENCH_RUNS (3) each.
# Prints ratios (tabi/microvm, tabi/q35); times are context, never a pass
# criterion. Exit non-zero only if a VMM failed to boot the guest.
#   tests/system/bench.sh        (BENCH_RUNS, BENCH_MEM=512M, BENCH_CPUS=1)
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ -x "$ROOT/build/tabi" ] || echo "[bench] note: build/tabi missing: measuring the QEMU peers only"
sys_build tools || exit 1
log="$OUT/bench.log"
sys_data_disk "$OUT/bench.data.img" 2G
sys_log "bench: booting the nested host (log $log)"
outer_boot "$log" default \
	"tabi.script=bench tabi.bench_runs=${BENCH_RUNS:-3} tabi.bench_mem=${BENCH_MEM:-512M} tabi.bench_cpus=${BENCH_CPUS:-1}" \
	-drive "file=$OUT/bench.data.img,format=raw,if=virtio" \
	-drive "file=$OUT/tools.img,format=raw,if=virtio,snapshot=on"
orc=$?
tr -d '\r' <"$log" | grep -a '^BENCH' | tee "$OUT/bench.results"
if [ $orc -ne 0 ] || grep -q 'failed rc=\|seconds=none' "$OUT/bench.results" || ! grep -q '^BENCH median' "$OUT/bench.results"; then
	echo "[bench] FAILED (outer qemu rc=$orc); tail of $log:"; tr -d '\r' <"$log" | tail -n 30
	exit 1
fi
