#!/bin/sh
# The stick's tests: mkusb.sh's options and refusals (fake sysfs, no real
# devices), the layout and its reproducibility, --update, and boots of the
# image as USB storage in QEMU "PCs" (TCG, AMD CPU with SVM, KVM inside):
#   Secure Boot (OVMF, enforcing): boots, KVM, guest runs, Ctrl-A x freezes;
#   the journey: PC A (SeaBIOS, EPYC) runs the guest, the power button freezes
#   it onto the stick; PC B (OVMF, Opteron_G4) resumes it: the counter goes on,
#   a 16 MiB memory checksum and a token on the guest disk are unchanged; the
#   guest powers off, the session ends and the PC powers off;
#   autosave and a pull: a stick made with --autosave saves while the guest
#   runs (the second save incremental); PC C is killed (the stick pulled)
#   right after a save, and PC D resumes exactly that save.
#   tests/stick/run.sh [--quick]    (--quick: no QEMU boots)
# Prints "CHECK name PASS|FAIL ..." per check, then "N passed, N failed".
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
# PC B is "another PC": Opteron_G4 under QEMU TCG needs -avx,-xsave or its
# 6.1 kernel hangs early in boot (TCG, not tabi); it is still x86-64-v2.
PC_B_CPU=${PC_B_CPU:-Opteron_G4,+svm,+npt,-avx,-xsave}
QUICK=0; [ "${1:-}" = --quick ] && QUICK=1
P=0; F=0
pass() { P=$((P + 1)); echo "CHECK $1 PASS"; }
fail() { F=$((F + 1)); n=$1; shift; echo "CHECK $n FAIL $*"; }
check() { n=$1; r=$2; shift 2; if "$@" >/dev/null 2>&1; then pass "$n"; else fail "$n" "$r"; fi; }
# power_freeze_check NAME PC: after the power button (or the hotkey), the PC
# must say "safe to remove" and power off, with tabi exiting by itself (not
# stopped by /init's watchdog).
power_freeze_check() {
	if pc_wait "$2" "safe to remove" 150 && pc_wait_exit "$2" 30 &&
	   ! pc_console "$2" | grep -aq "tabi did not exit"; then
		pass "$1"
	else
		fail "$1" "no clean 'safe to remove' + power off: $(pc_console "$2" | grep -a 'tabi-stick' | tail -n1)"
	fi
}
log() { echo "[stick] $*"; }
T0=$(date +%s)
finish() {
	log "total $(( $(date +%s) - T0 ))s"
	echo "$P passed, $F failed"
	[ $F -eq 0 ]
	exit
}
MK=$ROOT/mkusb.sh
T=$OUT/t; rm -rf "$T"; mkdir -p "$T"
export SOURCE_DATE_EPOCH=1700000000

if [ ! -x "$ROOT/build/tabi" ]; then
	fail tabi_built "build/tabi is missing: run 'make tabi'"
	finish
fi

# ---- options -------------------------------------------------------------------------
out=$("$MK" --help 2>&1); rc=$?
miss=""
for o in --image --size --device --update --yes --force --guest-kernel --guest-initrd --guest-disk --cmdline --mem --cpus --autosave; do
	echo "$out" | grep -q -- "$o" || miss="$miss $o"
done
check help "rc=$rc, missing:$miss" test $rc = 0 -a -z "$miss"
# bad_usage NAME WANT-RC ARGS...: one line on stderr, exit WANT-RC, nothing made.
bad_usage() {
	n=$1; want=$2; shift 2
	"$MK" "$@" >"$T/o" 2>"$T/e"; rc=$?
	lines=$(wc -l <"$T/e")
	if [ $rc = "$want" ] && [ "$lines" = 1 ] && [ ! -s "$T/o" ]; then pass "$n"
	else fail "$n" "rc=$rc (want $want), $lines stderr lines: $(head -c 200 "$T/e")"; fi
}
bad_usage opt_unknown 2 --image "$T/x.img" --frobnicate
bad_usage opt_no_target 2 --mem 512M
bad_usage opt_two_targets 2 --image "$T/x.img" --device /dev/null
bad_usage opt_missing_value 2 --image
bad_usage opt_bad_size 2 --image "$T/x.img" --size lots
bad_usage opt_bad_cpus 2 --image "$T/x.img" --cpus zero
bad_usage opt_bad_mem 2 --image "$T/x.img" --mem much
bad_usage opt_update_guest 2 --update --image "$T/x.img" --mem 1G
bad_usage missing_kernel 1 --image "$T/x.img" --guest-kernel "$T/nonexistent"
bad_usage missing_initrd 1 --image "$T/x.img" --guest-kernel /dev/null --guest-initrd "$T/nonexistent"
bad_usage missing_disk 1 --image "$T/x.img" --guest-disk "$T/nonexistent.img"
bad_usage update_no_image 1 --update --image "$T/nonexistent.img"
check no_image_left "a refused run left $T/x.img" test ! -e "$T/x.img"

# ---- device refusals (fake sysfs and /proc) --------------------------------------------
FS=$T/sys; FP=$T/proc; D=$T/dev
mkdir -p "$FS/block/sdz/device" "$FS/block/sdy" "$FS/block/sdx" "$FS/block/sdw" "$FS/class/block/sdz1" "$FP" "$D"
echo 1 >"$FS/block/sdz/removable"; echo 2097152 >"$FS/block/sdz/size"
echo "TABI    " >"$FS/block/sdz/device/vendor"; echo "FakeStick" >"$FS/block/sdz/device/model"
echo 0 >"$FS/block/sdy/removable"; echo 2097152 >"$FS/block/sdy/size"
echo 1 >"$FS/block/sdx/removable"; echo 2097152 >"$FS/block/sdx/size"
echo 1 >"$FS/block/sdw/removable"; echo 2097152 >"$FS/block/sdw/size"
: >"$FS/class/block/sdz1/partition"
for d in sdz sdy sdx sdw sdz1; do truncate -s 1G "$D/$d"; done
printf '%s / ext4 rw 0 0\n%s /media/usb vfat rw 0 0\n' "$D/sdw2" "$D/sdx1" >"$FP/mounts"
printf 'Filename Type Size Used Priority\n' >"$FP/swaps"
# refuse NAME PATTERN ARGS...: exit 1, one line naming the problem, device untouched.
refuse() {
	n=$1; pat=$2; shift 2
	TABI_SYSFS=$FS TABI_PROC=$FP setsid "$MK" "$@" </dev/null >"$T/o" 2>"$T/e"; rc=$?
	if [ $rc = 1 ] && [ "$(wc -l <"$T/e")" = 1 ] && grep -q -- "$pat" "$T/e" && [ "$(du -k "$D/sdz" | cut -f1)" = 0 ]; then pass "$n"
	else fail "$n" "rc=$rc: $(head -c 300 "$T/e")"; fi
}
refuse refuse_not_removable "not a removable" --device "$D/sdy" --yes
refuse refuse_mounted "is mounted" --device "$D/sdx" --yes --force
refuse refuse_running_system "running system" --device "$D/sdw" --yes --force
refuse refuse_partition "is a partition" --device "$D/sdz1" --yes
refuse refuse_no_such "no such device" --device "$D/sdv" --yes
refuse refuse_unconfirmed "add --yes" --device "$D/sdz"
# Answering anything but "yes" leaves it untouched (script(1) gives a terminal).
if command -v script >/dev/null 2>&1; then
	echo no | TABI_SYSFS=$FS TABI_PROC=$FP script -qec "$MK --device $D/sdz" /dev/null >"$T/o" 2>&1; rc=$?
	if grep -q 'Type "yes"' "$T/o" && grep -q "untouched" "$T/o" && [ "$(du -k "$D/sdz" | cut -f1)" = 0 ]; then pass refuse_answer_no
	else fail refuse_answer_no "rc=$rc: $(tr -d '\r' <"$T/o" | tail -n2)"; fi
fi
# --force overrides "not removable" only; then a "device" (a file here) is written with progress.
TABI_SYSFS=$FS TABI_PROC=$FP "$MK" --device "$D/sdy" --yes --force >"$T/o" 2>"$T/e"; rc=$?
if [ $rc = 0 ] && grep -q "MiB/s" "$T/e" && grep -q "left" "$T/e" && sfdisk -d "$D/sdy" 2>/dev/null | grep -q "type=83"; then pass device_write_progress
else fail device_write_progress "rc=$rc: $(tail -n2 "$T/e")"; fi
dlabel=$(e2label "$D/sdy?offset=$((264192 * 512))" 2>/dev/null || dumpe2fs -h "$D/sdy?offset=$((264192 * 512))" 2>/dev/null | sed -n 's/^Filesystem volume name: *//p')
check device_layout "data label '$dlabel'" test "$dlabel" = TABIDATA

# ---- the test image: the demo guest + the journey script, a guest disk ------------------
KV=$(kmods_kver) || finish
GK=$(kmods_kernel "$KV")
log "building the guest initramfs (demo guest + tests/stick/guest-journey.sh)"
"$ROOT/rootfs/demo-guest/build.sh" "$T/demo.cpio.gz" >"$T/guest.log" 2>&1 || { fail guest_build "$(tail -n1 "$T/guest.log")"; finish; }
mkdir -p "$T/extra/tests"; cp "$STICK_DIR/guest-journey.sh" "$T/extra/tests/stick-journey.sh"
( cd "$T/extra" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible ) | gzip -n >"$T/extra.cpio.gz"
cat "$T/demo.cpio.gz" "$T/extra.cpio.gz" >"$T/guest.cpio.gz"
truncate -s 16M "$T/gdisk.img"
mkimg() {
	_img=$1; shift
	"$MK" --image "$_img" --size 1G --guest-kernel "$GK" --guest-initrd "$T/guest.cpio.gz" \
		--guest-disk "$T/gdisk.img" --cmdline "console=ttyS0 quiet tabi.test=stick-journey" \
		--mem 256M --cpus 2 --host-append "tabi.onerror=poweroff tabi.wait=60" "$@"
}
IMG=$OUT/test.img
t=$(date +%s)
mkimg "$IMG" >"$T/mk.log" 2>&1; rc=$?
check image_build "rc=$rc: $(tail -n1 "$T/mk.log")" test $rc = 0
[ $rc = 0 ] || finish
log "mkusb.sh --image took $(( $(date +%s) - t ))s"

# ---- layout --------------------------------------------------------------------------
sf=$(sfdisk -d "$IMG" 2>/dev/null)
echo "$sf" | grep -q "start= *2048, size= *262144, type=c, bootable" && echo "$sf" | grep -q "type=83" && [ "$(echo "$sf" | grep -c 'start=')" = 2 ]
check layout_mbr "$(echo "$sf" | grep start=)" [ $? = 0 ]
check layout_mbr_code "first 440 bytes differ from mbr.bin" cmp -s -n 440 "$IMG" /usr/lib/syslinux/mbr/mbr.bin
P1=$((2048 * 512)); P2=$((264192 * 512))
dd if="$IMG" of="$T/p1.fat" bs=1M skip=1 count=128 status=none
check layout_fat_fsck "fsck.fat: $(fsck.fat -n "$T/p1.fat" 2>&1 | tail -n1)" fsck.fat -n "$T/p1.fat"
check layout_fat_backup_boot "sector 6 != sector 0" sh -c "cmp -s -n 512 '$T/p1.fat' -i 0:3072 '$T/p1.fat'"
lbl=$(MTOOLS_SKIP_CHECK=1 mlabel -s -i "$T/p1.fat" :: 2>/dev/null | sed 's/.* is //; s/ *$//')
check layout_fat_label "label '$lbl'" test "$lbl" = TABIBOOT
check layout_fat32 "not FAT32" sh -c "dd if='$T/p1.fat' bs=1 skip=82 count=5 status=none | grep -q FAT32"
rm -rf "$T/bootfiles"; mkdir -p "$T/bootfiles"
MTOOLS_SKIP_CHECK=1 mcopy -s -n -i "$T/p1.fat" ::/ "$T/bootfiles/" 2>/dev/null
B=$T/bootfiles
miss=""
for f in ldlinux.sys ldlinux.c32 syslinux.cfg tabi/vmlinuz tabi/initrd.gz EFI/BOOT/BOOTX64.EFI EFI/BOOT/mmx64.efi EFI/BOOT/grubx64.efi EFI/debian/grub.cfg; do
	[ -s "$B/$f" ] || miss="$miss $f"
done
check layout_boot_files "missing:$miss" test -z "$miss"
check layout_shim "BOOTX64.EFI is not Debian's signed shim" cmp -s "$B/EFI/BOOT/BOOTX64.EFI" /usr/lib/shim/shimx64.efi.signed
check layout_signed_grub "grubx64.efi is not Debian's signed grub" cmp -s "$B/EFI/BOOT/grubx64.efi" /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
check layout_no_fallback "fbx64.efi is on the stick" test -z "$(find "$B" -iname 'fbx64*')"
check layout_host_kernel "tabi/vmlinuz is not Debian's kernel" cmp -s "$B/tabi/vmlinuz" "$GK"
bkb=$(du -sk "$B" | cut -f1)
check boot_size_40MiB "boot files take ${bkb} KiB" test "$bkb" -le 40960
log "boot partition contents: ${bkb} KiB"
grep -q "console=tty0 console=ttyS0" "$B/syslinux.cfg" && grep -q "console=tty0 console=ttyS0" "$B/EFI/debian/grub.cfg"
check host_consoles "syslinux.cfg/grub.cfg lack console=tty0 console=ttyS0" [ $? = 0 ]
zcat "$B/tabi/initrd.gz" | cpio -t --quiet 2>/dev/null >"$T/initrd.list"
miss=""
for f in init bin/busybox bin/tabi lib/modules/usb-storage.ko lib/modules/uas.ko lib/modules/sd_mod.ko lib/modules/xhci-pci.ko \
	lib/modules/ehci-pci.ko lib/modules/ohci-pci.ko lib/modules/uhci-hcd.ko lib/modules/ext4.ko lib/modules/vfat.ko \
	lib/modules/kvm.ko lib/modules/kvm-intel.ko lib/modules/kvm-amd.ko lib/modules/button.ko lib/modules/evdev.ko; do
	grep -qx "$f" "$T/initrd.list" || miss="$miss $f"
done
check host_initrd_contents "missing:$miss" test -z "$miss"
bad=$(grep -E 'ahci|nvme|libata|mmc|virtio_blk|sr_mod' "$T/initrd.list" | tr '\n' ' ')
check host_initrd_no_internal_disks "has:$bad" test -z "$bad"
dbg() { debugfs -R "$1" "$IMG?offset=$P2" 2>/dev/null; }
e2lbl=$(dumpe2fs -h "$IMG?offset=$P2" 2>/dev/null | sed -n 's/^Filesystem volume name: *//p')
check layout_data_label "label '$e2lbl'" test "$e2lbl" = TABIDATA
check layout_data_fsck "e2fsck: $(e2fsck -fn "$IMG?offset=$P2" 2>&1 | tail -n1)" e2fsck -fn "$IMG?offset=$P2"
conf=$(dbg "cat /tabi.conf")
echo "$conf" | grep -q "^MEM=256M" && echo "$conf" | grep -q "^CPUS=2" && echo "$conf" | grep -q "tabi.test=stick-journey" && echo "$conf" | grep -q "guest/disk0.img"
check layout_guest_conf "tabi.conf: $(echo "$conf" | grep -v '^#' | tr '\n' ' ')" [ $? = 0 ]
dbg "ls -l /guest" >"$T/guest.ls"
check layout_guest_files "$(tr '\n' ' ' <"$T/guest.ls")" sh -c "grep -q vmlinuz '$T/guest.ls' && grep -q initrd.gz '$T/guest.ls' && grep -q disk0.img '$T/guest.ls'"

# ---- reproducible -----------------------------------------------------------------------
mkimg "$T/again.img" >"$T/mk2.log" 2>&1
if cmp -s "$IMG" "$T/again.img"; then pass reproducible_bytes
else
	fail reproducible_bytes "the two images differ at $(cmp "$IMG" "$T/again.img" 2>&1 | head -n1)"
fi
sfa=$(sfdisk -d "$IMG" | grep -v '^device:' | sed 's|^[^ ]*img|P|'); sfb=$(sfdisk -d "$T/again.img" | grep -v '^device:' | sed 's|^[^ ]*img|P|')
check reproducible_table "partition tables differ" test "$sfa" = "$sfb"
lista=$(MTOOLS_SKIP_CHECK=1 mdir -/ -a -i "$IMG@@$P1" :: 2>/dev/null); listb=$(MTOOLS_SKIP_CHECK=1 mdir -/ -a -i "$T/again.img@@$P1" :: 2>/dev/null)
check reproducible_boot_files "boot file lists differ" test "$lista" = "$listb"
lista=$(debugfs -R "ls -l -p /guest" "$IMG?offset=$P2" 2>/dev/null); listb=$(debugfs -R "ls -l -p /guest" "$T/again.img?offset=$P2" 2>/dev/null)
check reproducible_data_files "data file lists differ" test "$lista" = "$listb"
rm -f "$T/again.img"

# ---- --update keeps the session --------------------------------------------------------
cp --sparse=always "$IMG" "$T/upd.img"
echo "session marker" >"$T/marker"
debugfs -w -R "write $T/marker /session/marker" "$T/upd.img?offset=$P2" >/dev/null 2>&1
dd if="$T/upd.img" bs=1M skip=129 status=none | md5sum >"$T/data.before"
"$MK" --update --image "$T/upd.img" --host-append "tabi.updated=1" >"$T/o" 2>"$T/e"; rc=$?
dd if="$T/upd.img" bs=1M skip=129 status=none | md5sum >"$T/data.after"
g=$(MTOOLS_SKIP_CHECK=1 mtype -i "$T/upd.img@@$P1" ::/EFI/debian/grub.cfg 2>/dev/null)
if [ $rc = 0 ] && echo "$g" | grep -q tabi.updated=1 && cmp -s "$T/data.before" "$T/data.after" &&
	[ "$(debugfs -R "cat /session/marker" "$T/upd.img?offset=$P2" 2>/dev/null)" = "session marker" ]; then pass update_keeps_session
else fail update_keeps_session "rc=$rc $(cat "$T/e")"; fi
dd if=/dev/zero of="$T/upd.img" bs=512 seek=2048 count=1 conv=notrunc status=none
"$MK" --update --image "$T/upd.img" >"$T/o" 2>"$T/e"; rc=$?
check update_refuses_non_stick "rc=$rc $(cat "$T/e")" test $rc = 1 -a "$(wc -l <"$T/e")" = 1
rm -f "$T/upd.img"

[ $QUICK = 1 ] && finish

# ---- Secure Boot: boots, KVM, the guest runs, Ctrl-A x freezes -----------------------------
gens() { debugfs -R "ls /session" "$1?offset=$P2" 2>/dev/null | tr -s ' \n' '\n\n' | grep -c '^gen-.*\.tabi$'; }
SB=$OUT/sb.img; cp --sparse=always "$IMG" "$SB"
log "PC S: OVMF Secure Boot enforcing, -cpu EPYC,+svm,+npt (log $OUT/S.log)"
t=$(now)
pc_start S secboot "EPYC,+svm,+npt" "$SB"
pc_wait S "tabi-stick: .*init" 120; check secboot_host_init "no host /init line ($(elapsed "$t")s)" [ $? = 0 ]
log "PC S: host /init after $(elapsed "$t")s"
pc_wait S "firmware: " 30
check secboot_enforcing "$(pc_console S | grep -a 'firmware:' | tail -n1)" pc_wait S "firmware: UEFI, Secure Boot on" 1
pc_wait S "kvm: /dev/kvm present" 60; check secboot_kvm "no /dev/kvm" [ $? = 0 ]
pc_wait S "GUEST: ready=1" 180; check secboot_guest_runs "guest did not start" [ $? = 0 ]
log "PC S: guest running after $(elapsed "$t")s; typing Ctrl-A x on the serial console"
pc_type S '\001x'
power_freeze_check hotkey_freeze S
pc_kill S
n=$(gens "$SB")
check hotkey_generation "session holds $n generations" test "$n" -ge 1
log "PC S: done after $(elapsed "$t")s"
rm -f "$SB"

# ---- the journey ------------------------------------------------------------------------
log "PC A: SeaBIOS, -cpu EPYC,+svm,+npt (log $OUT/A.log)"
t=$(now)
pc_start A bios "EPYC,+svm,+npt" "$IMG"
pc_wait A "tabi-stick: .*init" 120; check bios_host_init "no host /init line" [ $? = 0 ]
pc_wait A "firmware: " 30
check bios_firmware_line "$(pc_console A | grep -a 'firmware:' | tail -n1)" pc_wait A "firmware: BIOS" 1
pc_wait A "kvm: /dev/kvm present" 60; check bios_kvm "no /dev/kvm" [ $? = 0 ]
pc_wait A "GUEST: tick=3" 240; check journey_a_guest_runs "guest did not tick" [ $? = 0 ]
memsum=$(pc_val A memsum); token=$(pc_val A token)
log "PC A: guest running after $(elapsed "$t")s (memsum $memsum, token $token); pressing the power button"
pc_power A
power_freeze_check journey_a_power_button_freeze A
pc_kill A
last=$(pc_val A tick)
n=$(gens "$IMG")
check journey_a_generation "session holds $n generations" test "$n" -ge 1
log "PC A: frozen at tick $last, powered off after $(elapsed "$t")s"

log "PC B: OVMF (UEFI), -cpu Opteron_G4,+svm,+npt (log $OUT/B.log)"
t=$(now)
pc_start B uefi "$PC_B_CPU" "$IMG"
pc_wait B "tabi-stick: .*init" 120; check uefi_host_init "no host /init line" [ $? = 0 ]
pc_wait B "kvm: /dev/kvm present" 60; check uefi_kvm "no /dev/kvm" [ $? = 0 ]
pc_wait B "resuming the session" 60; check journey_b_resumes "no resume: $(pc_console B | grep -a 'tabi-stick' | tail -n1)" [ $? = 0 ]
pc_wait B "GUEST: tick=$((last + 1))( |\$)" 240; rc=$?
first=$(pc_console B | sed -n 's/.*GUEST: tick=\([0-9]*\).*/\1/p' | head -n1)
check journey_b_counter_continues "first tick on B '$first' after '$last' on A" test $rc = 0 -a "$first" = $((last + 1))
log "PC B: resumed, tick $first after $(elapsed "$t")s; waiting for the guest's own check"
pc_wait B "GUEST: check_done=([0-9]+)" 120
# The guest checks every 5th tick; take the first check after the resume.
bcheck() { pc_console B | sed -n "s/.*GUEST: $1=\([^ ]*\).*/\1/p" | head -n1; }
check journey_b_memory_unchanged "memsum $(bcheck check_memsum) vs $memsum" test -n "$memsum" -a "$(bcheck check_memsum)" = "$memsum"
check journey_b_disk_data "token $(bcheck check_token) vs $token" test -n "$token" -a "$(bcheck check_token)" = "$token"
# Typing on the PC's keyboard reaches the guest: "poweroff" ends the session.
pc_word B poweroff
typed=1
# A key the outer QEMU drops under load is a test-rig fault, not tabi's: type
# once more (and say so) before calling the keyboard path broken.
if ! pc_wait B "GUEST: bye=" 30; then
	log "PC B: no answer to 'poweroff' after 30s; typing it again"
	pc_word B poweroff; typed=2
fi
if pc_wait B "GUEST: bye=" 30; then
	pass journey_b_keyboard_input
	pc_wait B "session has ended" 120 && pc_wait_exit B 60
	check journey_b_guest_poweroff_ends "no session end + power off: $(pc_console B | grep -a 'tabi-stick' | tail -n1)" [ $? = 0 ]
	pc_kill B
	n=$(gens "$IMG")
	check journey_b_session_deleted "session still holds $n generations" test "$n" = 0
else
	fail journey_b_keyboard_input "the guest did not see 'poweroff' typed on the keyboard ($typed times)"
	pc_kill B
fi
log "PC B: done after $(elapsed "$t")s"

# ---- autosave and a pull --------------------------------------------------------------
IMG2=$OUT/autosave.img
mkimg "$IMG2" --autosave 0.25 >"$T/mk3.log" 2>&1; rc=$?
conf=$(debugfs -R "cat /tabi.conf" "$IMG2?offset=$P2" 2>/dev/null)
c=0; [ $rc = 0 ] && echo "$conf" | grep -q '^AUTOSAVE=0.25$' && c=1
check autosave_conf "rc=$rc: $(tail -n1 "$T/mk3.log"); $(echo "$conf" | grep AUTOSAVE)" test $c = 1
log "PC C: SeaBIOS, EPYC, AUTOSAVE=0.25 (log $OUT/C.log)"
t=$(now)
pc_start C bios "EPYC,+svm,+npt" "$IMG2"
pc_wait C "GUEST: tick=3" 240
memsum=$(pc_val C memsum); token=$(pc_val C token)
pc_wait C "autosaved generation 2" 180; rc=$?
# The stick is pulled right after the second save: no clean shutdown.
kill -KILL "$(cat "$OUT/C.pid")" 2>/dev/null; pc_wait_exit C 20
saved=$(pc_console C | awk '/GUEST: tick=/ { sub(/.*GUEST: tick=/, ""); t = $1 + 0 } /autosaved generation 2/ { print t; exit }')
inc=$(pc_console C | grep -a "generation 2 is incremental" | head -n1)
check autosave_incremental "second save seen: $([ $rc = 0 ] && echo yes || echo no); '${inc:-no incremental line}'" test $rc = 0 -a -n "$inc"
log "PC C: pulled after $(elapsed "$t")s, right after generation 2 (guest tick $saved)"
log "PC D: OVMF, $PC_B_CPU (log $OUT/D.log)"
t=$(now)
pc_start D uefi "$PC_B_CPU" "$IMG2"
pc_wait D "resuming the session" 180
pc_wait D "GUEST: tick=[0-9]" 240
first=$(pc_console D | sed -n 's/.*GUEST: tick=\([0-9]*\).*/\1/p' | head -n1)
check autosave_pull_resumes "first tick on D '$first', last tick before the save on C '$saved'" test -n "$saved" -a "$first" = $((saved + 1))
pc_wait D "GUEST: check_done=([0-9]+)" 120
dcheck() { pc_console D | sed -n "s/.*GUEST: $1=\([^ ]*\).*/\1/p" | head -n1; }
check autosave_pull_memory "memsum $(dcheck check_memsum) vs $memsum" test -n "$memsum" -a "$(dcheck check_memsum)" = "$memsum"
check autosave_pull_disk "token $(dcheck check_token) vs $token" test -n "$token" -a "$(dcheck check_token)" = "$token"
pc_power D
power_freeze_check autosave_power_button_freeze D
pc_kill D
log "PC D: done after $(elapsed "$t")s"
finish
