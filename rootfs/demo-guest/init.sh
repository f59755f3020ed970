#!/bin/busybox sh
# /init of the tabi demo/test guest (busybox). The first line it prints,
# "tabi-guest: init", is what the boot benchmark times.
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
echo "tabi-guest: init"
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=${TERM:-linux}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m" 2>/dev/null || echo "tabi-guest: insmod $m failed"
done
hostname tabi-guest

T=""; DEMO_SECONDS=0
for w in $(cat /proc/cmdline); do
	case "$w" in
	tabi.test=*) T=${w#*=};;
	tabi.demo_seconds=*) DEMO_SECONDS=${w#*=};;
	esac
done

if [ -n "$T" ]; then
	echo "tabi-guest: running test $T"
	if [ -f "/tests/$T.sh" ]; then
		sh "/tests/$T.sh"; rc=$?
	else
		echo "tabi-guest: no such test /tests/$T.sh"; rc=127
	fi
	echo "GUEST: test_done=$T rc=$rc"
	sync
	poweroff -f
	sleep 10
fi

# The demo: a clock and a counter alive on the console, and a shell.
echo "tabi-guest: demo ($(grep -c ^processor /proc/cpuinfo) CPUs, $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) MiB)"
(
	n=0
	while :; do
		n=$((n + 1))
		echo "demo: $(date '+%Y-%m-%d %H:%M:%S') counter=$n uptime=$(cut -d' ' -f1 /proc/uptime)"
		if [ "$DEMO_SECONDS" -gt 0 ] && [ "$n" -ge "$DEMO_SECONDS" ]; then
			echo "demo: $n seconds shown, powering off"
			sync; poweroff -f
		fi
		sleep 1
	done
) &
echo "tabi-guest: shell on the console (the clock keeps ticking above it)"
while :; do
	setsid cttyhack sh -l
	sleep 1
done
