# Host half of tests/system/bench.sh (not a pass/fail group: no #@ checks).
# Boot time = VMM launch -> the guest init's first console line
# ("tabi-guest: init"), for tabi and QEMU/KVM -M microvm and -M q35, same
# kernel, initrd, memory and CPUs; median of BENCH_RUNS each; ratios.
# Then (tabi.bench_parts has "freeze") the freeze/resume benchmark:
# freeze_bench.sh.
. /tests/host/lib.sh
RUNS=3; MEM=512M; CPUS=1; PARTS=boot,freeze
for w in $(cat /proc/cmdline); do
	case "$w" in
	tabi.bench_parts=*) PARTS=${w#*=};;
	tabi.bench_runs=*) RUNS=${w#*=};;
	tabi.bench_mem=*) MEM=${w#*=};;
	tabi.bench_cpus=*) CPUS=${w#*=};;
	esac
done
case ",$PARTS," in *,boot,*) ;; *) RUNS=0;; esac
if [ "$RUNS" -gt 0 ]; then
export MARK="tabi-guest: init" QUIET_CONSOLE=1
peers="microvm q35"
if [ -x "$TABI" ]; then all="tabi $peers"; else all=$peers; echo "BENCH note: no /bin/tabi in this host; peers only"; fi
[ -x "$QEMU" ] || { echo "BENCH note: no QEMU tools disk; tabi only"; all=tabi; [ -x "$TABI" ] || exit 1; }
for v in $all; do
	: >"$W/bench.$v"
	i=0
	while [ $i -lt "$RUNS" ]; do
		i=$((i + 1))
		case "$v" in
		tabi) TABI_VMM=tabi;;
		microvm) TABI_VMM=qemu; export QEMU_MACHINE=microvm,rtc=on;;
		q35) TABI_VMM=qemu; export QEMU_MACHINE=q35;;
		esac
		guest_run "b-$v-$i" bench 240 --mem "$MEM" --cpus "$CPUS"
		if [ -s "$W/b-$v-$i.mark" ]; then
			s=$(awk -v a="$(cat "$W/b-$v-$i.start")" -v b="$(cat "$W/b-$v-$i.mark")" 'BEGIN{printf "%.2f", b - a}')
			echo "$s" >>"$W/bench.$v"
			echo "BENCH boot vmm=$v run=$i seconds=$s"
		else
			echo "BENCH boot vmm=$v run=$i failed rc=$(vmm_rc "b-$v-$i")"
			tail -n 5 "$W/b-$v-$i.out"; head -n 3 "$W/b-$v-$i.err"
		fi
	done
	m=$(sort -n "$W/bench.$v" | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]}')
	echo "BENCH median vmm=$v seconds=${m:-none} runs=$(grep -c '' "$W/bench.$v")/$RUNS"
	eval "med_$v=\${m:-}"
done
for p in $peers; do
	eval "a=\${med_tabi:-}; b=\${med_$p:-}"
	[ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" -v p="$p" 'BEGIN{printf "BENCH ratio boot tabi/%s=%.2f\n", p, a / b}'
done
fi
case ",$PARTS," in *,freeze,*) . /tests/host/freeze_bench.sh;; esac
exit 0
