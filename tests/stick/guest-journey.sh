# Guest half of the stick journey test (tests/stick/run.sh), appended to the
# demo guest's initramfs as /tests/stick-journey.sh; run by the demo guest's
# /init for tabi.test=stick-journey. Reports "GUEST: KEY=VALUE" lines.
#  - fills 16 MiB of RAM (tmpfs) with random data and reports its checksum;
#  - writes a random token to the first sector of /dev/vda (the stick's guest
#    disk) and reports it;
#  - then ticks once a second ("GUEST: tick=N") and answers console commands:
#    every 5th tick and on "check" it re-reads both (the disk bypassing the
#    page cache) and reports them; "poweroff" ends the test (the demo init
#    powers the guest off).
. /tests/lib.sh
dd if=/dev/urandom of=/tmp/mem bs=1M count=16 2>/dev/null
say memsum "$(md5sum </tmp/mem | cut -d' ' -f1)"
token=$(dd if=/dev/urandom bs=8 count=1 2>/dev/null | md5sum | cut -c1-16)
if wait_dev /dev/vda; then
	printf 'tabi-stick-token=%s\n' "$token" | dd of=/dev/vda bs=512 conv=sync,fsync oflag=direct 2>/dev/null
	sync
	say token "$token"
else
	say token none
fi
check() {
	say check_memsum "$(md5sum </tmp/mem | cut -d' ' -f1)"
	d=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0' | sed -n 's/^tabi-stick-token=//p')
	say check_token "${d:-none}"
	say check_done "$n"
}
say ready 1
cmd_reader
n=0
while :; do
	n=$((n + 1))
	say tick "$n"
	cmd_wait 1
	# Every 5th tick, and on "check", re-read memory and disk.
	case "$cmd" in *check*) check;; *poweroff*) say bye "$n"; break;; esac
	[ $((n % 5)) = 0 ] && check
done
