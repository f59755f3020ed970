# Host half of the pull (fault-injection) test, run inside the nested host by
# tests/system/pull.sh (no "#@ checks:" header: tests/system/run.sh does not
# run it as a group). Guest half: rootfs/demo-guest/tests/pull.sh.
# /data (the outer QEMU's scratch disk) plays the stick's data partition:
# session /data/s, guest disk /data/disk.img. Kernel command line:
#   pull.mode=cycle|final  cycle: verify, then freeze/resume cycles until the
#                          build machine kills the outer QEMU ("pull");
#                          final: verify, damaged generations, power off
#   pull.cycles=N  freeze/resume cycles in cycle mode (default 3)
#   pull.run=S     seconds the guest runs between freezes (default 2)
#   pull.mb=MB     random buffer in guest memory (default 8)
#   pull.mem=SIZE  guest RAM (default 128M)
#   pull.md5=MD5   the guest buffer's md5 (printed by the guest at cold boot)
# Every boot first verifies what the last pull left: `tabi snapshot verify`,
# resume (or cold boot when there is no generation), two guest steps, freeze,
# `tabi snapshot verify`; reported as "PULL: verify ..." lines that the
# driver checks against what it saw before the kill. Then phase markers
#   PULL: phase=resuming|running|freezing|committing|exited|frozen c=N t=UPTIME ...
# (committing: the new generation's file appeared, tabi has not exited yet).
. /tests/host/lib.sh
# Incremental generations compare what they take from older ones with the
# guest's memory: dirty tracking that missed a write fails the freeze.
export TABI_CHECK_INCREMENTAL=1
# Each commit holds 0.3 s between its rename and the directory fsync
# (snapshot/writer.c): pulls aimed at "committing" land there.
export TABI_FAULT_COMMIT_PAUSE_MS=300
have_vmm || exit 1
W=/tmp/pw; mkdir -p "$W"
S=/data/s; D=/data/disk.img
MODE=cycle; CYCLES=3; RUN_S=2; MB=8; MEM=128M; M0=""
for w in $(cat /proc/cmdline); do
	case "$w" in
	pull.mode=*) MODE=${w#*=};;
	pull.cycles=*) CYCLES=${w#*=};;
	pull.run=*) RUN_S=${w#*=};;
	pull.mb=*) MB=${w#*=};;
	pull.mem=*) MEM=${w#*=};;
	pull.md5=*) M0=${w#*=};;
	esac
done
grep -q " /data " /proc/mounts || { echo "PULL: error=no_data_disk"; exit 1; }
info() { echo "PULL: $*"; }
# Phase markers: only in the freeze/resume cycles (the build machine plans
# its kill points from the first one); elsewhere "PULL: step=...".
MARKS=0
mark() { local p; p=$1; shift; if [ $MARKS = 1 ]; then echo "PULL: phase=$p t=$(now) $*"; else echo "PULL: step=$p t=$(now) $*"; fi; }

# ---- tabi in the background, stdin on a fifo (as freeze_lib.sh) ---------------
pl_start() {
	local id i
	id=$1; shift
	rm -f "$W/$id".*
	: >"$W/$id.out"; : >"$W/$id.guest"
	mkfifo "$W/$id.in"
	( sh -c 'echo $$ >"$0"; exec timeout -s KILL 300 "$@"' "$W/$id.pid" "$TABI" "$@" \
		<"$W/$id.in" 2>"$W/$id.err"; echo $? >"$W/$id.rc" ) | _reader "$id" &
	exec 3>"$W/$id.in"
	i=0; while [ ! -s "$W/$id.pid" ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
}
pl_alive() { [ ! -e "$W/$1.rc" ]; }
pl_end() {
	local id i
	id=$1; i=0
	while [ ! -e "$W/$id.rc" ] && [ $i -lt $(($2 * 10)) ]; do usleep 100000; i=$((i + 1)); done
	if [ ! -e "$W/$id.rc" ]; then
		info "hung=$id"; kill -KILL "$(cat "$W/$id.pid")" 2>/dev/null
		i=0; while [ ! -e "$W/$id.rc" ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
	fi
	exec 3>&-
	usleep 300000
	grep -v '%  ' "$W/$id.err" | sed "s/^/  [$id stderr] /" | head -n 10
}
pl_rc() { cat "$W/$1.rc" 2>/dev/null || echo none; }
pl_send() { pl_alive "$1" && ( printf '%s\n' "$2" >&3 ) 2>/dev/null; }
# nchk ID: chk lines so far; lastn/firstn ID: counter lines.
nchk() { grep -c '^chk=' "$W/$1.guest" 2>/dev/null; }
lastn() { sed -n 's/^n=\([0-9]*\)@.*/\1/p' "$W/$1.guest" | tail -n1; }
firstn() { sed -n 's/^n=\([0-9]*\)@.*/\1/p' "$W/$1.guest" | head -n1; }
# wait_chk ID COUNT SECONDS: until the guest printed COUNT chk lines (and the
# n line after the last); fails if tabi exits first.
wait_chk() {
	local i
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		[ "$(nchk "$1")" -ge "$2" ] && [ "$(grep -c '^n=' "$W/$1.guest")" -ge "$2" ] && return 0
		pl_alive "$1" || return 1
		usleep 100000; i=$((i + 1))
	done
	return 1
}
# bad_chks ID: chk lines whose disk value differs from memory, whose md5 is
# not M0 (when known) or whose history slots are off (as "N:D:MD5:H,...");
# empty when all agree.
bad_chks() {
	sed -n 's/^chk=\([^@]*\)@.*/\1/p' "$W/$1.guest" | awk -F: -v m="$M0" \
		'$1 != $2 || (m != "" && $3 != m) || $4 != "ok" {printf "%s%s", s, $0; s=","}'
}
gens() { ls "$S" 2>/dev/null | sed -n 's/^gen-0*\([0-9][0-9]*\)\.tabi$/\1/p' | sort -n; }
gen_file() { printf '%s/gen-%08d.tabi' "$S" "$1"; }
newest() { gens | tail -n1; }
flip_byte() {
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	b=$(( (b ^ 1) & 255 ))
	printf "\\$(printf '%03o' "$b")" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}

# freeze ID C: SIGTERM with phase markers; a watcher marks "committing" when a
# generation newer than the one before appears and "exited" when tabi has
# exited (then "frozen" with its exit code). rc in ID.rc.
freeze() {
	local id c g0 wp
	id=$1; c=$2
	g0=$(newest); g0=${g0:-0}
	mark freezing "c=$c n=$(lastn "$id") gen_before=$g0"
	( cm=0
	while [ ! -e "$W/$id.rc" ]; do
		g=$(newest)
		if [ $cm = 0 ] && [ "${g:-0}" -gt "$g0" ]; then mark committing "c=$c gen=$g"; cm=1; fi
		usleep 20000
	done
	mark exited "c=$c" ) &
	wp=$!
	kill -TERM "$(cat "$W/$id.pid")"
	pl_end "$id" 200
	wait "$wp" 2>/dev/null
	mark frozen "c=$c rc=$(pl_rc "$id") n=$(lastn "$id") gen=$(newest)"
}

# ---- verify what the last pull left ------------------------------------------
info "mode=$MODE boot=$TABI_PHASE gens=$(gens | tr '\n' ',') files=$(ls -a "$S" 2>/dev/null | grep -v '^\.\.\?$' | tr '\n' ',')"
ls -la "$S" 2>/dev/null | sed 's/^/  [ls] /'
if [ -z "$(gens)" ]; then
	[ -f "$D" ] || truncate -s 64M "$D"
	info "cold_boot"
	pl_start v0 run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE tabi.test=pull pull.mb=$MB" --mem "$MEM" --cpus 1 \
		--disk "$D" --session "$S"
	to=240
else
	"$TABI" snapshot verify "$S" >"$W/vb.out" 2>&1; vrc=$?
	sed 's/^/  [verify] /' "$W/vb.out"
	info "verify_before rc=$vrc"
	pl_start v0 resume --session "$S"
	to=120
fi
if ! wait_chk v0 2 $to; then
	pl_end v0 5
	info "verify_resume=failed rc=$(pl_rc v0) err=$(grep -v '%  ' "$W/v0.err" | head -n1 | tr ' ' _)"
	exit 1
fi
[ -n "$M0" ] || M0=$(guest_val v0 buf_md5)
info "verify_resume=ok n_first=$(firstn v0) chk_first=$(sed -n 's/^chk=\([^@]*\)@.*/\1/p' "$W/v0.guest" | head -n1) bad_chk=$(bad_chks v0)"
freeze v0 0
"$TABI" snapshot verify "$S" >"$W/va.out" 2>&1; vrc=$?
sed 's/^/  [verify] /' "$W/va.out"
info "verify_freeze rc=$(pl_rc v0) n=$(lastn v0) gen=$(newest)"
info "verify_after rc=$vrc"
[ "$(pl_rc v0)" = "$EXIT_FROZEN" ] || exit 1

# ---- cycle mode: freeze/resume until pulled -----------------------------------
if [ "$MODE" = cycle ]; then
	MARKS=1
	c=1
	while [ $c -le "$CYCLES" ]; do
		mark resuming "c=$c gen=$(newest)"
		pl_start "L$c" resume --session "$S"
		if ! wait_chk "L$c" 1 120; then
			pl_end "L$c" 5
			info "loop_resume=failed c=$c rc=$(pl_rc "L$c")"
			exit 1
		fi
		mark running "c=$c n=$(firstn "L$c")"
		sleep "$RUN_S"
		freeze "L$c" "$c"
		[ "$(pl_rc "L$c")" = "$EXIT_FROZEN" ] || exit 1
		c=$((c + 1))
	done
	info "cycles_done"
	exit 0
fi

# ---- final mode: damaged generations, then power off -----------------------
REPORTED=""
pass() { echo "CHECK $1 PASS"; }
fail() { local n; n=$1; shift; echo "CHECK $n FAIL $*"; }
# One more freeze so that this boot knows the counter of the two newest
# generations: GN[gen]=n, as lines "gen n" in $W/gn.
echo "$(newest) $(lastn v0)" >"$W/gn"
gen_n() { awk -v g="$1" '$1 == g {print $2}' "$W/gn" | tail -n1; }
cycle_once() {   # ID: resume, 2 steps, freeze; records the new generation
	pl_start "$1" resume --session "$S"
	wait_chk "$1" 2 120
	freeze "$1" x
	[ "$(pl_rc "$1")" = "$EXIT_FROZEN" ] && echo "$(newest) $(lastn "$1")" >>"$W/gn"
}
cycle_once f0
info "gens=$(gens | tr '\n' ',') known: $(tr '\n' ',' <"$W/gn")"
# damage KIND: damages the newest generation, checks verify says so, resume
# names it on one stderr line and resumes the previous one (counter and disk
# as frozen there), then freezes again.
damage() {
	local k g p ng np f sz vrc lines note nf bad
	k=$1; g=$(newest); p=$(gens | tail -n2 | head -n1)
	if [ -z "$g" ] || [ "$g" = "$p" ]; then fail "pull_dmg_$k" "fewer than 2 generations: $(gens | tr '\n' ' ')"; cycle_once "r$k"; return; fi
	ng=$(gen_n "$g"); np=$(gen_n "$p"); f=$(gen_file "$g"); sz=$(stat -c %s "$f")
	case "$k" in
	flip_head) flip_byte "$f" 8;;
	flip_mid) flip_byte "$f" $((sz / 2));;
	flip_tail) flip_byte "$f" $((sz - 8));;
	trunc_half) truncate -s $((sz / 2)) "$f";;
	trunc_last) truncate -s $((sz - 1)) "$f";;
	trunc_zero) truncate -s 0 "$f";;
	esac
	info "damage=$k gen=$g size=$sz prev=$p n_gen=$ng n_prev=$np"
	"$TABI" snapshot verify "$S" >"$W/vd.out" 2>&1; vrc=$?
	sed 's/^/  [verify] /' "$W/vd.out"
	pl_start "d$k" resume --session "$S"
	wait_chk "d$k" 2 120
	# Lines about generations on stderr before the freeze (progress lines
	# such as "resuming done" do not count): exactly one, naming $g.
	lines=$(grep -c 'generation' "$W/d$k.err")
	note=$(grep "generation $g" "$W/d$k.err" | head -n1)
	nf=$(firstn "d$k"); bad=$(bad_chks "d$k")
	freeze "d$k" x
	local frc; frc=$(pl_rc "d$k")
	[ "$frc" = "$EXIT_FROZEN" ] && echo "$(newest) $(lastn "d$k")" >>"$W/gn"
	"$TABI" snapshot verify "$S" >"$W/vd2.out" 2>&1; local vrc2=$?
	local why=""
	[ "$vrc" = 1 ] || why="$why verify exit $vrc (want 1: $(head -n1 "$W/vd.out"));"
	[ "$lines" = 1 ] && [ -n "$note" ] || why="$why $lines stderr lines about generations (want 1 naming generation $g): $(grep 'generation' "$W/d$k.err" | head -n2 | tr '\n' '|');"
	[ -n "$nf" ] && [ "$nf" = $((np + 1)) ] || why="$why first counter after resume '${nf}' (want $((np + 1)): previous generation $p froze at $np, damaged $g at $ng);"
	[ -z "$bad" ] || why="$why disk/memory mismatch in chk lines: $bad;"
	[ "$frc" = "$EXIT_FROZEN" ] || why="$why freeze after the fallback exit $frc;"
	[ "$vrc2" = 0 ] || why="$why verify after that freeze exit $vrc2;"
	if [ -z "$why" ]; then pass "pull_dmg_$k"; echo "HOST: note: $note"; else fail "pull_dmg_$k" "$why"; fi
}
for k in flip_head flip_mid flip_tail trunc_half trunc_last trunc_zero; do damage "$k"; done
# base.gen (the newest generation wholly folded into the disk image, a hint
# written by rename): damaged or stray, the newest generation still resumes
# with its disk intact (or tabi refuses with one line).
base_damage() {
	local k g ng nf bad frc why lines
	k=$1; g=$(newest); ng=$(gen_n "$g")
	if [ ! -e "$S/base.gen" ] && [ "$k" != base_tmp ]; then
		echo "CHECK pull_dmg_$k SKIP no base.gen in the session"; return
	fi
	info "damage=$k base.gen='$(cat "$S/base.gen" 2>/dev/null | tr -d '\n')' newest=$g n=$ng"
	case "$k" in
	base_flip) flip_byte "$S/base.gen" 0;;
	base_big) echo 99999999 >"$S/base.gen";;
	base_empty) : >"$S/base.gen";;
	base_tmp) head -c 100 /dev/urandom >"$S/base.gen.tmp";;
	esac
	pl_start "d$k" resume --session "$S"
	wait_chk "d$k" 2 120
	nf=$(firstn "d$k"); bad=$(bad_chks "d$k")
	lines=$(grep -v 'resuming done\|TSC rate\|^$' "$W/d$k.err" | grep -c '')
	freeze "d$k" x
	frc=$(pl_rc "d$k")
	[ "$frc" = "$EXIT_FROZEN" ] && echo "$(newest) $(lastn "d$k")" >>"$W/gn"
	why=""
	if [ -z "$nf" ] && [ "$frc" = 1 ] && [ "$(grep -c '' "$W/d$k.err")" = 1 ]; then
		echo "CHECK pull_dmg_$k PASS"; info "refused: $(cat "$W/d$k.err")"; return
	fi
	[ "$nf" = $((ng + 1)) ] || why="$why first counter '${nf}' want $((ng + 1));"
	[ -z "$bad" ] || why="$why disk/memory mismatch (n:disk:md5:history): $bad;"
	[ "$frc" = "$EXIT_FROZEN" ] || why="$why freeze exit $frc;"
	if [ -z "$why" ]; then pass "pull_dmg_$k"; else fail "pull_dmg_$k" "$why"; fi
}

# A torn temporary generation (as a pull during a write leaves): ignored.
g=$(newest); ng=$(gen_n "$g")
head -c 1048576 /dev/urandom >"$S/.gen-$(printf %08d $((g + 1))).tabi.tmp"
"$TABI" snapshot verify "$S" >"$W/vt.out" 2>&1; vrc=$?
pl_start dtmp resume --session "$S"
wait_chk dtmp 2 120
nf=$(firstn dtmp); bad=$(bad_chks dtmp); lines=$(grep -c 'generation' "$W/dtmp.err")
freeze dtmp x
[ "$(pl_rc dtmp)" = "$EXIT_FROZEN" ] && echo "$(newest) $(lastn dtmp)" >>"$W/gn"
left=$(ls -a "$S" | grep -c '\.tmp$')
why=""
[ "$vrc" = 0 ] || why="$why verify exit $vrc (want 0);"
[ "$nf" = $((ng + 1)) ] || why="$why first counter '${nf}' want $((ng + 1));"
[ -z "$bad" ] && [ "$lines" = 0 ] || why="$why mismatches '$bad', $lines stderr lines about generations (want 0);"
[ "$(pl_rc dtmp)" = "$EXIT_FROZEN" ] && [ "$left" = 0 ] || why="$why freeze exit $(pl_rc dtmp), .tmp files left $left;"
if [ -z "$why" ]; then pass pull_dmg_stray_tmp; else fail pull_dmg_stray_tmp "$why"; fi

# Harmless ones first: a base.gen that claims too much corrupts the disk for
# every later check (the power-off checks below too).
for k in base_tmp base_empty base_flip base_big; do base_damage "$k"; done

# ---- power off: the session ends, its writes folded into the disk image ------
pl_start fin resume --session "$S"
wait_chk fin 2 120
pl_send fin off
pl_end fin 120
last=$(lastn fin); bad=$(bad_chks fin)
disk=$(dd if="$D" bs=4096 skip=8 count=1 2>/dev/null | tr -d '\000' | sed -n 's/^pull-n=\([0-9]*\)$/\1/p')
left=$(gens | tr '\n' ' ')
info "final rc=$(pl_rc fin) last_n=$last disk=$disk gens_left=$left"
c=0; [ "$(pl_rc fin)" = "$EXIT_POWEROFF" ] && [ -z "$left" ] && [ -z "$bad" ] && c=1
check pull_poweroff "rc=$(pl_rc fin) (want $EXIT_POWEROFF), generations left '$left', mismatches '$bad'" [ $c = 1 ]
check pull_disk_folded "disk image holds counter '$disk', guest's last was '$last'" [ -n "$last" -a "$disk" = "$last" ]
exit 0
