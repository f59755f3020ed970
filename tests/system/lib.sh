# Sourced by tests/system/*.sh on the build machine (no KVM needed): builds the
# nested host and boots it in QEMU TCG emulating an AMD CPU with SVM.
SYS_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$SYS_DIR/../.." && pwd)
OUT=${SYS_OUT:-$ROOT/build/system}
. "$ROOT/rootfs/demo-guest/kmods.sh"

OUTER_CPU_DEFAULT=${OUTER_CPU_DEFAULT:-qemu64,+svm,+npt}
OUTER_MEM=${OUTER_MEM:-2048}
# One CPU in the nested host: with two, QEMU TCG (7.2) intermittently
# loses a cross-CPU interrupt in the SVM-nested host and both CPUs spin
# (soft lockups seen around VM creation and teardown). The guests still get
# several vCPUs; the nested host just time-shares them.
OUTER_SMP=${OUTER_SMP:-1}
OUTER_TIMEOUT=${OUTER_TIMEOUT:-900}   # per outer boot, seconds
OUTER_QEMU=${OUTER_QEMU:-qemu-system-x86_64}

sys_log() { echo "[system] $*"; }

# sys_build [tools]: guest initramfs, host initramfs (+ tools disk).
sys_build() {
	mkdir -p "$OUT"
	KV=$(kmods_kver) || return 1
	KERNEL=$(kmods_kernel "$KV")
	"$ROOT/rootfs/demo-guest/build.sh" "$OUT/guest.cpio.gz" || { echo "system: guest initramfs build failed" >&2; return 1; }
	"$SYS_DIR/build-host.sh" "$OUT/host.cpio.gz" "$OUT/guest.cpio.gz" || { echo "system: host initramfs build failed" >&2; return 1; }
	if [ "${1:-}" = tools ]; then sys_build_tools || return 1; fi
}

sys_build_tools() {
	q=$(command -v "$OUTER_QEMU")
	if [ ! -f "$OUT/tools.img" ] || [ "$q" -nt "$OUT/tools.img" ] || [ "$SYS_DIR/build-tools.sh" -nt "$OUT/tools.img" ]; then
		"$SYS_DIR/build-tools.sh" "$OUT/tools.img" || { echo "system: tools disk build failed" >&2; return 1; }
	fi
}

# sys_data_disk FILE SIZE: a fresh ext4 scratch disk labelled TABITEST.
sys_data_disk() {
	rm -f "$1"; truncate -s "$2" "$1"
	mke2fs -q -F -t ext4 -L TABITEST "$1" >/dev/null
}

# outer_boot LOG CPU APPEND [QEMU-ARGS...]: boots the nested host; console to
# LOG (and to stdout as well when SYS_LIVE=1). Returns QEMU's exit code, 124
# on timeout.
outer_boot() {
	log=$1; cpu=$2; app=$3; shift 3
	[ "$cpu" = default ] && cpu=$OUTER_CPU_DEFAULT
	set -- timeout -k 10 "$OUTER_TIMEOUT" "$OUTER_QEMU" -M q35 -cpu "$cpu" \
		-smp "$OUTER_SMP" -m "$OUTER_MEM" -accel tcg,thread=multi \
		-nographic -no-reboot -kernel "$KERNEL" -initrd "$OUT/host.cpio.gz" \
		-append "console=ttyS0 quiet $app" "$@"
	if [ "${SYS_LIVE:-0}" = 1 ]; then
		# Interactive: the console is the terminal (Ctrl-A X quits QEMU).
		"$@" 2>&1 | tee "$log"
		return 0
	fi
	"$@" </dev/null >"$log" 2>&1 &
	OUTER_PID=$!
	wait "$OUTER_PID"; r=$?
	OUTER_PID=""
	return $r
}

# Killing a harness script kills its outer QEMU too (timeout forwards TERM).
OUTER_PID=""
trap '[ -n "$OUTER_PID" ] && kill "$OUTER_PID" 2>/dev/null; exit 130' INT TERM HUP

# hdr FILE KEY: the values of "#@ KEY: ..." header lines of a host script.
hdr() { sed -n "s/^#@ $2:[[:space:]]*//p" "$1"; }
