# Freeze/resume benchmark (sourced by host/bench.sh when tabi.bench_parts
# has "freeze"; not a pass/fail group: no #@ checks). A guest with FB_MEM
# (1G) RAM fills tmpfs with 3 x tabi.fill_mb (100) MiB of random, text-like
# and repeated data (rootfs/demo-guest/tests/freeze_bench.sh, the same
# generator under both VMMs), then ticks every 0.1 s. Measured, median of
# FB_RUNS (3):
#   tabi:  SIGTERM -> tabi exited (generation committed and fsync'ed);
#          `tabi resume` launch -> first guest tick; bytes of the generation.
#   QEMU/KVM (-M q35, same kernel/initrd/RAM/CPUs): HMP `migrate
#          "exec:cat > F && sync"` (raw) or "exec:/tools/bin/zstd -q -T0 > F
#          && sync" -> the command finished; `-incoming "exec:cat F"` or
#          "exec:zstd -dc F" launch -> first guest tick; bytes of F.
# tabi's first freeze (after the cold boot) stores all memory; each later
# one follows a resume and stores only the memory changed since it
# (incremental), while QEMU's migration is whole every time: the figures
# are reported apart ("full": run 1, one sample; "incremental": runs 2..N).
# Prints BENCH freeze ... lines with ratios tabi/QEMU; never a verdict.
. /tests/host/freeze_lib.sh
FB_MEM=1G; FB_MB=100; FB_RUNS=4; FB_CPUS=1
for w in $(cat /proc/cmdline); do
	case "$w" in
	tabi.fb_mem=*) FB_MEM=${w#*=};;
	tabi.fill_mb=*) FB_MB=${w#*=};;
	tabi.fb_runs=*) FB_RUNS=${w#*=};;
	esac
done
export MARK="GUEST: tick=" QUIET_CONSOLE=1
GCMD="$GUEST_CMDLINE tabi.test=freeze_bench tabi.fill_mb=$FB_MB"
FILL_TO=900
elapsed() { awk -v a="$(cat "$W/$1.start")" -v b="$(cat "$W/$1.mark" 2>/dev/null)" 'BEGIN{if (b == "") print "none"; else printf "%.2f\n", b - a}'; }
median() { sort -n | awk '$1 != "none" {a[++n] = $1} END{if (n) print a[int((n + 1) / 2)]; else print "none"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a == "none" || b == "none" || b == 0) print "none"; else printf "%.2f\n", a / b}'; }
fsize() { stat -c %s "$1" 2>/dev/null || echo none; }
echo "BENCH freeze setup mem=$FB_MEM fill=3x${FB_MB}MiB runs=$FB_RUNS cpus=$FB_CPUS"

# ---- tabi -------------------------------------------------------------------
fb_tabi() {
	local S i id prev g k
	S=$W/fb.session; rm -rf "$S"
	: >"$W/fb.tabi.freeze"; : >"$W/fb.tabi.resume"; : >"$W/fb.tabi.bytes"
	: >"$W/fb.full.freeze"; : >"$W/fb.full.resume"; : >"$W/fb.full.bytes"
	fz_start tb0 $((FILL_TO + 600)) run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GCMD" --mem "$FB_MEM" --cpus "$FB_CPUS" --session "$S"
	if ! fz_wait tb0 filled= $FILL_TO; then
		echo "BENCH freeze vmm=tabi fill failed rc=$(vmm_rc tb0)"; tail -n 5 "$W/tb0.out"; fz_term tb0 120; return 1
	fi
	echo "BENCH freeze vmm=tabi filled $(guest_val tb0 filled); $(guest_val tb0 fill_sizes)"
	sleep 2
	prev=tb0; i=0
	while [ $i -lt "$FB_RUNS" ]; do
		i=$((i + 1)); id=tb$i
		fz_term "$prev" 300
		if [ "$(vmm_rc "$prev")" != 0 ]; then echo "BENCH freeze vmm=tabi run=$i failed rc=$(vmm_rc "$prev")"; return 1; fi
		g=$(gens "$S" | tail -n1)
		k=tabi; [ $i = 1 ] && k=full
		echo "$(cat "$W/$prev.freeze_s")" >>"$W/fb.$k.freeze"
		echo "$(fsize "$(gen_file "$S" "$g")")" >>"$W/fb.$k.bytes"
		echo "BENCH freeze vmm=tabi run=$i freeze_s=$(cat "$W/$prev.freeze_s") bytes=$(fsize "$(gen_file "$S" "$g")") ($(grep 'freezing done' "$W/$prev.err" | head -n1)) $(grep -o 'is incremental.*' "$W/$prev.err" | tail -n1)"
		fz_start "$id" 300 resume --session "$S"
		fz_wait "$id" tick= 180
		echo "$(elapsed "$id")" >>"$W/fb.$k.resume"
		echo "BENCH freeze vmm=tabi run=$i resume_s=$(elapsed "$id") ($(grep 'resuming done' "$W/$id.err" | head -n1))"
		[ -s "$W/$id.mark" ] || { echo "BENCH freeze vmm=tabi run=$i resume failed rc=$(vmm_rc "$id")"; head -n 3 "$W/$id.err"; }
		sleep 2
		prev=$id
	done
	"$TABI" snapshot info "$S" | sed 's/^/  [info] /'
	fz_term "$prev" 300
	rm -rf "$S"
}

# ---- QEMU -------------------------------------------------------------------
QARGS="-enable-kvm -M q35 -cpu host -m $FB_MEM -smp $FB_CPUS -nodefaults -no-user-config -display none -serial stdio -no-reboot"
# hmp TEXT: one monitor command to the source QEMU.
hmp() { fz_alive qb0 && timeout 5 sh -c 'printf "%s\n" "$0" >"$1"' "$1" "$W/qm.in"; }
fb_qemu() {
	local i k f cmd t0 t1 j id
	rm -f "$W/qm.in" "$W/qm.out" "$W/qm.log"; mkfifo "$W/qm.in" "$W/qm.out"
	: >"$W/fb.raw.freeze"; : >"$W/fb.zstd.freeze"; : >"$W/fb.raw.resume"; : >"$W/fb.zstd.resume"
	: >"$W/fb.raw.bytes"; : >"$W/fb.zstd.bytes"
	# shellcheck disable=SC2086
	FZ_BIN=$QEMU fz_start qb0 $((FILL_TO + 900)) $QARGS -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
		-append "$GCMD" -chardev "pipe,id=mon,path=$W/qm" -mon chardev=mon,mode=readline
	cat "$W/qm.out" >"$W/qm.log" &
	if ! fz_wait qb0 filled= $FILL_TO; then
		echo "BENCH freeze vmm=qemu fill failed rc=$(vmm_rc qb0)"; tail -n 5 "$W/qb0.out"; head -n 3 "$W/qb0.err"; fz_term qb0 60; return 1
	fi
	echo "BENCH freeze vmm=qemu filled $(guest_val qb0 filled); $(guest_val qb0 fill_sizes)"
	hmp "migrate_set_parameter max-bandwidth 100000"
	hmp "migrate_set_parameter downtime-limit 100000"
	sleep 2
	i=0
	while [ $i -lt "$FB_RUNS" ]; do
		i=$((i + 1))
		for k in raw zstd; do
			f=$W/qemu.$k; rm -f "$f" "$f.done"
			case $k in
			raw) cmd="cat > $f && sync && touch $f.done";;
			zstd) cmd="/tools/bin/zstd -q -T0 > $f && sync && touch $f.done";;
			esac
			t0=$(now)
			# No `stop` first: a stopped source migrates its paused state and
			# the -incoming side would stay paused. With the limits above,
			# QEMU stops the guest after one pass and completes.
			hmp "migrate \"exec:$cmd\""
			dl=$(deadline 300); while [ ! -e "$f.done" ] && fz_alive qb0 && before "$dl"; do usleep 200000; done
			t1=$(now)
			if [ -e "$f.done" ]; then
				s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')
				echo "$s" >>"$W/fb.$k.freeze"; fsize "$f" >>"$W/fb.$k.bytes"
				echo "BENCH freeze vmm=qemu_$k run=$i freeze_s=$s bytes=$(fsize "$f")"
			else
				echo "BENCH freeze vmm=qemu_$k run=$i failed rc=$(vmm_rc qb0)"; hmp "info migrate"; sleep 1; tail -n 15 "$W/qm.log"
			fi
			hmp "cont"; sleep 2
		done
	done
	hmp "quit"; fz_end qb0 30
	for k in raw zstd; do
		case $k in
		raw) inc="exec:cat $W/qemu.raw";;
		zstd) inc="exec:/tools/bin/zstd -dc $W/qemu.zstd";;
		esac
		i=0
		while [ $i -lt "$FB_RUNS" ]; do
			i=$((i + 1)); id=qr-$k-$i
			# shellcheck disable=SC2086
			FZ_BIN=$QEMU fz_start "$id" 300 $QARGS -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
				-append "$GCMD" -incoming "$inc"
			fz_wait "$id" tick= 180
			echo "$(elapsed "$id")" >>"$W/fb.$k.resume"
			echo "BENCH freeze vmm=qemu_$k run=$i resume_s=$(elapsed "$id")"
			[ -s "$W/$id.mark" ] || { echo "BENCH freeze vmm=qemu_$k run=$i resume failed rc=$(vmm_rc "$id")"; head -n 3 "$W/$id.err"; }
			fz_term "$id" 60
		done
	done
	rm -f "$W/qemu.raw" "$W/qemu.zstd"
}

[ -x "$TABI" ] && fb_tabi
[ -x "$QEMU" ] && fb_qemu
for x in bytes freeze resume; do
	for v in full tabi raw zstd; do eval "m_$v=\$(median <\"\$W/fb.$v.$x\" 2>/dev/null)"; eval "[ -n \"\$m_$v\" ] || m_$v=none"; done
	case $x in bytes) what="freeze bytes";; freeze) what="freeze seconds";; resume) what="resume seconds";; esac
	# shellcheck disable=SC2154
	echo "BENCH $what (full) tabi=$m_full qemu_raw=$m_raw qemu_zstd=$m_zstd ratio_vs_zstd=$(ratio "$m_full" "$m_zstd") ratio_vs_raw=$(ratio "$m_full" "$m_raw") (tabi: run 1, the freeze after the cold boot; QEMU: median of $FB_RUNS; target ratio_vs_zstd <= 0.5)"
	echo "BENCH $what (incremental) tabi=$m_tabi qemu_raw=$m_raw qemu_zstd=$m_zstd ratio_vs_zstd=$(ratio "$m_tabi" "$m_zstd") ratio_vs_raw=$(ratio "$m_tabi" "$m_raw") (tabi: median of runs 2..$FB_RUNS, each after a resume; QEMU: median of $FB_RUNS)"
done
