#!/bin/sh
# Pull-safety fault injection: "pulls the stick" (kill -9 of the outer QEMU)
# at seeded random moments while tabi runs, freezes and resumes a guest in the
# nested host, and checks that every next boot resumes a committed generation
# whose guest memory and disk agree.
#   tests/system/pull.sh
# Env: PULL_SEED (default: random, printed), PULL_POINTS (default 20),
#      PULL_MB (guest random buffer, MiB, default 8), SYS_OUT (build outputs
#      and logs, default build/pull).
# Host half: tests/system/host/pull_host.sh; guest half:
# rootfs/demo-guest/tests/pull.sh.
#
# One ext4 scratch disk plays the stick's data partition across all boots.
# Its QEMU drive uses cache=writeback (QEMU's default): killing QEMU loses
# what the nested host kernel had not yet handed to the virtual disk (its
# page cache, queued requests); what QEMU had already written to the image
# file survives in the build machine's page cache. For a killed *process* any
# cache mode behaves the same (cache=unsafe only differs if the build machine
# itself lost power), so this test does not model a stick that reorders or
# drops writes it acknowledged before a flush; it does model a PC whose
# power is cut at any instant, with the stick keeping what it was sent.
#
# Boot 0 cold-boots the guest and runs freeze/resume cycles to completion; it
# is the timeline the kill points are planned on. Boots 1..N are each killed
# at a random moment measured from the host's first phase marker, aimed at a
# phase chosen in turn (running, freezing, committing = up to 0.4 s after the
# host saw the new generation's file, mostly between the rename and the
# directory fsync, which the host holds open 0.3 s; resuming)
# and classified by the last marker actually seen. Each
# boot starts by verifying the previous pull (reported by the host script,
# checked here). The last boot damages generations and powers the guest off.
# Prints CHECK lines, "PULL: tried=N resumed_ok=M ...", "N passed, N failed".
set -u
: "${SYS_OUT:=$(cd "$(dirname "$0")/../.." && pwd)/build/pull}"
export SYS_OUT
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

POINTS=${PULL_POINTS:-20}
SEED=${PULL_SEED:-$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')}
MB=${PULL_MB:-8}
BOOT_TIMEOUT=${PULL_BOOT_TIMEOUT:-420}
echo "PULL: seed=$SEED points=$POINTS (reproduce: PULL_SEED=$SEED PULL_POINTS=$POINTS $0)"

if [ ! -x "$ROOT/build/tabi" ]; then
	echo "pull: build/tabi is missing: run 'make tabi' first" >&2
	echo "0 passed, 1 failed"; exit 1
fi
sys_build || { echo "0 passed, 1 failed"; exit 1; }
DATA=$OUT/pull.data.img
sys_data_disk "$DATA" 1G

P=0; F=0
pass() { P=$((P + 1)); echo "CHECK $1 PASS"; }
fail() { n=$1; shift; F=$((F + 1)); echo "CHECK $n FAIL $*"; }
FAILED_LOGS=""

QPID=""
trap '[ -n "$QPID" ] && kill -9 "$QPID" 2>/dev/null; exit 130' INT TERM HUP
# boot LOG APPEND: starts the outer QEMU in the background (QPID).
boot() {
	: >"$1"
	"$OUTER_QEMU" -M q35 -cpu "$OUTER_CPU_DEFAULT" -smp "$OUTER_SMP" -m "$OUTER_MEM" \
		-accel tcg,thread=multi -nographic -no-reboot -kernel "$KERNEL" \
		-initrd "$OUT/host.cpio.gz" \
		-append "console=ttyS0 quiet tabi.script=pull_host $2 pull.mb=$MB${M0:+ pull.md5=$M0}" \
		-drive "file=$DATA,format=raw,if=virtio,cache=writeback" </dev/null >"$1" 2>&1 &
	QPID=$!
}
alive() { kill -0 "$QPID" 2>/dev/null; }
# wait_qemu SECONDS: until QEMU exits (killed after SECONDS).
wait_qemu() {
	wq=0
	while alive && [ $wq -lt $(($1 * 10)) ]; do sleep 0.1; wq=$((wq + 1)); done
	alive && { echo "pull: outer QEMU still running after $1 s: killing it" >&2; kill -9 "$QPID"; }
	wait "$QPID" 2>/dev/null
	QPID=""
}
clean() { tr -d '\r' <"$1"; }
rnd() { awk -v s="$SEED" -v i="$1" 'BEGIN { srand(s * 7919 + i); print rand() }'; }
nowf() { date +%s.%N; }

# ---- state known to the build machine across boots ----------------------------
LO=""        # counter of the newest freeze that tabi confirmed (exit 0)
M0=""        # the guest buffer's md5 (cold boot)
# scan LOG: updates LO and HI_RUN/IN_FLIGHT from a log, in order.
scan() {
	eval "$(clean "$1" | awk -v lo="$LO" '
		/^PULL: verify_freeze rc=0 / || /^PULL: phase=frozen .*rc=0 / {
			for (i = 1; i <= NF; i++) if ($i ~ /^n=/) lo = substr($i, 3); fl = 0 }
		/^PULL: phase=freezing / { fl = 1 }
		/^PULL: phase=frozen / { fl = 0 }
		/GUEST: n=[0-9]+$/ { v = $0; sub(/.*GUEST: n=/, "", v); hr = v }
		/^PULL: phase=resuming / { hr = "" }
		END { printf "LO=%s; IN_FLIGHT=%d; HI_RUN=%s\n", lo, fl, hr }')"
}

# check_verify ID LOG: the host's report of what the previous pull left.
# Allowed resumed counter: LO (newest confirmed), or HI_RUN when the pull hit
# a freeze in progress (its generation may or may not have been committed).
RESUMED_OK=0; PULLED_PREV=no
check_verify() {
	id=$1; log=$2; why=""
	vb=$(clean "$log" | sed -n 's/^PULL: verify_before rc=\([0-9]*\).*/\1/p' | head -n1)
	vr=$(clean "$log" | sed -n 's/^PULL: verify_resume=\([a-z]*\).*/\1/p' | head -n1)
	nf=$(clean "$log" | sed -n 's/^PULL: verify_resume=ok n_first=\([0-9]*\).*/\1/p' | head -n1)
	bad=$(clean "$log" | sed -n 's/^PULL: verify_resume=ok .*bad_chk=\([^ ]*\).*/\1/p' | head -n1)
	mg=$(clean "$log" | grep -a 'GUEST: chk=' | head -n1 | sed 's/.*GUEST: chk=[0-9]*:[^:]*://' | cut -d: -f1)
	fr=$(clean "$log" | sed -n 's/^PULL: verify_freeze rc=\([0-9]*\).*/\1/p' | head -n1)
	va=$(clean "$log" | sed -n 's/^PULL: verify_after rc=\([0-9]*\).*/\1/p' | head -n1)
	if clean "$log" | grep -q '^PULL: cold_boot'; then
		why="$why session lost: no generation left, the host cold-booted (md5/history mismatches below follow from that);"
	fi
	[ "$vb" = 0 ] || why="$why snapshot verify before resume exit '${vb}' (want 0);"
	if [ "$vr" != ok ]; then
		why="$why resume failed: $(clean "$log" | grep -a '^PULL: verify_resume' | head -n1);"
	else
		r=$((nf - 1))
		if [ "$r" = "$LO" ]; then which=newest_confirmed
		elif [ "$IN_FLIGHT" = 1 ] && [ "$r" = "$HI_RUN" ]; then which=in_flight
		else which=wrong; why="$why resumed counter $r (first n=$nf), want $LO (newest confirmed freeze)$([ "$IN_FLIGHT" = 1 ] && echo " or $HI_RUN (freeze in flight)");"
		fi
		[ -z "$bad" ] || why="$why disk/memory mismatch (n:disk:md5:history): $bad;"
		[ "$mg" = "$M0" ] || why="$why buffer md5 $mg, want $M0;"
	fi
	[ "$fr" = 0 ] || why="$why freeze after resume exit '${fr}' (want 0);"
	[ "$va" = 0 ] || why="$why snapshot verify after freeze exit '${va}' (want 0);"
	if [ -z "$why" ]; then
		pass "$id"; [ "$PULLED_PREV" = yes ] && RESUMED_OK=$((RESUMED_OK + 1)); echo "PULL: $id resumed $which (counter $r)"
	else
		fail "$id" "$why"; FAILED_LOGS="$FAILED_LOGS $log"
	fi
}

# ---- boot 0: cold boot and the reference timeline -----------------------------
t_all=$(date +%s)
L0=$OUT/pull.0.log
sys_log "boot 0: cold boot, reference timeline -> $L0"
boot "$L0" "tabi.phase=0 pull.mode=cycle pull.cycles=2"
wait_qemu "$BOOT_TIMEOUT"
sys_log "boot 0 took $(( $(date +%s) - t_all ))s"
M0=$(clean "$L0" | sed -n 's/.*GUEST: buf_md5=\([0-9a-f]*\).*/\1/p' | head -n1)
if ! clean "$L0" | grep -q '^PULL: cycles_done'; then
	fail pull_boot0 "the reference boot did not finish its cycles"; clean "$L0" | tail -n 40
	echo "$P passed, $F failed"; exit 1
fi
pass pull_boot0
scan "$L0"
# Reference timeline: seconds from the first marker to each marker.
TL=$(clean "$L0" | awk '/^PULL: phase=/ { t = ""; for (i = 1; i <= NF; i++) if ($i ~ /^t=/) t = substr($i, 3);
	p = $2; sub(/phase=/, "", p); if (t0 == "") t0 = t; printf "%s %.2f\n", p, t - t0 }')
echo "PULL: reference timeline (s after the first marker): $(echo "$TL" | tr '\n' ' ')"
# window PHASE K: [start end] of the K-th occurrence (1-based) of PHASE.
window() {
	echo "$TL" | awk -v p="$1" -v k="$2" '
		{ ph[NR] = $1; t[NR] = $2 }
		END { c = 0
			for (i = 1; i <= NR; i++) if (ph[i] == p && ++c == k) {
				if (p == "committing") { print t[i] - 0.4, t[i] + 0.4; exit }
				if (p == "freezing") { e = t[i + 1]; print t[i], e; exit }
				print t[i], t[i + 1]; exit }
			print "0 1" }'
}

# ---- the pull points ------------------------------------------------------
PHASES="running freezing committing resuming"
tried=0; n_run=0; n_frz=0; n_com=0; n_res=0; n_other=0
i=1
prev_log=$L0
while [ $i -le "$POINTS" ]; do
	log=$OUT/pull.$i.log
	# Target: phases in turn from a seeded start; occurrence 1 or 2 of it.
	off=$(awk -v r="$(rnd $((i * 3)))" 'BEGIN { print int(r * 4) }')
	target=$(echo $PHASES | tr ' ' '\n' | awk -v k=$(( (i + off) % 4 + 1 )) 'NR == k')
	occ=$(awk -v r="$(rnd $((i * 3 + 1)))" 'BEGIN { print (r < 0.5) ? 1 : 2 }')
	set -- $(window "$target" "$occ")
	delay=$(awk -v a="$1" -v b="$2" -v r="$(rnd $((i * 3 + 2)))" 'BEGIN { if (a < 0) a = 0; printf "%.2f", a + r * (b - a) }')
	boot "$log" "tabi.phase=$i pull.mode=cycle pull.cycles=3"
	# Wait for the host's first marker, then the delay, then pull.
	j=0
	while alive && ! clean "$log" | grep -q '^PULL: phase=' && [ $j -lt $((BOOT_TIMEOUT * 10)) ]; do
		sleep 0.05; j=$((j + 1))
	done
	t_first=$(nowf)
	pulled=no
	if alive && [ "$target" = committing ]; then
		# Freeze times vary by seconds from boot to boot: react to the
		# rename itself (the host's "committing" marker), then pull within
		# 0.4 s. The host holds each commit 0.3 s between the rename and
		# the directory fsync (TABI_FAULT_COMMIT_PAUSE_MS), then tabi drops
		# old generations and exits some 30-60 ms later (measured): most
		# pulls land before the fsync, some during the drop or the exit.
		j=0
		while alive && [ "$(grep -ac '^PULL: phase=committing' "$log")" -lt "$occ" ] && [ $j -lt 6000 ]; do
			sleep 0.02; j=$((j + 1))
		done
		delay=$(awk -v r="$(rnd $((i * 3 + 2)))" 'BEGIN { printf "%.2f", r * 0.4 }')
		sleep "$delay"
		if alive; then kill -9 "$QPID"; pulled=yes; fi
		t_kill=$(nowf)
		delay="commit+$delay"
	elif alive; then
		sleep "$(awk -v d="$delay" -v a="$t_first" -v b="$(nowf)" 'BEGIN { s = d - (b - a); print (s > 0) ? s : 0 }')"
		if alive; then kill -9 "$QPID"; pulled=yes; fi
		t_kill=$(nowf)
	fi
	wait_qemu 30
	# The verification of the previous pull (or of boot 0) is at this log's top.
	if [ $i = 1 ]; then check_verify pull_boot0_resume "$log"; else check_verify "pull_$(printf %02d $((i - 1)))" "$log"; fi
	# Classify this pull by the last marker before it.
	last=$(clean "$log" | sed -n 's/^PULL: phase=\([a-z]*\) .*/\1/p' | tail -n1)
	case "$last" in exited|frozen) cls=after_exit;; *) cls=$last;; esac
	if [ "$pulled" = yes ]; then
		tried=$((tried + 1))
		case "$cls" in
		running) n_run=$((n_run + 1));; freezing) n_frz=$((n_frz + 1));;
		committing) n_com=$((n_com + 1));; resuming) n_res=$((n_res + 1));;
		*) n_other=$((n_other + 1));;   # after_exit: tabi exited, next resume not begun
		esac
		echo "PULL: point $i target=$target delay=${delay}s pulled at $(awk -v a="$t_first" -v b="$t_kill" 'BEGIN { printf "%.2f", b - a }')s last_marker=${last:-none} class=$cls"
	else
		echo "PULL: point $i target=$target delay=${delay}s: the boot ended before the pull (last marker ${last:-none})"
	fi
	PULLED_PREV=$pulled
	scan "$log"
	prev_log=$log
	i=$((i + 1))
done

# ---- the last boot: verify the last pull, damaged generations, power off -----
log=$OUT/pull.final.log
sys_log "final boot -> $log"
boot "$log" "tabi.phase=final pull.mode=final"
wait_qemu "$BOOT_TIMEOUT"
check_verify "pull_$(printf %02d "$POINTS")" "$log"
clean "$log" | grep -a '^CHECK ' >"$OUT/pull.final.checks"
for c in pull_dmg_flip_head pull_dmg_flip_mid pull_dmg_flip_tail pull_dmg_trunc_half \
	pull_dmg_trunc_last pull_dmg_trunc_zero pull_dmg_base_tmp pull_dmg_base_empty \
	pull_dmg_base_flip pull_dmg_base_big pull_dmg_stray_tmp pull_poweroff pull_disk_folded; do
	line=$(awk -v c="$c" '$2 == c' "$OUT/pull.final.checks" | tail -n1)
	case "$(echo "$line" | awk '{print $3}')" in
	PASS) pass "$c";;
	SKIP) echo "$line";;
	FAIL) fail "$c" "$(echo "$line" | cut -d' ' -f4-)"; FAILED_LOGS="$FAILED_LOGS $log";;
	*) fail "$c" "never reported (final boot: $(clean "$log" | grep -a '^TABI-HOST-DONE' || echo 'no TABI-HOST-DONE'))"; FAILED_LOGS="$FAILED_LOGS $log";;
	esac
done
# Every check a guest made in any boot: disk = memory, buffer intact.
badall=$(cat "$OUT"/pull.*.log | tr -d '\r' | grep -a 'GUEST: chk=' | sed 's/.*GUEST: chk=//' |
	awk -F: -v m="$M0" '$1 != $2 || $3 != m || $4 != "ok"' | head -n 5 | tr '\n' ' ')
nchk=$(cat "$OUT"/pull.*.log | tr -d '\r' | grep -ac 'GUEST: chk=')
if [ -z "$badall" ] && [ "$nchk" -gt 0 ]; then pass pull_all_chk; else fail pull_all_chk "of $nchk guest checks these disagree (n:disk:md5:history): $badall"; fi
c=0; [ "$tried" -ge 20 ] || [ "$tried" -ge "$POINTS" ] && c=1
if [ $c = 1 ]; then pass pull_points; else fail pull_points "only $tried of $POINTS boots were pulled"; fi

for l in $(echo "$FAILED_LOGS" | tr ' ' '\n' | sort -u); do
	echo "---- tail of $l ----"; clean "$l" | grep -av '%  ' | tail -n 60
done
echo "PULL: seed=$SEED tried=$tried resumed_ok=$RESUMED_OK running=$n_run freezing=$n_frz committing=$n_com resuming=$n_res after_exit=$n_other"
sys_log "total $(( $(date +%s) - t_all ))s"
echo "$P passed, $F failed"
[ $F -eq 0 ]
