# Guest half of the "boot" system test group (host: tests/system/host/boot.sh).
# Expects: --cpus 2, /dev/vda read-write with the host's pattern "host" in
# its first MiB, /dev/vdb attached read-only, virtio-rng.
. /tests/lib.sh
say userspace 1
say epoch "$(date +%s)"
say cpus_online "$(cat /sys/devices/system/cpu/online)"
say cpus_cpuinfo "$(grep -c ^processor /proc/cpuinfo)"

# Disk A (/dev/vda): read the host's data, write ours at 1 MiB, read it back
# bypassing the page cache.
if wait_dev /dev/vda; then
	say vda_sectors "$(cat /sys/block/vda/size)"
	want=$(pattern host 1048576 | md5sum | cut -d' ' -f1)
	got=$(dd if=/dev/vda bs=65536 count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	[ "$want" = "$got" ] && say vda_hostdata ok || say vda_hostdata "mismatch:$got"
	pattern guest 1048576 >/tmp/p
	if dd if=/tmp/p of=/dev/vda bs=65536 seek=16 oflag=direct conv=fsync 2>/tmp/err; then
		sync; echo 3 >/proc/sys/vm/drop_caches
		want=$(md5sum </tmp/p | cut -d' ' -f1)
		got=$(dd if=/dev/vda bs=65536 skip=16 count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
		[ "$want" = "$got" ] && say vda_readback ok || say vda_readback "mismatch:$got"
	else
		say vda_readback "write-failed:$(tail -n1 /tmp/err)"
	fi
else
	say vda_sectors none
fi

# Disk B (/dev/vdb): read-only; a write must be refused.
if wait_dev /dev/vdb; then
	say vdb_sectors "$(cat /sys/block/vdb/size)"
	say vdb_ro_flag "$(cat /sys/block/vdb/ro)"
	pattern guest 65536 >/tmp/q
	if dd if=/tmp/q of=/dev/vdb bs=65536 count=1 oflag=direct conv=fsync 2>/tmp/err; then
		say vdb_write accepted
	else
		say vdb_write "refused:$(head -n1 /tmp/err | tr ' ' _)"
	fi
else
	say vdb_sectors none
fi

# virtio-rng.
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null || cat /sys/devices/virtual/misc/hw_random/rng_current 2>/dev/null)
say rng_current "${cur:-none}"
if [ -c /dev/hwrng ] && [ "$(timeout 10 dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c)" -eq 16 ]; then
	say rng_read ok
else
	say rng_read failed
fi
say epoch2 "$(date +%s)"
sync
poweroff -f
