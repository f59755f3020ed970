# System test group "boot": tabi boots an unmodified Debian guest.
# Header lines (#@) are read by tests/system/run.sh on the build machine:
#@ checks: boot_userspace smp_2cpus disk_read_host_data disk_write_readback
#@ checks: disk_write_host_file disk_second_vdb disk_ro_refuses_write
#@ checks: rng_present clock_matches_host exit_poweroff exit_reboot
#@ checks: bad_missing_kernel bad_not_bzimage bad_mem_too_large bad_missing_disk
#@ boot: cpu=default
. /tests/host/lib.sh
have_vmm || exit 1

# ---- bad input: non-zero exit and exactly one line on stderr -----------------
# bad_input NAME ARGS...
bad_input() {
	local n rc lines first
	n=$1; shift
	QUIET_CONSOLE=1 vmm_run "$n" 30 run "$@"
	rc=$(vmm_rc "$n"); lines=$(grep -c '' "$W/$n.err"); first=$(head -n1 "$W/$n.err")
	if vmm_timed_out "$n"; then fail "$n" "still running after 30s"
	elif [ "$rc" = 0 ]; then fail "$n" "exit code 0"
	elif [ "$lines" -ne 1 ] || [ -z "$first" ]; then fail "$n" "rc=$rc, $lines lines on stderr (want exactly 1)"
	else pass "$n"; echo "HOST: [$n] rc=$rc stderr: $first"
	fi
}
if need_tabi bad_missing_kernel bad_not_bzimage bad_mem_too_large bad_missing_disk; then
	bad_input bad_missing_kernel --kernel /nonexistent/vmlinuz --initrd "$GUEST_INITRD" --session "$W/bad1.session"
	bad_input bad_not_bzimage --kernel /bin/busybox --initrd "$GUEST_INITRD" --session "$W/bad2.session"
	mem=$(( $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) * 4 ))M
	bad_input bad_mem_too_large --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --mem "$mem" --session "$W/bad3.session"
	bad_input bad_missing_disk --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --disk /nonexistent/disk.img --session "$W/bad4.session"
fi
# ---- one guest boot: SMP, disks, rng, clock, poweroff ----------------------
A=$W/disk-a.img; B=$W/disk-b.img
rm -f "$A" "$B"
truncate -s 64M "$A"; truncate -s 16M "$B"
pattern host 1048576 | dd of="$A" conv=notrunc 2>/dev/null
pattern ro 1048576 | dd of="$B" conv=notrunc 2>/dev/null
b_before=$(md5 <"$B")

guest_run basic basic "$VMM_TIMEOUT" --mem 256M --cpus 2 --disk "$A" --disk "$B$DISK_RO_SUFFIX"
rc=$(vmm_rc basic)

check_eq boot_userspace "$(guest_val basic userspace)" 1 "guest userspace reached"
online=$(guest_val basic cpus_online); ncpu=$(guest_val basic cpus_cpuinfo)
check smp_2cpus "online='$online' cpuinfo=$ncpu, want 0-1 and 2" [ "$online" = 0-1 -a "$ncpu" = 2 ]
check_eq disk_read_host_data "$(guest_val basic vda_hostdata)" ok "guest read of host-written vda"
check_eq disk_write_readback "$(guest_val basic vda_readback)" ok "guest write+direct read of vda"
want=$(pattern guest 1048576 | md5)
got=$(dd if="$A" bs=65536 skip=16 count=16 2>/dev/null | md5)
sz=$(guest_val basic vda_sectors)
check disk_write_host_file "disk file after exit: md5 $got want $want; guest saw $sz sectors (want 131072)" \
	[ "$got" = "$want" -a "$sz" = 131072 ]
check_eq disk_second_vdb "$(guest_val basic vdb_sectors)" 32768 "/dev/vdb sectors"
vw=$(guest_val basic vdb_write); b_after=$(md5 <"$B")
case "$vw" in
refused*) check disk_ro_refuses_write "guest write refused but the file changed" [ "$b_after" = "$b_before" ];;
*) fail disk_ro_refuses_write "guest write to read-only vdb: '${vw:-no report}' (ro flag '$(guest_val basic vdb_ro_flag)'), file changed: $([ "$b_after" = "$b_before" ] && echo no || echo yes)";;
esac
cur=$(guest_val basic rng_current); rr=$(guest_val basic rng_read)
case "$cur" in
virtio_rng*) check_eq rng_present "$rr" ok "read of /dev/hwrng";;
*) fail rng_present "rng_current='$cur', want virtio_rng.N";;
esac
ge=$(guest_val basic epoch); ht=$(guest_time basic epoch)
if [ -n "$ge" ] && [ -n "$ht" ]; then
	d=$((ge - ht)); [ $d -lt 0 ] && d=$((-d))
	check clock_matches_host "guest date $ge, host $ht: ${d}s apart (max $CLOCK_TOLERANCE)" [ $d -le "$CLOCK_TOLERANCE" ]
else
	fail clock_matches_host "guest printed no epoch"
fi
if vmm_timed_out basic; then
	fail exit_poweroff "guest did not end: killed after ${VMM_TIMEOUT}s"
elif is_tabi; then
	check_eq exit_poweroff "$rc" "$EXIT_POWEROFF" "exit code after guest poweroff"
else
	check_eq exit_poweroff "$rc" 0 "qemu exit code after guest poweroff"
fi

# ---- guest reboot -> EXIT_REBOOT ----------------------------------------------
guest_run reboot reboot "$VMM_TIMEOUT" --mem 256M --cpus 1
rc=$(vmm_rc reboot)
if [ "$(guest_val reboot alive)" != 1 ]; then
	fail exit_reboot "guest never reached its reboot test (rc=$rc)"
elif vmm_timed_out reboot; then
	fail exit_reboot "tabi did not exit after guest reboot: killed after ${VMM_TIMEOUT}s"
elif is_tabi; then
	check_eq exit_reboot "$rc" "$EXIT_REBOOT" "exit code after guest reboot"
else
	check_eq exit_reboot "$rc" 0 "qemu -no-reboot exit code after guest reboot"
fi

exit 0
