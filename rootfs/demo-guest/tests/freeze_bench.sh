# Guest half of the freeze benchmark (host: tests/system/host/freeze_bench.sh).
# The data generator both VMMs' guests run: tabi.fill_mb=N (default 100)
# MiB each of random bytes, text-like bytes (random bytes mapped onto letters,
# spaces and newlines with English-like frequencies: compressible about 2x)
# and a repeated line, in tmpfs. Then "GUEST: filled=MB seconds=S" and a
# tick every 0.1 s ("GUEST: tick=N"): the host times resume to the first tick.
. /tests/lib.sh
MB=100
for w in $(cat /proc/cmdline); do case "$w" in tabi.fill_mb=*) MB=${w#*=};; esac; done
rep() { i=0; while [ $i -lt "$2" ]; do printf '%s' "$1"; i=$((i + 1)); done; }
# 256 entries: the byte -> character map for tr.
MAP="$(rep ' ' 40)$(rep e 28)$(rep t 20)$(rep a 17)$(rep o 16)$(rep i 15)$(rep n 15)$(rep s 13)$(rep h 13)$(rep r 12)$(rep d 9)$(rep l 8)$(rep c 6)$(rep u 6)$(rep m 5)$(rep w 5)$(rep f 5)$(rep g 4)$(rep y 4)$(rep p 4)$(rep b 3)$(rep v 2)$(rep k 2)$(rep '\n' 4)"
t0=$(cut -d' ' -f1 /proc/uptime)
mkdir -p /tmp/fill
dd if=/dev/urandom of=/tmp/fill/random bs=1048576 count="$MB" 2>/dev/null
dd if=/dev/urandom bs=1048576 count="$MB" 2>/dev/null | tr '\000-\377' "$MAP" >/tmp/fill/text
yes "tabi-pattern-0123456789abcdef" | head -c $((MB * 1048576)) >/tmp/fill/pattern
t1=$(cut -d' ' -f1 /proc/uptime)
say fill_sizes "$(ls -l /tmp/fill | awk 'NR > 1 {printf "%s:%s ", $NF, $5}')"
say filled "$MB seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}')"
n=0
while :; do
	n=$((n + 1))
	echo "GUEST: tick=$n"
	usleep 100000
done
