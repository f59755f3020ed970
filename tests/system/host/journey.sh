# System test group "journey": one session carried between two "PCs"
# and back (outer boots with different CPU models sharing the /data scratch
# disk). Opteron_G4 needs -avx,-xsave: with them QEMU 7.2 TCG hangs Debian's
# 6.1 kernel early in boot (so does Opteron_G5); it is still x86-64-v2.
# Template for the freeze/resume tests: phase 1 runs on boot line 1, phase 2
# on boot line 2; /data (ext4, like the stick's data partition) persists.
# For now it checks the harness itself: /data carries over and the CPU changed.
#@ checks: harness_cpu_switch
#@ boot: cpu=EPYC,+svm,+npt
#@ boot: cpu=Opteron_G4,+svm,+npt,-avx,-xsave
#@ boot: cpu=EPYC,+svm,+npt
. /tests/host/lib.sh
model() { sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1; }
case "$TABI_PHASE" in
1)
	model >/data/phase1.cpu
	# Freeze/resume tests: tabi run ... --session /data/s & ; wait for the
	# guest; kill -TERM it; check exit code $EXIT_FROZEN and the session.
	;;
2)
	before=$(cat /data/phase1.cpu 2>/dev/null); after=$(model)
	echo "HOST: phase 1 CPU '$before', phase 2 CPU '$after'"
	# Freeze/resume tests: tabi resume --session /data/s; check the guest.
	if [ -z "$before" ]; then fail harness_cpu_switch "/data did not carry phase 1's file"
	elif [ "$before" = "$after" ]; then fail harness_cpu_switch "same CPU model in both boots: '$after'"
	elif [ ! -e /dev/kvm ]; then fail harness_cpu_switch "no /dev/kvm on '$after'"
	else pass harness_cpu_switch
	fi
	model >/data/phase2.cpu;;
3)
	# Back on the first PC: tabi resume --session /data/s again.
	[ "$(model)" = "$(cat /data/phase1.cpu)" ] || echo "HOST: phase 3 CPU differs from phase 1"
	;;
esac
exit 0
