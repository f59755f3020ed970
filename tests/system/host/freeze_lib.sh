# Helpers for the freeze/resume groups (freeze.sh, journey.sh) and the freeze
# benchmark (freeze_bench.sh): tabi in the background with its stdin on a
# fifo (the guest console's input: commands, the Ctrl-A x escape), so the
# host can talk to the guest, send SIGTERM and time things. Sourced after
# lib.sh. No "#@ checks:" here: not a test group itself.

# fz_start ID TIMEOUT ARGS...: `tabi ARGS` in the background; stdin from the
# fifo $W/ID.in (held open on fd 3 until fz_end), console through _reader
# (so $W/ID.{out,guest,mark} as with vmm_run), exit code to $W/ID.rc, tabi's
# PID in $W/ID.pid, launch time (uptime) in $W/ID.start.
fz_start() {
	local id to i
	id=$1; to=$2; shift 2
	rm -f "$W/$id.out" "$W/$id.err" "$W/$id.rc" "$W/$id.guest" "$W/$id.timeout" \
		"$W/$id.mark" "$W/$id.start" "$W/$id.pid" "$W/$id.in"
	: >"$W/$id.out"; : >"$W/$id.guest"
	mkfifo "$W/$id.in"
	echo "HOST: [$id] start $(now)s: $(basename "${FZ_BIN:-tabi}") $*"
	now >"$W/$id.start"
	# busybox timeout execs the command in its own process: the PID sh -c
	# writes is tabi's.
	( sh -c 'echo $$ >"$0"; exec timeout -s KILL "$@"' "$W/$id.pid" "$to" "${FZ_BIN:-$TABI}" "$@" \
		<"$W/$id.in" 2>"$W/$id.err"; echo $? >"$W/$id.rc" ) | _reader "$id" &
	exec 3>"$W/$id.in"
	i=0; while [ ! -s "$W/$id.pid" ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
}
# deadline SECONDS: the uptime (whole seconds) SECONDS from now; before DL:
# true until then. Waits count real time, however slow the loop runs.
deadline() { awk -v t="$(now)" -v s="$1" 'BEGIN{printf "%d\n", t + s}'; }
before() { [ "$(now | cut -d. -f1)" -lt "$1" ]; }
fz_pid() { cat "$W/$1.pid" 2>/dev/null; }
fz_alive() { [ ! -e "$W/$1.rc" ]; }
# fz_end ID SECONDS: wait up to SECONDS for tabi to exit (KILL after that:
# $W/ID.timeout); closes the fifo; prints the exit code in the log.
fz_end() {
	local id i p dl
	id=$1; i=0; dl=$(deadline "$2")
	while [ ! -e "$W/$id.rc" ] && before "$dl"; do usleep 200000; done
	if [ ! -e "$W/$id.rc" ]; then
		echo "HOST: [$id] still running after ${2}s: killing it"
		: >"$W/$id.timeout"
		p=$(fz_pid "$id"); [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
		i=0; while [ ! -e "$W/$id.rc" ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
	fi
	exec 3>&-
	sleep 1   # let _reader drain the console
	echo "HOST: [$id] exit rc=$(vmm_rc "$id") at $(now)s"
	[ -s "$W/$id.err" ] && sed "s/^/  [$id stderr] /" "$W/$id.err" | grep -v '%  ' | head -n 20
	return 0
}
# fz_term ID SECONDS: SIGTERM (freeze) and wait; the elapsed seconds (from
# the signal to the exit) go to $W/ID.freeze_s.
fz_term() {
	local p t0
	p=$(fz_pid "$1")
	t0=$(now)
	echo "HOST: [$1] SIGTERM to $p at ${t0}s"
	[ -n "$p" ] && kill -TERM "$p"
	fz_end "$1" "$2"
	awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.2f\n", b - a}' >"$W/$1.freeze_s"
}
# fz_send ID LINE: types LINE on the guest console.
# In a subshell: a write to the fifo of a tabi that just died kills only
# that (SIGPIPE), not the script. (No `trap '' PIPE`: an ignored SIGPIPE is
# inherited and makes `yes | head` loop forever.)
fz_send() { fz_alive "$1" && ( printf '%s\n' "$2" >&3 ) 2>/dev/null; }
# fz_type ID BYTES: raw bytes (printf format) on the console, e.g. '\001x'.
fz_type() { fz_alive "$1" && ( printf "$2" >&3 ) 2>/dev/null; }
# fz_wait ID KEY=VALUE-PREFIX SECONDS: waits until the guest printed a line
# "GUEST: KEY=VALUE..." (anywhere in this run); fails early if tabi exited.
fz_wait() {
	local dl
	dl=$(deadline "$3")
	while before "$dl"; do
		grep -q "^$2" "$W/$1.guest" 2>/dev/null && return 0
		fz_alive "$1" || { sleep 1; grep -q "^$2" "$W/$1.guest" 2>/dev/null; return $?; }
		usleep 200000
	done
	grep -q "^$2" "$W/$1.guest" 2>/dev/null
}
# counters ID: "PID N" per counter line of this run, in order.
counters() { sed -n 's/^counter=\([0-9]*\):\([0-9]*\)@.*/\1 \2/p' "$W/$1.guest" 2>/dev/null; }
# clock_skew ID [LAST]: the smallest |guest epoch - host arrival time| among
# the last LAST (3) epoch lines of this run; empty if none.
clock_skew() {
	sed -n 's/^epoch=\([0-9]*\)@\([0-9]*\)$/\1 \2/p' "$W/$1.guest" 2>/dev/null | tail -n "${2:-3}" |
		awk '{d = $1 - $2; if (d < 0) d = -d; if (m == "" || d < m) m = d; s = s " " $1 - $2} END{if (m != "") print m " (guest-host:" s ")"}'
}
# stalls ID: kernel lockup/stall reports on this run's console.
stalls() { grep -E 'soft lockup|hard LOCKUP|self-detected stall|detected stall|rcu_sched|hung task|blocked for more than' "$W/$1.out" | head -n 3; }
# gens DIR: generation numbers present, oldest first.
gens() { ls "$1" 2>/dev/null | sed -n 's/^gen-0*\([0-9][0-9]*\)\.tabi$/\1/p' | sort -n; }
gen_file() { printf '%s/gen-%08d.tabi' "$1" "$2"; }
# dir_sum DIR: names, sizes, modes, mtimes and contents of every file in DIR.
dir_sum() { (cd "$1" 2>/dev/null && find . -type f | sort | while read -r f; do
	echo "$f $(stat -c '%s %a %Y' "$f") $(md5sum <"$f" | cut -d' ' -f1)"; done; ls -la) | md5sum | cut -d' ' -f1; }
# info_has DIR: checks `tabi snapshot info` names a generation, the CPU model,
# the memory size and a ratio; prints what is missing (empty = fine).
info_missing() {
	local o m
	o=$("$TABI" snapshot info "$1" 2>&1); m=""
	echo "$o" | sed 's/^/  [info] /' >&2
	echo "$o" | grep -q 'generation [0-9]' || m="$m generation"
	echo "$o" | grep -q 'cpu_model=' || m="$m cpu_model"
	echo "$o" | grep -q 'mem_bytes=[1-9]' || m="$m mem_bytes"
	echo "$o" | grep -q 'ratio [0-9]' || m="$m ratio"
	echo "$m"
}
# The disk round markers (same as the guest's freeze.sh).
marker() { yes "tabi-round-$1-0123456789abcdef" | head -c 65536; }
# rounds_in_file FILE N: rounds (1..N) whose marker is NOT in FILE.
rounds_missing() {
	local r bad
	r=1; bad=""
	while [ $r -le "$2" ]; do
		[ "$(dd if="$1" bs=65536 skip=$((16 * r)) count=1 2>/dev/null | md5)" = "$(marker $r | md5)" ] || bad="$bad $r"
		r=$((r + 1))
	done
	echo "$bad"
}
# flip_byte FILE OFFSET: XOR 0x01 into one byte.
flip_byte() {
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	b=$(( (b ^ 1) & 255 ))
	printf "\\$(printf '%03o' "$b")" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}
