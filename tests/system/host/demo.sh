# Host half of tests/system/demo.sh (no #@ checks: not a test group).
# Runs the demo guest (clock + counter + shell) on the console for
# tabi.demo_seconds, then it powers off. Console input goes to the guest.
. /tests/host/lib.sh
SECS=35
for w in $(cat /proc/cmdline); do case "$w" in tabi.demo_seconds=*) SECS=${w#*=};; esac; done
if is_tabi; then v=$TABI; else v=/tests/host/tabi-qemu.sh; fi
have_vmm || exit 1
echo "[demo] nested host up at $(now)s: KVM is $( [ -e /dev/kvm ] && echo available || echo MISSING )"
echo "[demo] starting: $(basename "$v") run --kernel (Debian $(cat /etc/tabi-host-kernel)) --initrd (busybox demo) --cpus 2 --mem 512M"
echo "[demo] the guest shows a clock and a counter for ${SECS}s, with a shell on the console"
truncate -s 64M "$W/demo-disk.img"
timeout -s KILL $((SECS + 240)) "$v" run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE tabi.demo_seconds=$SECS" --cpus 2 --mem 512M \
	--disk "$W/demo-disk.img" --session "$W/demo.session"
rc=$?
echo "[demo] the guest powered off; the VMM exited with code $rc (guest poweroff is $EXIT_POWEROFF)"
exit 0
