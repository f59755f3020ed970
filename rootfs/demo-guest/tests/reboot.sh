# Guest half of the reboot-exit check: report, then reboot.
. /tests/lib.sh
say alive 1
reboot -f
