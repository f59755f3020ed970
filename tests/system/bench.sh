#!/bin/sh
# Boot benchmark inside the nested host: tabi vs QEMU/KVM -M microvm and
# -M q35 with the same guest kernel/initrd, median of BENCH_RUNS (3) each.
# Prints ratios (tabi/microvm, tabi/q35); times are context, never a pass
# criterion. Exit non-zero only if a VMM failed to boot the guest.
# Then freeze/resume: tabi vs QEMU `migrate` to a file (raw and through zstd)
# and `-incoming` from it, for a 1 GiB guest holding 300 MiB of mixed data
# (tests/system/host/freeze_bench.sh): snapshot bytes, freeze and resume
# seconds as ratios tabi/QEMU (BENCH freeze ... lines).
#   tests/system/bench.sh        (BENCH_RUNS, BENCH_MEM=512M, BENCH_CPUS=1,
#                                 BENCH_PARTS=boot,freeze, BENCH_FREEZE_RUNS=4,
#                                 BENCH_FREEZE_MEM=1G, BENCH_FILL_MB=100)
set -u
OUTER_TIMEOUT=${OUTER_TIMEOUT:-2400}
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ -x "$ROOT/build/tabi" ] || echo "[bench] note: build/tabi missing: measuring the QEMU peers only"
sys_build tools || exit 1
log="$OUT/bench.log"
sys_data_disk "$OUT/bench.data.img" 2G
sys_log "bench: booting the nested host (log $log)"
outer_boot "$log" default \
	"tabi.script=bench tabi.bench_runs=${BENCH_RUNS:-3} tabi.bench_mem=${BENCH_MEM:-512M} tabi.bench_cpus=${BENCH_CPUS:-1} tabi.bench_parts=${BENCH_PARTS:-boot,freeze} tabi.fb_runs=${BENCH_FREEZE_RUNS:-4} tabi.fb_mem=${BENCH_FREEZE_MEM:-1G} tabi.fill_mb=${BENCH_FILL_MB:-100}" \
	-drive "file=$OUT/bench.data.img,format=raw,if=virtio" \
	-drive "file=$OUT/tools.img,format=raw,if=virtio,snapshot=on"
orc=$?
tr -d '\r' <"$log" | grep -a '^BENCH' | tee "$OUT/bench.results"
case ",${BENCH_PARTS:-boot,freeze}," in *,boot,*) want_boot=1;; *) want_boot=0;; esac
if [ $orc -ne 0 ] || grep -q 'failed rc=\|seconds=none' "$OUT/bench.results" || { [ $want_boot = 1 ] && ! grep -q '^BENCH median' "$OUT/bench.results"; }; then
	echo "[bench] FAILED (outer qemu rc=$orc); tail of $log:"; tr -d '\r' <"$log" | tail -n 30
	exit 1
fi
