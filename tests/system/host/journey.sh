# System test group "journey": one session carried between "PCs" (outer
# boots with different CPU models sharing the /data scratch disk, like the
# stick's data partition): created and frozen on EPYC, resumed and frozen
# again on Opteron_G4, resumed on EPYC and powered off; then a session made
# with --cpu-model x86-64-v2 is refused on Opteron_G3 (no SSSE3/SSE4.x).
# Opteron_G4 needs -avx,-xsave: with them QEMU 7.2 TCG hangs Debian's 6.1
# kernel early in boot (so does Opteron_G5); it is still x86-64-v2.
# Guest half: rootfs/demo-guest/tests/freeze.sh; helpers: freeze_lib.sh.
#@ checks: harness_cpu_switch jn_boot jn_freeze1 jn_refusal_session
#@ checks: jn2_resume jn2_counter jn2_buffer jn2_disk jn2_clock jn2_freeze jn2_no_stall
#@ checks: jn3_resume jn3_counter jn3_buffer jn3_disk jn3_clock jn3_poweroff jn3_no_stall jn_disk_file
#@ checks: jn_refusal jn_refusal_untouched
#@ boot: cpu=EPYC,+svm,+npt
#@ boot: cpu=Opteron_G4,+svm,+npt,-avx,-xsave
#@ boot: cpu=EPYC,+svm,+npt
#@ boot: cpu=Opteron_G3,+svm,+npt
. /tests/host/lib.sh
. /tests/host/freeze_lib.sh
# Incremental generations compare what they take from older ones with the
# guest's memory: dirty tracking that missed a write fails the freeze.
export TABI_CHECK_INCREMENTAL=1
have_vmm || exit 1
# shellcheck disable=SC2046
need_tabi $(sed -n 's/^#@ checks://p' "$0") || exit 0
S=/data/s; R=/data/r; D=/data/jn-disk.img; ST=/data/jn.state
CLOCK_MAX=${CLOCK_MAX:-2}
model() { sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1; }
tsc_note() {
	echo "HOST: phase $TABI_PHASE CPU '$(model)'; $(dmesg | grep -o 'tsc: Detected [0-9.]* MHz[^,]*' | head -n1 | tr '\n' ' ')"
	[ -d "$S" ] && echo "HOST: session tsc_khz: $("$TABI" snapshot info "$S" 2>/dev/null | sed -n 's/^ *tsc_khz=//p')"
	dmesg | grep -o 'tsc: Detected [0-9.]* MHz' | head -n1 >"/data/tsc.$TABI_PHASE"
}
# resume_checks PHASE ROUNDS: resume $S as run jPHASE; counter, buffer, disk
# (rounds 1..ROUNDS), clock checks.
resume_checks() {
	local id p r first pids a b c sk
	p=$1; r=$2; id=j$p
	fz_start "$id" 400 resume --session "$S"
	if ! fz_wait "$id" counter= 120; then
		fz_end "$id" 5
		fail "jn${p}_resume" "no counter line from the guest (rc=$(vmm_rc "$id"): $(head -n1 "$W/$id.err"))"
		return 1
	fi
	pass "jn${p}_resume"
	fz_send "$id" "v $r"
	fz_wait "$id" verified= 60
	first=$(counters "$id" | head -n1); pids=$(counters "$id" | awk '{print $1}' | sort -u | tr '\n' ' ')
	b=$LAST; a=${first#* }
	c=0; [ "$pids" = "$CPID " -a -n "$b" -a -n "$a" ] && [ "$a" -gt "$b" ] && [ "$a" -le $((b + 5)) ] && c=1
	check "jn${p}_counter" "counter pid(s) '$pids' want '$CPID '; before the freeze ${b:-none}, first after ${a:-none}" [ $c = 1 ]
	check_eq "jn${p}_buffer" "$(guest_val "$id" buf)" "$BUF0" "buffer md5 after resume"
	check_eq "jn${p}_disk" "$(guest_val "$id" verified)" "$r:ok" "guest re-read of rounds 1..$r"
	sleep 3
	sk=$(clock_skew "$id")
	c=0; [ -n "$sk" ] && [ "${sk%% *}" -le "$CLOCK_MAX" ] && c=1
	echo "HOST: phase $p: counter pid(s) $pids, last before $b, first after $a; clock skew $sk"
	check "jn${p}_clock" "guest date vs host: ${sk:-no epoch lines} (max ${CLOCK_MAX}s)" [ $c = 1 ]
	return 0
}
save_state() { printf 'BUF0=%s\nCPID=%s\nLAST=%s\n' "$BUF0" "$CPID" "$1" >"$ST"; sync; }

case "$TABI_PHASE" in
1)
	model >/data/phase1.cpu
	rm -rf "$S" "$R"; rm -f "$D" "$ST"; truncate -s 64M "$D"
	tsc_note
	fz_start j1 400 run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE tabi.test=freeze" --mem 256M --cpus 2 --disk "$D" --session "$S"
	if fz_wait j1 ready=1 180; then
		BUF0=$(guest_val j1 buf_md5); CPID=$(guest_val j1 counter_pid)
		check jn_boot "buf_md5='$BUF0' counter_pid='$CPID' wrote='$(guest_val j1 wrote)'" \
			[ -n "$BUF0" -a -n "$CPID" -a "$(guest_val j1 wrote)" = 1 ]
		fz_wait j1 "counter=$CPID:3" 30
	else
		fail jn_boot "guest never got ready (rc=$(vmm_rc j1)); last: $(tail -n 2 "$W/j1.out" | tr '\n' '|')"
	fi
	fz_term j1 180
	check_eq jn_freeze1 "$(vmm_rc j1)" "$EXIT_FROZEN" "tabi exit code after SIGTERM ($(grep -v '%  ' "$W/j1.err" | tail -n1))"
	l=$(counters j1 | tail -n1); save_state "${l#* }"
	"$TABI" snapshot info "$S" | sed 's/^/  [info] /'
	# The session the Opteron_G3 boot must refuse: x86-64-v2, demo guest.
	fz_start jr 300 run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE" --mem 128M --cpus 1 --cpu-model x86-64-v2 --session "$R"
	dl=$(deadline 180); while ! grep -q 'counter=2 ' "$W/jr.out" && fz_alive jr && before "$dl"; do usleep 200000; done
	fz_term jr 120
	info=$("$TABI" snapshot info "$R" 2>&1)
	c=0; [ "$(vmm_rc jr)" = "$EXIT_FROZEN" ] && echo "$info" | grep -q 'cpu_model=x86-64-v2' && c=1
	check jn_refusal_session "rc=$(vmm_rc jr) (want $EXIT_FROZEN); info: $(echo "$info" | grep cpu_model)" [ $c = 1 ]
	;;
2)
	before=$(cat /data/phase1.cpu 2>/dev/null); after=$(model)
	echo "HOST: phase 1 CPU '$before', phase 2 CPU '$after'"
	if [ -z "$before" ]; then fail harness_cpu_switch "/data did not carry phase 1's file"
	elif [ "$before" = "$after" ]; then fail harness_cpu_switch "same CPU model in both boots: '$after'"
	elif [ ! -e /dev/kvm ]; then fail harness_cpu_switch "no /dev/kvm on '$after'"
	else pass harness_cpu_switch
	fi
	model >/data/phase2.cpu
	tsc_note
	[ -f "$ST" ] && . "$ST"
	if [ -z "${CPID:-}" ]; then
		for c in jn2_resume jn2_counter jn2_buffer jn2_disk jn2_clock jn2_freeze jn2_no_stall; do fail $c "phase 1 left no session state"; done
		exit 0
	fi
	if resume_checks 2 1; then
		fz_send j2 "w 2"
		fz_wait j2 wrote=2 60 || echo "HOST: round 2 not written: $(guest_val j2 wrote)"
		fz_term j2 180
		check_eq jn2_freeze "$(vmm_rc j2)" "$EXIT_FROZEN" "tabi exit code after SIGTERM ($(grep -v '%  ' "$W/j2.err" | tail -n1))"
		l=$(counters j2 | tail -n1); save_state "${l#* }"
		st=$(stalls j2); check jn2_no_stall "$st" [ -z "$st" ]
		"$TABI" snapshot info "$S" | sed 's/^/  [info] /'
	fi
	;;
3)
	[ "$(model)" = "$(cat /data/phase1.cpu)" ] || echo "HOST: phase 3 CPU differs from phase 1"
	tsc_note
	[ -f "$ST" ] && . "$ST"
	if [ -z "${CPID:-}" ]; then
		for c in jn3_resume jn3_counter jn3_buffer jn3_disk jn3_clock jn3_poweroff jn3_no_stall jn_disk_file; do fail $c "phase 1 left no session state"; done
		exit 0
	fi
	if resume_checks 3 2; then
		fz_send j3 off
		fz_end j3 90
		left=$(gens "$S" | tr '\n' ' ')
		check jn3_poweroff "rc=$(vmm_rc j3) (want $EXIT_POWEROFF); generations left: '${left}' (want none)" \
			[ "$(vmm_rc j3)" = "$EXIT_POWEROFF" -a -z "$left" ]
		st=$(stalls j3); check jn3_no_stall "$st" [ -z "$st" ]
	fi
	miss=$(rounds_missing "$D" 2)
	check jn_disk_file "rounds missing from the disk file:$miss" [ -z "$miss" ]
	echo "HOST: TSC per phase: $(for p in 1 2 3; do printf '%s: %s; ' $p "$(cat /data/tsc.$p 2>/dev/null)"; done)"
	;;
4)
	tsc_note
	echo "HOST: phase 4 CPU '$(model)'; sse4_1 in flags: $(grep -c 'sse4_1' /proc/cpuinfo)"
	if [ ! -d "$R" ]; then
		fail jn_refusal "phase 1 left no x86-64-v2 session"; fail jn_refusal_untouched "no session"; exit 0
	fi
	sum0=$(dir_sum "$R")
	QUIET_CONSOLE=1 vmm_run refuse 60 resume --session "$R"
	rc=$(vmm_rc refuse); lines=$(grep -c '' "$W/refuse.err"); l=$(head -n1 "$W/refuse.err")
	c=0; [ "$rc" = 1 -a "$lines" = 1 ] && echo "$l" | grep -qi 'sse4[._]1' && c=1
	check jn_refusal "rc=$rc (want 1), $lines stderr lines (want 1) naming sse4.1: '$l'" [ $c = 1 ]
	check jn_refusal_untouched "the session directory changed" [ "$(dir_sum "$R")" = "$sum0" ]
	;;
esac
exit 0
