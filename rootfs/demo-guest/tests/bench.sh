# Boot benchmark: nothing to do; init has printed its first line already.
. /tests/lib.sh
say bench 1
poweroff -f
