# System test group "freeze": a running guest (2 vCPUs, virtio disk, a counter
# process, a checksummed 24 MiB buffer in tmpfs) is frozen with SIGTERM and
# resumed in a fresh tabi process three times; then the console escape, a
# damaged newest generation (bit flip, truncation), a foreign file as the only
# generation. Guest half: rootfs/demo-guest/tests/freeze.sh; helpers:
# freeze_lib.sh. Round r = freeze number r, then resume number r.
#@ checks: fz_foreign_verify fz_foreign_refused fz_foreign_untouched
#@ checks: fz_boot fz_console_input
#@ checks: fz1_exit fz1_info fz1_verify fz1_counter fz1_buffer fz1_disk fz1_clock fz1_no_stall
#@ checks: fz2_exit fz2_info fz2_verify fz2_counter fz2_buffer fz2_disk fz2_clock fz2_no_stall
#@ checks: fz3_exit fz3_info fz3_verify fz3_counter fz3_buffer fz3_disk fz3_clock fz3_no_stall
#@ checks: fz_escape_freeze fz_bitflip_verify fz_bitflip_resume fz_bitflip_refreeze fz_bitflip_keeps_good
#@ checks: fz_trunc_verify fz_trunc_resume fz_poweroff fz_disk_file
#@ checks: fz2_incremental fz3_incremental
#@ checks: fz_autosave_full fz_autosave_incremental fz_autosave_resume fz_autosave_buffer fz_autosave_disk fz_autosave_verify
#@ checks: fz_space_autosave fz_space_sigterm fz_space_sigpwr fz_space_previous
#@ boot: cpu=default
. /tests/host/lib.sh
. /tests/host/freeze_lib.sh
have_vmm || exit 1
ALL=$(sed -n 's/^#@ checks://p' "$0")
# shellcheck disable=SC2086
need_tabi $ALL || exit 0
REPORTED=" "
pass() { echo "CHECK $1 PASS"; REPORTED="$REPORTED$1 "; }
fail() { local n; n=$1; shift; echo "CHECK $n FAIL $*"; REPORTED="$REPORTED$n "; }
# give_up REASON: FAIL every check not reported yet, and stop.
give_up() {
	local c
	for c in $ALL; do case "$REPORTED" in *" $c "*) ;; *) fail "$c" "$1";; esac; done
	exec 3>&-
	exit 0
}
CLOCK_MAX=${CLOCK_MAX:-2}
# Every generation that stores only changed memory first compares the
# chunks it takes from older generations with the guest's memory: a write
# the dirty tracking missed fails the freeze (and so these checks).
export TABI_CHECK_INCREMENTAL=1
RUN_TO=400   # seconds any one tabi process may live
S=$W/fz.session; T=$W/fzt.session; F=$W/foreign.session; D=$W/fz-disk.img
rm -rf "$S" "$T" "$F"; rm -f "$D"; truncate -s 64M "$D"

# ---- a foreign file as the only generation --------------------------------
mkdir -p "$F"
head -c 1048576 "$GUEST_KERNEL" >"$(gen_file "$F" 1)"
sum0=$(dir_sum "$F")
"$TABI" snapshot verify "$F" >"$W/fv.out" 2>&1; rc=$?
check_eq fz_foreign_verify "$rc" 2 "snapshot verify exit code ($(head -n1 "$W/fv.out"))"
QUIET_CONSOLE=1 vmm_run foreign 60 resume --session "$F"
rc=$(vmm_rc foreign); lines=$(grep -c '' "$W/foreign.err")
if vmm_timed_out foreign; then fail fz_foreign_refused "still running after 60s"
elif [ "$rc" != 1 ] || [ "$lines" -ne 1 ]; then fail fz_foreign_refused "rc=$rc (want 1), $lines lines on stderr (want 1): $(head -n1 "$W/foreign.err")"
else pass fz_foreign_refused
fi
check fz_foreign_untouched "the session directory changed" [ "$(dir_sum "$F")" = "$sum0" ]

# ---- boot the guest -------------------------------------------------------
fz_start f0 $RUN_TO run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE tabi.test=freeze" --mem 256M --cpus 2 --disk "$D" --session "$S"
if ! fz_wait f0 ready=1 180; then
	fail fz_boot "guest never got ready (rc=$(vmm_rc f0)); last: $(tail -n 2 "$W/f0.out" | tr '\n' '|')"
	fz_term f0 60; give_up "guest never booted"
fi
BUF0=$(guest_val f0 buf_md5); CPID=$(guest_val f0 counter_pid)
check fz_boot "buf_md5='$BUF0' counter_pid='$CPID' wrote='$(guest_val f0 wrote)'" \
	[ -n "$BUF0" -a -n "$CPID" -a "$(guest_val f0 wrote)" = 1 ]
fz_send f0 "v 1"
fz_wait f0 verified= 60
check_eq fz_console_input "$(guest_val f0 verified)" "1:ok" "guest's answer to 'v 1' typed on tabi's stdin"
fz_wait f0 "counter=$CPID:3" 30

# ---- three freezes, each resumed in a fresh tabi process -------------------
prev=f0
for r in 1 2 3; do
	cur=fr$r
	fz_term "$prev" 180
	rc=$(vmm_rc "$prev")
	if [ "$r" -gt 1 ]; then
		st=$(stalls "$prev")
		check "fz$((r - 1))_no_stall" "run $prev: $st" [ -z "$st" ]
	fi
	if vmm_timed_out "$prev"; then fail "fz${r}_exit" "freeze did not finish: killed after 180s"
	else check_eq "fz${r}_exit" "$rc" "$EXIT_FROZEN" "tabi exit code after SIGTERM ($(grep -v '%  ' "$W/$prev.err" | tail -n1))"
	fi
	[ "$rc" = "$EXIT_FROZEN" ] || give_up "freeze $r failed (rc=$rc)"
	# Freezes after a resume store only the memory changed since it.
	if [ "$r" -gt 1 ]; then
		inc=$(grep -o 'is incremental: [0-9]* of [0-9]*' "$W/$prev.err" | tail -n1)
		set -- $inc; st=${3:-}; tot=${5:-}
		c=0; [ -n "$st" ] && [ "$st" -lt $((tot / 2)) ] && c=1
		check "fz${r}_incremental" "freeze $r after a resume: '${inc:-no incremental line}' (want fewer than half of the chunks stored)" [ $c = 1 ]
	fi
	echo "HOST: freeze $r took $(cat "$W/$prev.freeze_s")s; generations: $(gens "$S" | tr '\n' ' ')"
	m=$(info_missing "$S")
	check "fz${r}_info" "snapshot info lacks:$m" [ -z "$m" ]
	"$TABI" snapshot verify "$S" >"$W/v$r.out" 2>&1; vrc=$?
	sed 's/^/  [verify] /' "$W/v$r.out"
	check_eq "fz${r}_verify" "$vrc" 0 "snapshot verify exit code"
	before=$(counters "$prev" | tail -n1)
	fz_start "$cur" $RUN_TO resume --session "$S"
	if ! fz_wait "$cur" counter= 120; then
		fz_end "$cur" 5
		give_up "resume $r: no counter line from the guest (rc=$(vmm_rc "$cur"): $(head -n1 "$W/$cur.err"))"
	fi
	fz_send "$cur" "v $r"
	fz_wait "$cur" verified= 60
	first=$(counters "$cur" | head -n1); pids=$(counters "$cur" | awk '{print $1}' | sort -u | tr '\n' ' ')
	b=${before#* }; a=${first#* }
	c=0; [ "$pids" = "$CPID " -a -n "$b" -a -n "$a" ] && [ "$a" -gt "$b" ] && [ "$a" -le $((b + 5)) ] && c=1
	echo "HOST: round $r: counter pid(s) $pids, last before the freeze $b, first after $a"
	check "fz${r}_counter" "counter pid(s) '$pids' want '$CPID '; before the freeze ${b:-none}, first after ${a:-none}" [ $c = 1 ]
	check_eq "fz${r}_buffer" "$(guest_val "$cur" buf)" "$BUF0" "buffer md5 after resume"
	check_eq "fz${r}_disk" "$(guest_val "$cur" verified)" "$r:ok" "guest re-read of rounds 1..$r"
	sleep 3
	sk=$(clock_skew "$cur")
	c=0; [ -n "$sk" ] && [ "${sk%% *}" -le "$CLOCK_MAX" ] && c=1
	echo "HOST: round $r: clock skew $sk"
	check "fz${r}_clock" "guest date vs host: ${sk:-no epoch lines} (max ${CLOCK_MAX}s)" [ $c = 1 ]
	fz_send "$cur" "w $((r + 1))"
	fz_wait "$cur" "wrote=$((r + 1))" 60 || echo "HOST: round $((r + 1)) not written: $(guest_val "$cur" wrote)"
	prev=$cur
done

# ---- the console escape (Ctrl-A x on stdin) freezes too ---------------------
n0=$(gens "$S" | tail -n1)
fz_type fr3 '\001x'
dl=$(deadline 60); while fz_alive fr3 && before "$dl"; do usleep 200000; done
if fz_alive fr3; then
	fail fz_escape_freeze "still running 60s after Ctrl-A x on stdin"
	fz_term fr3 180
else
	fz_end fr3 5
	n1=$(gens "$S" | tail -n1)
	c=0; [ "$(vmm_rc fr3)" = "$EXIT_FROZEN" ] && [ "${n1:-0}" -gt "${n0:-0}" ] && c=1
	check fz_escape_freeze "rc=$(vmm_rc fr3) (want $EXIT_FROZEN), newest generation $n0 -> $n1" [ $c = 1 ]
fi
st=$(stalls fr3); check fz3_no_stall "run fr3: $st" [ -z "$st" ]
[ "$(vmm_rc fr3)" = "$EXIT_FROZEN" ] || give_up "the 4th freeze failed (rc=$(vmm_rc fr3))"

# ---- damaged newest generation: bit flip (in $S), truncation (a copy, $T) ----
cp -a "$S" "$T"
newest=$(gens "$S" | tail -n1); older=$(gens "$S" | tail -n2 | head -n1)
echo "HOST: generations kept: $(gens "$S" | tr '\n' ' ')"
[ "$newest" != "$older" ] || give_up "only one generation kept ($newest): no previous one to fall back to"
nf=$(gen_file "$S" "$newest"); sz=$(stat -c %s "$nf")
flip_byte "$nf" $((sz / 2))
"$TABI" snapshot verify "$S" >"$W/vb.out" 2>&1; rc=$?
sed 's/^/  [verify] /' "$W/vb.out"
check_eq fz_bitflip_verify "$rc" 1 "snapshot verify exit code after a bit flip at $((sz / 2)) of $sz bytes"
fz_start fb $RUN_TO resume --session "$S"
fz_wait fb "counter=$CPID:" 120; ok=$?
note=$(grep -v '%  ' "$W/fb.err" | grep "generation $older" | head -n1)
check fz_bitflip_resume "counter line seen: $([ $ok = 0 ] && echo yes || echo no); stderr note naming generation $older: '${note}' (stderr: $(head -n1 "$W/fb.err"))" \
	[ $ok = 0 -a -n "$note" ]
fz_term fb 180
"$TABI" snapshot verify "$S" >"$W/vb2.out" 2>&1; vrc=$?
sed 's/^/  [verify] /' "$W/vb2.out"
check fz_bitflip_refreeze "freeze after the fallback: rc=$(vmm_rc fb) (want $EXIT_FROZEN); verify then exits $vrc (want 0)" \
	[ "$(vmm_rc fb)" = "$EXIT_FROZEN" -a "$vrc" = 0 ]
# The generation kept beside the new one should be the good one it resumed
# (DESIGN: "written beside the last good one"), not the damaged one: else one
# more damaged generation leaves nothing to resume.
good=$(grep -c ': good' "$W/vb2.out")
check fz_bitflip_keeps_good "after freezing a fallback resume, $good good generation(s) kept ($(grep '^generation' "$W/vb2.out" | tr '\n' ';')): the last good one (generation $older) was dropped" [ "$good" -ge 2 ]

tf=$(gen_file "$T" "$newest"); sz=$(stat -c %s "$tf")
truncate -s $((sz / 2)) "$tf"
"$TABI" snapshot verify "$T" >"$W/vt.out" 2>&1; rc=$?
sed 's/^/  [verify] /' "$W/vt.out"
check_eq fz_trunc_verify "$rc" 1 "snapshot verify exit code after truncating to $((sz / 2)) of $sz bytes"
fz_start ft $RUN_TO resume --session "$T"
fz_wait ft "counter=$CPID:" 120; ok=$?
# Generation 3 was frozen after round 3; round 4 went to the disk after it
# (DESIGN: the disk must match the memory it is resumed with).
fz_send ft "v 3"; fz_wait ft verified= 60
note=$(grep -v '%  ' "$W/ft.err" | grep "generation $older" | head -n1)
check fz_trunc_resume "counter line seen: $([ $ok = 0 ] && echo yes || echo no); 'v 3' answer '$(guest_val ft verified)' (want 3:ok); stderr note naming generation $older: '${note}'" \
	[ $ok = 0 -a -n "$note" -a "$(guest_val ft verified)" = 3:ok ]

# ---- power off: the session ends -------------------------------------------
fz_send ft off
fz_end ft 90
left=$(gens "$T" | tr '\n' ' ')
check fz_poweroff "rc=$(vmm_rc ft) (want $EXIT_POWEROFF); generations left: '${left}' (want none)" \
	[ "$(vmm_rc ft)" = "$EXIT_POWEROFF" -a -z "$left" ]
miss=$(rounds_missing "$D" 3)
echo "HOST: round 4 (written after generation 3, only in the damaged generation 4) in the disk file: $([ -z "$(rounds_missing "$D" 4)" ] && echo yes || echo no)"
check fz_disk_file "rounds of the resumed lineage (1..3) missing from the disk file after poweroff:$miss" [ -z "$miss" ]

# ---- autosave: periodic generations, the later ones incremental; a pull ----
# (kill -9) after one resumes exactly that one: memory changed and disk
# written before it are there.
A=$W/fza.session; DA=$W/fza-disk.img
rm -rf "$A"; rm -f "$DA"; truncate -s 64M "$DA"
autosaves() { grep -c 'autosaved generation' "$W/$1.err" 2>/dev/null; }
wait_autosave() {  # ID COUNT SECONDS
	local dl; dl=$(deadline "$3")
	while [ "$(autosaves "$1")" -lt "$2" ] && fz_alive "$1" && before "$dl"; do usleep 300000; done
	[ "$(autosaves "$1")" -ge "$2" ]
}
fz_start fa $RUN_TO run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE tabi.test=freeze" --mem 256M --cpus 2 --disk "$DA" \
	--session "$A" --autosave 0.25
fz_wait fa ready=1 180 || { fz_term fa 60; give_up "autosave guest never booted"; }
wait_autosave fa 1 120
n1=$(autosaves fa)
check fz_autosave_full "autosaves after boot: $n1 (want >= 1); stderr: $(grep -v '%  ' "$W/fa.err" | tail -n1)" [ "$n1" -ge 1 ]
fz_send fa "m 5"; fz_wait fa "buf_md5=" 30
fz_send fa "w 2"; fz_wait fa "wrote=2" 60
BUFA=$(guest_val fa buf_md5)
# An autosave that commits after both were seen began after they were made
# (the guest is paused while one is written); it must store only part of
# memory.
n2=$(autosaves fa)
wait_autosave fa $((n2 + 1)) 120
inc=$(grep -o 'is incremental: [0-9]* of [0-9]*' "$W/fa.err" | tail -n1)
set -- $inc; st=${3:-}; tot=${5:-}
c=0; [ -n "$st" ] && [ "$st" -lt $((tot / 2)) ] && c=1
check fz_autosave_incremental "'${inc:-no incremental line}' (want fewer than half of the chunks stored)" [ $c = 1 ]
last=$(gens "$A" | tail -n1)
p=$(fz_pid fa); kill -KILL "$p" 2>/dev/null   # the stick is pulled
fz_end fa 30
"$TABI" snapshot verify "$A" >"$W/va.out" 2>&1; vrc=$?
sed 's/^/  [verify] /' "$W/va.out"
check_eq fz_autosave_verify "$vrc" 0 "snapshot verify exit code after the pull"
fz_start fa2 $RUN_TO resume --session "$A"
fz_wait fa2 counter= 120; ok=$?
fz_send fa2 "v 2"; fz_wait fa2 verified= 60
res=$(grep -o 'resum[a-z]* generation [0-9]*' "$W/fa2.err" | head -n1)
check fz_autosave_resume "counter line seen: $([ $ok = 0 ] && echo yes || echo no); newest generation $last; stderr: $(grep -v '%  ' "$W/fa2.err" | head -n2 | tr '\n' '|')" [ $ok = 0 ]
check_eq fz_autosave_buffer "$(guest_val fa2 buf)" "$BUFA" "buffer md5 after resuming the last autosave"
check_eq fz_autosave_disk "$(guest_val fa2 verified)" "2:ok" "guest re-read of rounds 1..2"
fz_send fa2 off
fz_end fa2 90

# ---- a full stick: a save that does not fit is refused, the guest keeps ------
# running; the power button then keeps the previous generation.
SM=$W/small; mkdir -p "$SM"
if ! mount -t tmpfs -o size=160m tmpfs "$SM"; then give_up "cannot mount a small tmpfs for the space checks"; fi
B=$SM/s; DB=$W/fzs-disk.img; rm -f "$DB"; truncate -s 64M "$DB"
fz_start fs $RUN_TO run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE tabi.test=freeze" --mem 128M --cpus 1 --disk "$DB" \
	--session "$B" --autosave 0.25
fz_wait fs ready=1 180 || { fz_term fs 60; umount "$SM"; give_up "space-check guest never booted"; }
wait_autosave fs 1 120 || echo "HOST: no first autosave: $(tail -n 2 "$W/fs.err" | tr '\n' '|')"
g1=$(gens "$B" | tail -n1)
# Leave 8 MiB free: less than any generation needs (16 MiB of slack).
free=$(df -k "$SM" | awk 'NR == 2 {print $4}')
dd if=/dev/zero of="$SM/filler" bs=1024 count=$((free - 8192)) 2>/dev/null
echo "HOST: space check: generation $g1 committed; $(df -k "$SM" | awk 'NR == 2 {print $4}') KiB left"
# refused_running CHECK WHAT DESC PATTERN: waits (90 s) for the guest fs's
# first "WHAT failed" line, then passes when it matches PATTERN and the guest
# is still running and counting 4 s later.
refused_running() {
	dl=$(deadline 90)
	while ! grep -q "$2 failed" "$W/fs.err" && fz_alive fs && before "$dl"; do usleep 300000; done
	msg=$(grep "$2 failed" "$W/fs.err" | head -n1)
	n0=$(counters fs | tail -n1); sleep 4; n1=$(counters fs | tail -n1)
	c=0; echo "$msg" | grep -q "$4" && [ "$n1" != "$n0" ] && fz_alive fs && c=1
	check "$1" "$3: '${msg:-no message}'; counter $n0 -> $n1 (must go on)" [ $c = 1 ]
}
refused_running fz_space_autosave autosave "autosave on a full stick" 'not enough room'
kill -TERM "$(fz_pid fs)"
refused_running fz_space_sigterm freeze "SIGTERM on a full stick" 'not enough room.*keeps running'
kill -PWR "$(fz_pid fs)"
fz_end fs 90
msg=$(grep 'freeze failed' "$W/fs.err" | tail -n1)
c=0; [ "$(vmm_rc fs)" = 5 ] && echo "$msg" | grep -q 'previous generation is kept' && c=1
check fz_space_sigpwr "power button on a full stick: rc=$(vmm_rc fs) (want 5): '$msg'" [ $c = 1 ]
left=$(ls -a "$B" | grep -c '\.tmp$')
"$TABI" snapshot verify "$B" >"$W/vs.out" 2>&1; vrc=$?
sed 's/^/  [verify] /' "$W/vs.out"
rm -f "$SM/filler"
fz_start fs2 $RUN_TO resume --session "$B"
fz_wait fs2 counter= 120; ok=$?
c=0; [ "$vrc" = 0 ] && [ "$(gens "$B" | tail -n1)" = "$g1" ] && [ "$left" = 0 ] && [ $ok = 0 ] && c=1
check fz_space_previous "verify exit $vrc (want 0), newest generation $(gens "$B" | tail -n1) (want $g1), $left temporary files, resumed: $([ $ok = 0 ] && echo yes || echo no)" [ $c = 1 ]
fz_send fs2 off
fz_end fs2 90
umount "$SM"
give_up "not reached"
