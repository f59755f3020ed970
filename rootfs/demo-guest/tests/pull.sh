# Guest half of the pull (fault-injection) test: tests/system/pull.sh drives
# it, host half tests/system/host/pull_host.sh. Expects /dev/vda (read-write).
# Command line: pull.mb=MB  size of the random buffer kept in tmpfs (default 8).
# Output (say KEY VALUE -> "GUEST: KEY=VALUE"):
#   buf_md5=MD5 once at boot;
#   each step: chk=N:D:MD5  N the counter in memory, D the counter read back
#              from /dev/vda (O_DIRECT; "none" if unreadable), MD5 the buffer's
#              md5 now; D must equal N at the start of every step, whatever
#              freezes, resumes and pulls happened in between;
#              n=N            after N (= previous + 1) was written to /dev/vda
#                             (O_DIRECT + fsync) and is the counter in memory.
# Reads one-line commands from the console between steps:
#   off    sync and power off (ends the session)
. /tests/lib.sh
MB=8
for w in $(cat /proc/cmdline); do
	case "$w" in pull.mb=*) MB=${w#*=};; esac
done
say userspace 1
wait_dev /dev/vda 10 || say error no_vda
BUF=/tmp/buf
dd if=/dev/urandom of=$BUF bs=1048576 count="$MB" 2>/dev/null
M0=$(md5sum <$BUF | cut -d' ' -f1)
say buf_md5 "$M0"

SEEK=8   # 4 KiB block 8 of /dev/vda holds "pull-n=N"
wr() {
	echo "pull-n=$1" | dd of=/dev/vda bs=4096 seek=$SEEK count=1 conv=sync,fsync oflag=direct 2>/tmp/werr ||
		say error "write_failed:$1:$(tail -n1 /tmp/werr | tr ' ' _)"
}
rd() {
	dd if=/dev/vda bs=4096 skip=$SEEK count=1 iflag=direct 2>/dev/null | tr -d '\000' |
		sed -n 's/^pull-n=\([0-9][0-9]*\)$/\1/p'
}

n=0
wr 0
while :; do
	d=$(rd)
	m=$(md5sum <$BUF | cut -d' ' -f1)
	say chk "$n:${d:-none}:$m"
	n=$((n + 1))
	wr "$n"
	say n "$n"
	cmd=""
	read -r -t 1 cmd   # the console is a tty: a timeout, never end of input
	case "$cmd" in
	off) say bye "$n"; sync; poweroff -f; sleep 10;;
	esac
done
