#!/bin/busybox sh
# /init of the nested test host (busybox, Debian's kernel, KVM as modules).
# Kernel command line:
#   tabi.script=NAME   run /tests/host/NAME.sh (none: a shell on the console)
#   tabi.phase=N       passed to the script as TABI_PHASE (multi-boot tests)
#   tabi.vmm=tabi|qemu which VMM the host library drives (qemu: self-test of
#                      the harness with the inner QEMU from the tools disk)
# Prints "TABI-HOST-DONE script=NAME rc=N" last, then powers off.
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o size=75% tmpfs /tmp
echo "HOST: init $(cut -d' ' -f1 /proc/uptime)s"
for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m" 2>/dev/null || case "$m" in
		crc32c-intel.ko) ;;   # needs SSE4.2; crc32c_generic covers it
		*) echo "HOST: insmod $m failed";;
	esac
done
hostname tabi-host

SCRIPT=""; TABI_PHASE=1; TABI_VMM=tabi
for w in $(cat /proc/cmdline); do
	case "$w" in
	tabi.script=*) SCRIPT=${w#*=};;
	tabi.phase=*) TABI_PHASE=${w#*=};;
	tabi.vmm=*) TABI_VMM=${w#*=};;
	esac
done
export TABI_PHASE TABI_VMM

i=0
while [ ! -e /dev/kvm ] && [ $i -lt 30 ]; do usleep 100000; i=$((i + 1)); done
if [ -e /dev/kvm ]; then echo "HOST: kvm=yes"; else echo "HOST: kvm=no"; fi

# Scratch disks from the outer QEMU, found by label.
mkdir -p /data /tools
sleep 0.2
for lbl in TABITEST:/data TABITOOLS:/tools; do
	dev=$(findfs "LABEL=${lbl%%:*}" 2>/dev/null) || continue
	if [ "${lbl%%:*}" = TABITOOLS ]; then opts=ro,noload; else opts=rw; fi
	mount -t ext4 -o "$opts" "$dev" "${lbl#*:}" && echo "HOST: mounted $dev on ${lbl#*:}"
done

rc=0
if [ -n "$SCRIPT" ]; then
	if [ -f "/tests/host/$SCRIPT.sh" ]; then
		echo "HOST: running $SCRIPT phase=$TABI_PHASE vmm=$TABI_VMM"
		sh "/tests/host/$SCRIPT.sh"; rc=$?
	else
		echo "HOST: no such script /tests/host/$SCRIPT.sh"; rc=127
	fi
else
	echo "HOST: no tabi.script=; shell on the console, 'exit' powers off"
	setsid cttyhack sh -l
fi
sync
grep -q " /data " /proc/mounts && umount /data
echo "TABI-HOST-DONE script=$SCRIPT phase=$TABI_PHASE rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
sleep 5
