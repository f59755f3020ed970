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
