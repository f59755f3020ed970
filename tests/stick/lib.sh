# Sourced by tests/stick/*.sh: boots a stick image as USB storage in a QEMU
# "PC" (TCG, AMD CPU with SVM so KVM works inside), with its serial console and
# its monitor on FIFOs, so a script can watch the console, type into it and
# press the power button (system_powerdown).
STICK_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$STICK_DIR/../.." && pwd)
OUT=${STICK_OUT:-$ROOT/build/stick}
PC_MEM=${PC_MEM:-1536}
# One CPU per QEMU "PC": see OUTER_SMP in tests/system/lib.sh.
PC_SMP=${PC_SMP:-1}
QEMU=${QEMU:-qemu-system-x86_64}
OVMF_DIR=${OVMF_DIR:-/usr/share/OVMF}
mkdir -p "$OUT"
. "$ROOT/rootfs/demo-guest/kmods.sh"

now() { date +%s.%N | cut -c1-14; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# pc_start NAME FIRMWARE CPU IMAGE: FIRMWARE is bios, uefi or secboot.
# Console -> $OUT/NAME.log (also live on stdout with PC_LIVE=1); type with
# pc_type NAME TEXT; press the power button with pc_power NAME.
# No display adapter: under TCG a framebuffer console scrolls megabytes per
# line, and the host's console tee (screen + serial) then stalls tabi's
# output for minutes on a busy build machine; the serial line is the
# console the tests read anyway.
pc_start() {
	_n=$1; _fw=$2; _cpu=$3; _img=$4
	_p=$OUT/$_n
	rm -f "$_p.log" "$_p.ser.in" "$_p.ser.out" "$_p.mon.in" "$_p.mon.out" "$_p.vars" "$_p.rc"
	mkfifo "$_p.ser.in" "$_p.ser.out" "$_p.mon.in" "$_p.mon.out"
	set -- -M q35 -cpu "$_cpu" -smp "$PC_SMP" -m "$PC_MEM" -accel tcg,thread=multi \
		-display none -vga none -no-reboot \
		-chardev pipe,id=ser0,path="$_p.ser" -serial chardev:ser0 \
		-chardev pipe,id=mon0,path="$_p.mon" -mon chardev=mon0,mode=readline \
		-device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file="$_img" \
		-device usb-storage,bus=xhci.0,drive=stick,removable=on,bootindex=0
	case "$_fw" in
	bios) ;;
	uefi)
		cp "$OVMF_DIR/OVMF_VARS_4M.fd" "$_p.vars"
		set -- "$@" -drive if=pflash,format=raw,readonly=on,file="$OVMF_DIR/OVMF_CODE_4M.fd" \
			-drive if=pflash,format=raw,file="$_p.vars";;
	secboot)
		cp "$OVMF_DIR/OVMF_VARS_4M.ms.fd" "$_p.vars"
		set -- "$@" -M q35,smm=on -global driver=cfi.pflash01,property=secure,value=on \
			-drive if=pflash,format=raw,readonly=on,file="$OVMF_DIR/OVMF_CODE_4M.secboot.fd" \
			-drive if=pflash,format=raw,file="$_p.vars";;
	*) echo "pc_start: firmware $_fw?" >&2; return 1;;
	esac
	: >"$_p.log"
	if [ "${PC_STAMP:-0}" = 1 ]; then
		# Each line prefixed by its arrival time (for the benchmark).
		: >"$_p.stamped"
		( while IFS= read -r l; do printf '%s %s\n' "$(now)" "$l" >>"$_p.stamped"; printf '%s\n' "$l" >>"$_p.log"; done <"$_p.ser.out" ) &
	elif [ "${PC_LIVE:-0}" = 1 ]; then
		( tr -d '\r' <"$_p.ser.out" | tee -a "$_p.log" ) &
	else
		cat "$_p.ser.out" >>"$_p.log" &
	fi
	cat "$_p.mon.out" >"$_p.monlog" &
	# QEMU opens the pipes read-write; keep our ends open so writes never block.
	now >"$_p.t0"
	# (the subshell's stderr: the shell's "Killed" when a test pulls the plug)
	( "$QEMU" "$@" 2>"$_p.qemu.err" & echo $! >"$_p.pid"; wait $!; echo $? >"$_p.rc" ) 2>/dev/null &
}

# pc_running NAME
pc_running() { [ ! -e "$OUT/$1.rc" ]; }

# pc_wait NAME REGEX SECONDS: waits until the console shows REGEX (grep -E);
# fails on timeout or when the PC stops first.
pc_wait() {
	_e=$(( $(date +%s) + $3 ))
	while [ "$(date +%s)" -lt $_e ]; do
		tr -d '\r' <"$OUT/$1.log" | grep -aEq -- "$2" && return 0
		pc_running "$1" || { sleep 0.5; tr -d '\r' <"$OUT/$1.log" | grep -aEq -- "$2"; return; }
		sleep 0.5
	done
	return 1
}

# pc_wait_exit NAME SECONDS: waits for QEMU to exit (the PC powered off).
pc_wait_exit() {
	_e=$(( $(date +%s) + $2 ))
	while pc_running "$1" && [ "$(date +%s)" -lt $_e ]; do sleep 0.5; done
	! pc_running "$1"
}

pc_type() { printf '%b' "$2" >"$OUT/$1.ser.in"; }
pc_power() { echo system_powerdown >"$OUT/$1.mon.in"; }

# pc_kill NAME: pulls the plug.
pc_kill() {
	pc_running "$1" || return 0
	echo quit >"$OUT/$1.mon.in" 2>/dev/null
	pc_wait_exit "$1" 10 && return 0
	kill "$(cat "$OUT/$1.pid")" 2>/dev/null
	pc_wait_exit "$1" 10
}

# pc_console NAME: the console so far, without carriage returns.
pc_console() { tr -d '\r' <"$OUT/$1.log"; }
# pc_val NAME KEY: the last "GUEST: KEY=VALUE" value.
pc_val() { pc_console "$1" | sed -n "s/.*GUEST: $2=\([^ ]*\).*/\1/p" | tail -n1; }

# pc_keys NAME KEY...: types on the PC's keyboard (QEMU sendkey names: a-z,
# 0-9, ret, spc, ctrl-a, ...): the screen console (/dev/tty1) path, which is
# what a user at a real PC types into.
pc_keys() {
	_n=$1; shift
	for _k in "$@"; do echo "sendkey $_k" >"$OUT/$_n.mon.in"; sleep 0.2; done
}
# pc_word NAME WORD: types WORD and Enter on the keyboard.
pc_word() {
	_w=$2; _l=""
	while [ -n "$_w" ]; do _r=${_w#?}; _l="$_l ${_w%"$_r"}"; _w=$_r; done
	# shellcheck disable=SC2086
	pc_keys "$1" $_l ret
}
