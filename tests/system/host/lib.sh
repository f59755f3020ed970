# Sourced by the host halves of the system tests, inside the nested host.
# What tabi is expected to do lives in the variables below: adjust them here
# when `tabi --help` documents something else.
EXIT_POWEROFF=${EXIT_POWEROFF:-3}   # guest `poweroff -f`
EXIT_REBOOT=${EXIT_REBOOT:-4}       # guest `reboot -f`
EXIT_FROZEN=${EXIT_FROZEN:-0}       # SIGTERM -> freeze committed
DISK_RO_SUFFIX=${DISK_RO_SUFFIX:-,ro} # --disk FILE$DISK_RO_SUFFIX is read-only
CLOCK_TOLERANCE=${CLOCK_TOLERANCE:-5} # seconds guest date may differ from host
VMM_TIMEOUT=${VMM_TIMEOUT:-180}     # seconds before a hung VMM is killed

TABI=${TABI:-/bin/tabi}
QEMU=${QEMU:-/tools/bin/qemu}
GUEST_KERNEL=/guest/vmlinuz
GUEST_INITRD=/guest/initrd.gz
GUEST_CMDLINE="console=ttyS0 quiet"
TABI_VMM=${TABI_VMM:-tabi}
export DISK_RO_SUFFIX QEMU

# Work directory: on the ext4 scratch disk when the outer QEMU gave one
# (like the stick's data partition), else tmpfs.
if grep -q " /data " /proc/mounts; then W=/data/work; else W=/tmp/work; fi
mkdir -p "$W"
CR=$(printf '\r')

# ---- results ---------------------------------------------------------------
# Each check prints exactly one line: CHECK <name> PASS | FAIL <reason> | SKIP <reason>
pass() { echo "CHECK $1 PASS"; }
fail() { local n; n=$1; shift; echo "CHECK $n FAIL $*"; }
skip() { n=$1; shift; echo "CHECK $n SKIP $*"; }
# check NAME "REASON IF FALSE" TEST-COMMAND...
check() { local n r; n=$1; r=$2; shift 2; if "$@"; then pass "$n"; else fail "$n" "$r"; fi; }
# check_eq NAME GOT WANT [WHAT]
check_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "${4:-value}: got '$2', want '$3'"; fi; }

is_tabi() { [ "$TABI_VMM" = tabi ]; }
# need_tabi NAME...: SKIP these checks unless the VMM under test is tabi.
need_tabi() { local n; is_tabi && return 0; for n in "$@"; do skip "$n" "needs tabi (vmm=$TABI_VMM)"; done; return 1; }

have_vmm() {
	if is_tabi; then
		[ -x "$TABI" ] && return 0
		echo "HOST: $TABI missing: build/tabi was not built when the host initramfs was made"
	else
		[ -x "$QEMU" ] && return 0
		echo "HOST: $QEMU missing: no tools disk (TABITOOLS) attached"
	fi
	return 1
}

now() { cut -d' ' -f1 /proc/uptime; }     # seconds since host boot, 10 ms

# ---- guest output ----------------------------------------------------------
# guest_val ID KEY: last value the guest printed as "GUEST: KEY=VALUE".
guest_val() { sed -n "s/^$2=\(.*\)@[0-9]*\$/\1/p" "$W/$1.guest" 2>/dev/null | tail -n1; }
# guest_time ID KEY: host `date +%s` when that line arrived.
guest_time() { sed -n "s/^$2=.*@\([0-9]*\)\$/\1/p" "$W/$1.guest" 2>/dev/null | tail -n1; }
vmm_rc() { cat "$W/$1.rc" 2>/dev/null || echo none; }
vmm_err() { cat "$W/$1.err" 2>/dev/null; }
vmm_timed_out() { [ -e "$W/$1.timeout" ]; }

# Tees the console to the serial log ("  [ID] line") and to $W/ID.out, records
# GUEST: lines with the host time they arrived, and the time of the first line
# matching $MARK (if set) in $W/ID.mark.
_reader() {
	local id l
	id=$1
	while IFS= read -r l; do
		l=${l%$CR}
		printf '%s\n' "$l" >>"$W/$id.out"
		case "$l" in *"GUEST: "*) printf '%s@%s\n' "${l#*GUEST: }" "$(date +%s)" >>"$W/$id.guest";; esac
		if [ -n "${MARK:-}" ] && [ ! -e "$W/$id.mark" ]; then
			case "$l" in *"$MARK"*) now >"$W/$id.mark";; esac
		fi
		[ -n "${QUIET_CONSOLE:-}" ] || printf '  [%s] %s\n' "$id" "$l"
	done
}

# vmm_run ID TIMEOUT ARGS...: runs `tabi ARGS` (or its QEMU equivalent for
# `run` when vmm=qemu), stdin from /dev/null. Leaves $W/ID.{out,err,rc,guest}
# and $W/ID.timeout if it had to be killed; returns the exit code.
vmm_run() {
	local id to v rc t0
	id=$1; to=$2; shift 2
	rm -f "$W/$id.out" "$W/$id.err" "$W/$id.rc" "$W/$id.guest" "$W/$id.timeout" "$W/$id.mark" "$W/$id.start"
	: >"$W/$id.out"
	echo "HOST: [$id] start $(now)s: ${TABI_VMM} $*"
	t0=$(date +%s)
	if is_tabi; then v=$TABI; else v=/tests/host/tabi-qemu.sh; fi
	now >"$W/$id.start"
	{ timeout -s KILL "$to" "$v" "$@" </dev/null 2>"$W/$id.err"; echo $? >"$W/$id.rc"; } | _reader "$id"
	rc=$(vmm_rc "$id")
	case "$rc" in [0-9]*) ;; *) rc=255;; esac
	if [ $(( $(date +%s) - t0 )) -ge "$to" ]; then : >"$W/$id.timeout"; echo "HOST: [$id] TIMEOUT after ${to}s"; fi
	echo "HOST: [$id] exit rc=$rc at $(now)s"
	[ -s "$W/$id.err" ] && sed "s/^/  [$id stderr] /" "$W/$id.err" | head -n 20
	return "$rc"
}

# guest_run ID TEST TIMEOUT EXTRA-TABI-ARGS...: boots the test guest with
# tabi.test=TEST and the standard kernel, initrd and session $W/ID.session.
guest_run() {
	local id t to
	id=$1; t=$2; to=$3; shift 3
	vmm_run "$id" "$to" run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE tabi.test=$t" --session "$W/$id.session" "$@"
}

# The disk pattern (same as the guest's tests/lib.sh).
pattern() { yes "tabi-${1}-0123456789abcdef" | head -c "$2"; }
md5() { md5sum | cut -d' ' -f1; }
