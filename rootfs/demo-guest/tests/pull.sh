# Guest half of the pull (fault-injection) test: tests/system/pull.sh drives
# it, host half tests/system/host/pull_host.sh. Expects /dev/vda (read-write).
# Command line: pull.mb=MB  size of the random buffer kept in tmpfs (default 8).
# Output (say KEY VALUE -> "GUEST: KEY=VALUE"):
#   buf_md5=MD5 once at boot;
#   each step: chk=N:D:MD5:H  N the counter in memory, D the counter read back
#              from /dev/vda (O_DIRECT; "none" if unreadable), MD5 the buffer's
#              md5 now; H "ok" when each of the K history slots holds the
#              newest M <= N with M mod K = slot (else the slots that differ);
#              D must equal N and H be ok at the start of every step,
#              whatever freezes, resumes and pulls happened in between (the
#              slots lie in different 64 KiB clusters, so a generation's disk
#              delta holds only some of them: a lost or extra delta shows);
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

# History slot S: 4 KiB at 1 MiB + S * 64 KiB, "sS=M".
K=8
wr_slot() {
	echo "s$(($1 % K))=$1" | dd of=/dev/vda bs=4096 seek=$((256 + ($1 % K) * 16)) count=1 \
		conv=sync,fsync oflag=direct 2>/dev/null || say error "slot_write_failed:$1"
}
hist() {
	dd if=/dev/vda bs=65536 skip=16 count=$K iflag=direct 2>/dev/null | tr -d '\000' |
		awk -v n="$1" -v k=$K -F= '/^s[0-9]+=[0-9]+$/ { got[substr($1, 2)] = $2 }
		END { for (s = 0; s < k; s++) {
			w = n - ((n - s) % k + k) % k; if (w < 1) w = ""
			if (got[s] != w) { b = b sep s "=" got[s] "/" w; sep = "," } }
			print (b == "") ? "ok" : b }'
}

n=0
wr 0
cmd_reader
while :; do
	d=$(rd)
	m=$(md5sum <$BUF | cut -d' ' -f1)
	say chk "$n:${d:-none}:$m:$(hist "$n")"
	n=$((n + 1))
	wr_slot "$n"
	wr "$n"
	say n "$n"
	cmd_wait 1
	case "$cmd" in
	off) say bye "$n"; sync; poweroff -f; sleep 10;;
	esac
done
