# Sourced by guest test scripts. say KEY VALUE -> "GUEST: KEY=VALUE", which
# the host half of the test parses from the console.
say() { k=$1; shift; echo "GUEST: $k=$*"; }

# wait_dev PATH [SECONDS]: device nodes appear when drivers probe.
wait_dev() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt $((${2:-5} * 10)) ]; do usleep 100000; i=$((i + 1)); done
	[ -e "$1" ]
}

# The disk pattern both halves generate: LEN bytes of a repeated line.
pattern() { yes "tabi-${1}-0123456789abcdef" | head -c "$2"; }

# Console commands, one per line. `read -t` throws away the bytes it had
# already taken when its deadline passes in the middle of a line, so a line
# that arrives just before the deadline is lost. Instead a background reader
# (a blocking read loses nothing) appends each line to $CMDS, and
# cmd_wait SECONDS sets $cmd to the next line, or to "" when none came.
CMDS=/tmp/console-cmds
cmd_reader() {
	: >"$CMDS"
	CMD_N=0
	exec 3<&0   # an asynchronous list's own stdin would be /dev/null
	( while IFS= read -r l; do printf '%s\n' "$l" >>"$CMDS"; done ) <&3 &
}
cmd_wait() {
	cmd=""
	_i=0
	while [ $_i -lt $(($1 * 10)) ]; do
		if [ "$(wc -l <"$CMDS")" -gt "$CMD_N" ]; then
			CMD_N=$((CMD_N + 1))
			cmd=$(sed -n "${CMD_N}p" "$CMDS")
			return 0
		fi
		usleep 100000
		_i=$((_i + 1))
	done
	return 1
}
