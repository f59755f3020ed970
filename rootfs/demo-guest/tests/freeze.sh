# Guest half of the "freeze" and "journey" system test groups (host:
# tests/system/host/freeze.sh, journey.sh, helpers in freeze_lib.sh).
# Expects /dev/vda (read-write, >= 16 MiB). Sets up, then obeys one-line
# commands the host types on the console (tabi's stdin):
#   v N    verify disk rounds 1..N, the buffer and the counter -> verified=N:ok|...
#   w N    write round N's marker to /dev/vda at N MiB, sync   -> wrote=N
#   m N    overwrite MiB N of the buffer with new random bytes  -> buf_md5=MD5
#   off    sync and power off
# Output (say KEY VALUE -> "GUEST: KEY=VALUE"):
#   buf_md5=MD5 counter_pid=PID ready=1 once; every second counter=PID:N and
#   epoch=SECONDS from the counter process.
. /tests/lib.sh
BUF=/tmp/buf
say userspace 1
wait_dev /dev/vda 10 || say error no_vda

# A checksummed 24 MiB buffer held in guest memory (tmpfs).
dd if=/dev/urandom of=$BUF bs=1048576 count=24 2>/dev/null
BUF_MD5=$(md5sum <$BUF | cut -d' ' -f1)
say buf_md5 "$BUF_MD5"

# The counter: a background shell loop; its PID must survive every journey.
(
	read -r me _ </proc/self/stat
	n=0
	while :; do
		n=$((n + 1))
		echo "$n" >/tmp/counter
		echo "GUEST: counter=$me:$n"
		echo "GUEST: epoch=$(date +%s)"
		sleep 1
	done
) &
CPID=$!
say counter_pid "$CPID"

marker() { yes "tabi-round-$1-0123456789abcdef" | head -c 65536; }
write_round() {
	if marker "$1" | dd of=/dev/vda bs=65536 seek=$((16 * $1)) oflag=direct conv=fsync 2>/tmp/werr; then
		sync; say wrote "$1"
	else
		say wrote "failed:$1:$(tail -n1 /tmp/werr | tr ' ' _)"
	fi
}
verify() {
	bad=""; r=1
	while [ "$r" -le "$1" ]; do
		want=$(marker "$r" | md5sum | cut -d' ' -f1)
		got=$(dd if=/dev/vda bs=65536 skip=$((16 * r)) count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
		[ "$want" = "$got" ] || bad="$bad,$r"
		r=$((r + 1))
	done
	say buf "$(md5sum <$BUF | cut -d' ' -f1)"
	kill -0 "$CPID" 2>/dev/null && say counter_alive "$CPID:$(cat /tmp/counter)" || say counter_alive "dead"
	if [ -z "$bad" ]; then say verified "$1:ok"; else say verified "$1:bad${bad}"; fi
}

write_round 1
say ready 1
while :; do
	if ! read -r cmd arg; then sleep 1; continue; fi
	case "$cmd" in
	v) verify "$arg";;
	w) write_round "$arg";;
	m) dd if=/dev/urandom of=$BUF bs=1048576 seek="$arg" count=1 conv=notrunc 2>/dev/null
	   say buf_md5 "$(md5sum <$BUF | cut -d' ' -f1)";;
	off) say bye 1; sync; kill "$CPID"; poweroff -f; sleep 10;;
	esac
done
