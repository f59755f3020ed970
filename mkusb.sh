#!/bin/sh
# mkusb.sh — author a tabi stick (an image file, or a real USB device).
# `mkusb.sh --help` documents it; DESIGN.md "Stick layout" describes the result.
set -u
ME=mkusb.sh
ROOT=$(cd "$(dirname "$0")" && pwd)
SYSFS=${TABI_SYSFS:-/sys}          # tests point these at fakes
PROCFS=${TABI_PROC:-/proc}

usage() {
	cat <<'EOF'
usage: mkusb.sh --image FILE [--size SIZE] [GUEST OPTIONS]
       mkusb.sh --device /dev/sdX [--yes] [--force] [GUEST OPTIONS]
       mkusb.sh --update (--image FILE | --device /dev/sdX [--yes] [--force])

Authors a tabi stick: boot any x86 PC from it (BIOS or UEFI, Secure Boot on
or off); a tiny Linux starts the tabi VMM on KVM, which resumes the session
frozen on the stick, or starts the guest when there is none. The PC's power
button (or Ctrl-A x on the console) freezes the session back onto the stick.
No root is needed for --image: no loop devices, no mounts.

Target (exactly one):
  --image FILE       write a stick image file (created or overwritten)
  --size SIZE        image size, e.g. 2G, 1500M (default 2G; at least 512M)
  --device DEV       write a real USB stick (erases it). Refused when DEV is
                     not removable (/sys/block/X/removable), is a partition,
                     is mounted, is swap, or holds the running system;
                     --force overrides only "not removable".
  --yes              do not ask before erasing DEV
  --force            write DEV even though it does not say it is removable
  --update           refresh only the boot partition (bootloaders, host
                     kernel, host initramfs with tabi) of an existing stick;
                     the data partition (guest and session) is not touched

Guest (default: the embedded demo guest, rootfs/demo-guest/build.sh, with
Debian's kernel: a clock and a counter on the console, and a shell):
  --guest-kernel FILE  guest Linux bzImage
  --guest-initrd FILE  guest initramfs
  --guest-disk FILE[,ro]  raw disk image, copied onto the stick (repeatable;
                     /dev/vda, vdb, ... in the guest; ,ro = read-only)
  --cmdline STR      guest kernel command line (default "console=ttyS0 quiet")
  --mem SIZE         guest RAM (default 512M)
  --cpus N           guest virtual CPUs (default 2)
  --autosave MIN     also save the session every MIN minutes while it runs
                     (decimals allowed; default off): a pulled stick loses
                     at most that much work (tabi.conf's AUTOSAVE=)

Also:
  --tabi FILE        the VMM binary (default build/tabi; static)
  --host-append STR  extra host kernel parameters (e.g. tabi.wait=60,
                     tabi.onerror=poweroff|shell|wait)
  -h, --help         this text

Stick layout (MBR): partition 1, FAT32 "TABIBOOT", active, type 0x0c, 128 MiB:
syslinux (BIOS) and shim + Debian's signed grub (UEFI), Debian's signed host
kernel and the host initramfs (busybox, tabi, modules). Partition 2, ext4
"TABIDATA", the rest: tabi.conf (guest settings), guest/ (kernel, initrd,
disks) and session/ (the frozen session's generations).
The same inputs give the same layout (SOURCE_DATE_EPOCH, default 0, sets the
timestamps; volume ids and UUIDs are fixed).
Exit status: 0 done, 1 error (one line on stderr), 2 bad usage.
EOF
}

die() { echo "$ME: $*" >&2; exit 1; }
bad() { echo "$ME: $*; see '$ME --help'" >&2; exit 2; }
info() { [ -n "${QUIET:-}" ] || echo "$ME: $*"; }

# ---- options -------------------------------------------------------------------
IMAGE=""; DEVICE=""; SIZE=""; UPDATE=0; YES=0; FORCE=0
G_KERNEL=""; G_INITRD=""; G_DISKS=""; G_CMDLINE=""; G_MEM=""; G_CPUS=""; G_AUTOSAVE=""; GUEST_SET=0
TABI_BIN=$ROOT/build/tabi; HOST_APPEND=""
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || bad "$1 needs a value"; }
while [ $# -gt 0 ]; do
	case "$1" in
	--*=*) o=${1%%=*}; v=${1#*=}; shift; set -- "$o" "$v" "$@"; continue;;
	esac
	case "$1" in
	-h|--help) usage; exit 0;;
	--image) need_arg "$@"; IMAGE=$2; shift 2;;
	--device) need_arg "$@"; DEVICE=$2; shift 2;;
	--size) need_arg "$@"; SIZE=$2; shift 2;;
	--update) UPDATE=1; shift;;
	--yes|-y) YES=1; shift;;
	--force) FORCE=1; shift;;
	--guest-kernel) need_arg "$@"; G_KERNEL=$2; GUEST_SET=1; shift 2;;
	--guest-initrd) need_arg "$@"; G_INITRD=$2; GUEST_SET=1; shift 2;;
	--guest-disk) need_arg "$@"; G_DISKS="$G_DISKS
$2"; GUEST_SET=1; shift 2;;
	--cmdline) need_arg "$@"; G_CMDLINE=$2; GUEST_SET=1; shift 2;;
	--mem) need_arg "$@"; G_MEM=$2; GUEST_SET=1; shift 2;;
	--cpus) need_arg "$@"; G_CPUS=$2; GUEST_SET=1; shift 2;;
	--autosave) need_arg "$@"; G_AUTOSAVE=$2; GUEST_SET=1; shift 2;;
	--tabi) need_arg "$@"; TABI_BIN=$2; shift 2;;
	--host-append) need_arg "$@"; HOST_APPEND=$2; shift 2;;
	*) bad "unknown option '$1'";;
	esac
done

[ -n "$IMAGE" ] && [ -n "$DEVICE" ] && bad "give either --image or --device, not both"
[ -z "$IMAGE" ] && [ -z "$DEVICE" ] && bad "give --image FILE or --device /dev/sdX"
[ -n "$SIZE" ] && [ -z "$IMAGE" ] && bad "--size is for --image (a device's size is its own)"
[ -n "$SIZE" ] && [ $UPDATE = 1 ] && bad "--size cannot change an existing stick (--update)"
[ $UPDATE = 1 ] && [ $GUEST_SET = 1 ] && bad "--update refreshes only the boot files; guest options need a new stick"
[ -n "$IMAGE" ] && { [ $YES = 1 ] || [ $FORCE = 1 ]; } && bad "--yes and --force are for --device"

# SIZE -> bytes (K/M/G/T suffixes, binary).
to_bytes() {
	case "$1" in
	*[!0-9KkMmGgTt]*|"") return 1;;
	*[Kk]) n=${1%?}; m=1024;;
	*[Mm]) n=${1%?}; m=1048576;;
	*[Gg]) n=${1%?}; m=1073741824;;
	*[Tt]) n=${1%?}; m=1099511627776;;
	*) n=$1; m=1;;
	esac
	case "$n" in ""|*[!0-9]*) return 1;; esac
	echo $((n * m))
}

if [ -n "$IMAGE" ] && [ $UPDATE = 0 ]; then
	IMG_BYTES=$(to_bytes "${SIZE:-2G}") || bad "--size '$SIZE' is not a size like 2G or 1500M"
	[ "$IMG_BYTES" -ge $((512 * 1048576)) ] || bad "--size '$SIZE' is too small (at least 512M)"
fi
if [ -n "$G_MEM" ]; then
	case "$G_MEM" in [1-9]*[0-9MmGg]) ;; *) bad "--mem '$G_MEM' is not a size like 512M or 2G";; esac
	case "$G_MEM" in *[!0-9MmGg]*) bad "--mem '$G_MEM' is not a size like 512M or 2G";; esac
fi
if [ -n "$G_CPUS" ]; then
	case "$G_CPUS" in *[!0-9]*|0*) bad "--cpus '$G_CPUS' is not a number from 1 to 64";; esac
	[ "$G_CPUS" -le 64 ] || bad "--cpus '$G_CPUS' is not a number from 1 to 64"
fi
if [ -n "$G_AUTOSAVE" ]; then
	case "$G_AUTOSAVE" in *[!0-9.]*|.|*.*.*) bad "--autosave '$G_AUTOSAVE' is not a number of minutes like 5 or 0.5";; esac
	awk -v m="$G_AUTOSAVE" 'BEGIN { exit !(m == 0 || (m >= 0.05 && m <= 1440)) }' ||
		bad "--autosave '$G_AUTOSAVE' is out of range (0 = off, or 0.05 to 1440 minutes)"
fi
[ -n "$G_KERNEL" ] && [ ! -f "$G_KERNEL" ] && die "--guest-kernel: no such file: $G_KERNEL"
[ -n "$G_INITRD" ] && [ ! -f "$G_INITRD" ] && die "--guest-initrd: no such file: $G_INITRD"
[ -n "$G_INITRD$G_DISKS$G_CMDLINE" ] && [ -z "$G_KERNEL" ] && [ -n "$G_INITRD" ] && die "--guest-initrd needs --guest-kernel too"
old_ifs=$IFS; IFS='
'
for d in $G_DISKS; do
	f=${d%,ro}
	[ -f "$f" ] || die "--guest-disk: no such file: $f"
done
IFS=$old_ifs
if [ -n "$G_DISKS" ] && [ -z "$G_KERNEL" ]; then
	: # a disk for the demo guest is fine
fi

# ---- tools -----------------------------------------------------------------------
for t in sfdisk mkfs.vfat mcopy mmd syslinux mke2fs dd gzip cpio; do
	command -v "$t" >/dev/null 2>&1 || die "'$t' is missing: run scripts/install-deps.sh (Debian: fdisk dosfstools mtools syslinux e2fsprogs cpio)"
done
first_file() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 1; }
MBR_BIN=$(first_file /usr/lib/syslinux/mbr/mbr.bin /usr/lib/SYSLINUX/mbr.bin) || die "syslinux MBR code missing: install syslinux-common"
SHIM=$(first_file /usr/lib/shim/shimx64.efi.signed) || die "shimx64.efi.signed missing: install shim-signed"
MM=$(first_file /usr/lib/shim/mmx64.efi.signed) || die "mmx64.efi.signed missing: install shim-signed"
GRUB=$(first_file /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed) || die "grubx64.efi.signed missing: install grub-efi-amd64-signed"
. "$ROOT/rootfs/demo-guest/kmods.sh"
KV=$(kmods_kver 2>/dev/null) || die "no Debian kernel in /boot: install linux-image-amd64"
HOST_KERNEL=$(kmods_kernel "$KV")
[ -r "$HOST_KERNEL" ] || die "cannot read $HOST_KERNEL (Debian installs it mode 0600: run as root or chmod a+r it)"
[ -x "$TABI_BIN" ] || die "the VMM $TABI_BIN is missing: run 'make tabi' first"

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-946684800}  # 2000-01-01: FAT cannot date before 1980
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
TZ=UTC; export TZ
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mkusb.XXXXXX") || die "cannot create a temporary directory"
[ -n "${MKUSB_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

SECTOR=512
P1_START=2048                       # 1 MiB
P1_SECTORS=$((128 * 2048))          # 128 MiB
P2_START=$((P1_START + P1_SECTORS))
DISK_ID=0x7ab1d15c
FAT_ID=7ab10b07
DATA_UUID=7ab1da7a-5e55-4a0b-8000-7ab1da7a0001
HASH_SEED=7ab1da7a-5e55-4a0b-8000-7ab1da7a0002

# ---- progress copy -------------------------------------------------------------
# copy_at SRC DEST OFFSET-BYTES [sparse]: dd SRC into DEST at OFFSET; on a
# device, shows bytes, rate and time left on stderr.
copy_at() {
	src=$1; dst=$2; off=$3; conv=notrunc
	[ "${4:-}" = sparse ] && conv=notrunc,sparse
	cp_total=$(stat -c %s "$src")
	if [ -n "$DEVICE" ] || [ -n "${MKUSB_PROGRESS:-}" ]; then
		info "writing $(basename "$src") ($((cp_total / 1048576)) MiB) at offset $((off / 1048576)) MiB of $dst"
		dd if="$src" of="$dst" bs=4M seek="$off" oflag=seek_bytes conv=$conv,fsync status=progress 2>&1 >/dev/null |
		awk -v total="$cp_total" 'BEGIN { RS = "[\r\n]" }
		/bytes/ && / s, / {
			b = $1; t = 0
			for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^s,?$/) t = $i
			rate = (t > 0) ? b / t : 0
			left = (rate > 0) ? (total - b) / rate : 0
			if (left < 0) left = 0
			printf "\r  %7.1f / %.1f MiB  %6.1f MiB/s  %4d s left   ", b / 1048576, total / 1048576, rate / 1048576, left > "/dev/stderr"
			shown = 1; lt = t; lr = rate
		}
		/error|cannot|No space/ { print > "/dev/stderr"; bad = 1 }
		END { if (shown) printf "\r  %7.1f MiB written in %.1f s (%.1f MiB/s)%20s\n", total / 1048576, lt, lr / 1048576, "" > "/dev/stderr"; exit bad }' ||
			die "writing $dst failed"
	else
		dd if="$src" of="$dst" bs=4M seek="$off" oflag=seek_bytes conv=$conv status=none || die "writing $dst failed"
	fi
}

# ---- the boot partition (FAT32) ------------------------------------------------------
build_initrd() {
	info "building the host initramfs (busybox, tabi, modules for kernel $KV)"
	"$ROOT/rootfs/build-initrd.sh" "$WORK/initrd.gz" "$TABI_BIN" || die "host initramfs build failed"
}

# build_fat FILE: a FAT32 filesystem of P1_SECTORS with everything to boot.
build_fat() {
	out=$1
	b=$WORK/boot
	rm -rf "$b"; mkdir -p "$b/tabi" "$b/EFI/BOOT" "$b/EFI/debian"
	cp "$HOST_KERNEL" "$b/tabi/vmlinuz"
	cp "$WORK/initrd.gz" "$b/tabi/initrd.gz"
	append="$(sed -n '/^[^#]/p' "$ROOT/boot/cmdline" | head -n1)${HOST_APPEND:+ $HOST_APPEND}"
	sed "s|@APPEND@|$append|" "$ROOT/boot/syslinux.cfg" >"$b/syslinux.cfg"
	sed "s|@APPEND@|$append|" "$ROOT/boot/grub.cfg" >"$b/EFI/debian/grub.cfg"
	cp "$SHIM" "$b/EFI/BOOT/BOOTX64.EFI"
	cp "$MM" "$b/EFI/BOOT/mmx64.efi"
	cp "$GRUB" "$b/EFI/BOOT/grubx64.efi"
	find "$b" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	kb=$(du -sk "$b" | cut -f1)
	[ "$kb" -le 40960 ] || die "boot files take ${kb} KiB, more than the 40 MiB budget"
	rm -f "$out"
	mkfs.vfat -F 32 -n TABIBOOT -i "$FAT_ID" -h "$P1_START" -s 2 --invariant -C "$out" $((P1_SECTORS / 2)) >/dev/null 2>"$WORK/err" ||
		die "mkfs.vfat failed: $(tail -n1 "$WORK/err")"
	syslinux --install "$out" 2>"$WORK/err" || die "syslinux --install failed: $(tail -n1 "$WORK/err")"
	# syslinux patched only the primary boot sector: refresh the backup (sector 6).
	dd if="$out" of="$out" bs=512 count=1 seek=6 conv=notrunc status=none
	MTOOLS_SKIP_CHECK=1 mcopy -i "$out" -s -m -Q "$b"/* ::/ 2>"$WORK/err" || die "mcopy failed: $(tail -n1 "$WORK/err")"
	echo "$kb" >"$WORK/bootkb"
}

# ---- the data partition (ext4) ---------------------------------------------------------
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
stage_data() {
	d=$WORK/data
	rm -rf "$d"; mkdir -p "$d/guest" "$d/session"
	if [ -z "$G_KERNEL" ]; then
		info "building the demo guest (rootfs/demo-guest/build.sh; Debian kernel $KV)"
		"$ROOT/rootfs/demo-guest/build.sh" "$d/guest/initrd.gz" >"$WORK/guest.log" 2>&1 ||
			die "demo guest build failed: $(tail -n1 "$WORK/guest.log")"
		cp "$HOST_KERNEL" "$d/guest/vmlinuz"
		initrd=guest/initrd.gz
	else
		cp "$G_KERNEL" "$d/guest/vmlinuz" || die "cannot copy $G_KERNEL"
		initrd=""
		if [ -n "$G_INITRD" ]; then cp "$G_INITRD" "$d/guest/initrd.gz" || die "cannot copy $G_INITRD"; initrd=guest/initrd.gz; fi
	fi
	disks=""; i=0
	old_ifs=$IFS; IFS='
'
	for spec in $G_DISKS; do
		[ -n "$spec" ] || continue
		f=${spec%,ro}; ro=""; [ "$f" != "$spec" ] && ro=",ro"
		cp --sparse=always "$f" "$d/guest/disk$i.img" || die "cannot copy $f"
		disks="$disks${disks:+ }guest/disk$i.img$ro"; i=$((i + 1))
	done
	IFS=$old_ifs
	{
		echo "# tabi guest configuration, read by the stick's /init (rootfs/init) when"
		echo "# there is no frozen session in session/. Written by mkusb.sh."
		echo "KERNEL=guest/vmlinuz"
		echo "INITRD=$initrd"
		echo "DISKS=$(q "$disks")"
		echo "CMDLINE=$(q "${G_CMDLINE:-console=ttyS0 quiet}")"
		echo "MEM=${G_MEM:-512M}"
		echo "CPUS=${G_CPUS:-2}"
		echo "AUTOSAVE=$G_AUTOSAVE"
	} >"$d/tabi.conf"
	find "$d" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# mke2fs_at TARGET OFFSET-BYTES SIZE-BYTES
mke2fs_at() {
	mke2fs -q -F -t ext4 -L TABIDATA -U "$DATA_UUID" -m 0 \
		-E "offset=$2,hash_seed=$HASH_SEED,root_owner=0:0,lazy_itable_init=1" \
		-d "$WORK/data" "$1" "$(($3 / 1024))k" 2>"$WORK/err" || die "mke2fs failed: $(tail -n1 "$WORK/err")"
	# mke2fs -d copies each file's ctime, which no one can set on the
	# source: pin every inode's times for a reproducible filesystem.
	( cd "$WORK/data" && find . | sed 's|^\.||; s|^$|/|' ) | while read -r f; do
		for fld in ctime atime mtime crtime; do echo "sif \"$f\" $fld @$SOURCE_DATE_EPOCH"; done
	done >"$WORK/times.cmd"
	for fld in ctime atime mtime crtime; do echo "sif /lost+found $fld @$SOURCE_DATE_EPOCH"; done >>"$WORK/times.cmd"
	debugfs -w -f "$WORK/times.cmd" "$1?offset=$2" >/dev/null 2>"$WORK/err" || die "debugfs failed: $(tail -n1 "$WORK/err")"
}

partition() {
	# $1 target, $2 total sectors
	printf 'label: dos\nlabel-id: %s\nunit: sectors\n\nstart=%s, size=%s, type=c, bootable\nstart=%s, size=%s, type=83\n' \
		"$DISK_ID" "$P1_START" "$P1_SECTORS" "$P2_START" $(($2 - P2_START)) |
		sfdisk -q --no-reread --no-tell-kernel "$1" >"$WORK/err" 2>&1 || die "sfdisk failed: $(tail -n1 "$WORK/err")"
	dd if="$MBR_BIN" of="$1" bs=440 count=1 conv=notrunc status=none || die "writing the MBR boot code failed"
}

# Checks that TARGET is a tabi stick; prints partition 1's start and size.
existing_layout() {
	sfdisk -d "$1" 2>/dev/null | sed -n 's/.*start= *\([0-9]*\), *size= *\([0-9]*\), *type=c.*/\1 \2/p' | head -n1
}

# ---- device checks ------------------------------------------------------------------------
check_device() {
	dev=$DEVICE
	[ -e "$dev" ] || die "$dev: no such device"
	real=$(readlink -f "$dev")
	name=$(basename "$real")
	if [ ! -b "$real" ] && [ -z "${TABI_SYSFS:-}" ]; then die "$dev is not a block device"; fi
	if [ ! -d "$SYSFS/block/$name" ]; then
		if [ -e "$SYSFS/class/block/$name/partition" ]; then die "$dev is a partition; give the whole stick (e.g. /dev/sdX, not /dev/sdX1)"; fi
		die "$dev is not a whole disk ($SYSFS/block/$name is missing)"
	fi
	if [ "$(cat "$SYSFS/block/$name/removable" 2>/dev/null)" != 1 ]; then
		if [ $FORCE = 1 ]; then info "warning: $dev does not say it is removable; writing anyway (--force)"
		else die "$dev is not a removable device ($SYSFS/block/$name/removable is not 1); if it really is your USB stick, add --force"; fi
	fi
	rootsrc=$(awk '$2 == "/" { print $1 }' "$PROCFS/mounts" 2>/dev/null | tail -n1)
	case "$(readlink -f "$rootsrc" 2>/dev/null || echo "$rootsrc")" in
	"$real"|"$real"[0-9]*|"$real"p[0-9]*) die "$dev holds the running system (/ is on it); refusing";;
	esac
	m=$(awk -v d="$real" 'index($1, d) == 1 { r = substr($1, length(d) + 1); if (r ~ /^(p?[0-9]+)?$/) { print $1 " on " $2; exit } }' "$PROCFS/mounts" 2>/dev/null)
	[ -n "$m" ] && die "$dev is mounted ($m); unmount it first"
	s=$(awk -v d="$real" 'index($1, d) == 1 { r = substr($1, length(d) + 1); if (r ~ /^(p?[0-9]+)?$/) { print $1; exit } }' "$PROCFS/swaps" 2>/dev/null)
	[ -n "$s" ] && die "$dev is in use as swap ($s); swapoff it first"
	h=$(ls "$SYSFS/block/$name/holders" 2>/dev/null | head -n1)
	[ -n "$h" ] && die "$dev is in use by $h (device-mapper/RAID); refusing"
	DEV_SECTORS=$(cat "$SYSFS/block/$name/size" 2>/dev/null)
	case "$DEV_SECTORS" in ""|*[!0-9]*) die "cannot read the size of $dev";; esac
	DEV_DESC="$(cat "$SYSFS/block/$name/device/vendor" 2>/dev/null | tr -s ' ')$(cat "$SYSFS/block/$name/device/model" 2>/dev/null | tr -s ' ')"
	DEV_DESC="${DEV_DESC:+$DEV_DESC, }$((DEV_SECTORS / 2048)) MiB"
	[ -w "$real" ] || die "cannot write $dev (permission denied: run as root)"
	if [ $YES = 0 ]; then
		what="erase EVERYTHING on"; [ $UPDATE = 1 ] && what="rewrite the boot partition of"
		sh -c ': </dev/tty' 2>/dev/null || die "about to $what $dev; no terminal to ask: add --yes"
		printf '%s: this will %s %s (%s). Type "yes" to go on: ' "$ME" "$what" "$dev" "$DEV_DESC" >/dev/tty
		read -r ans </dev/tty || ans=""
		[ "$ans" = yes ] || die "nothing written ($dev untouched)"
	fi
	DEVICE=$real
}

# ---- main ----------------------------------------------------------------------------------
if [ -n "$IMAGE" ]; then
	TARGET=$IMAGE
	if [ $UPDATE = 1 ]; then [ -f "$IMAGE" ] || die "--update: no such image: $IMAGE"; fi
else
	check_device
	TARGET=$DEVICE
fi

if [ $UPDATE = 1 ]; then
	set -- $(existing_layout "$TARGET")
	[ $# = 2 ] || die "$TARGET has no tabi boot partition (FAT32, type 0x0c); create the stick without --update"
	[ "$1" = "$P1_START" ] && [ "$2" = "$P1_SECTORS" ] || die "$TARGET's boot partition is not where this mkusb.sh puts it ($1+$2); re-create the stick"
	lbl=$(MTOOLS_SKIP_CHECK=1 mlabel -s -i "$TARGET@@$((P1_START * SECTOR))" :: 2>/dev/null | sed 's/.* is //; s/ *$//')
	[ "$lbl" = TABIBOOT ] || die "$TARGET's first partition is not labelled TABIBOOT (found '${lbl:-none}'); not a tabi stick"
	build_initrd
	build_fat "$WORK/boot.fat"
	copy_at "$WORK/boot.fat" "$TARGET" $((P1_START * SECTOR))
	sync
	info "updated the boot partition of $TARGET ($(cat "$WORK/bootkb") KiB of boot files); the session was not touched"
	exit 0
fi

build_initrd
build_fat "$WORK/boot.fat"
stage_data
data_kb=$(du -sk "$WORK/data" | cut -f1)

if [ -n "$IMAGE" ]; then
	bytes=$IMG_BYTES
	total=$((bytes / SECTOR))
	need=$((P2_START * SECTOR / 1024 + data_kb * 5 / 4 + 65536))
	[ $((bytes / 1024)) -ge $need ] || die "--size $SIZE is too small for the guest: need at least $((need / 1024 + 1))M"
	rm -f "$IMAGE" && truncate -s "$bytes" "$IMAGE" || die "cannot create $IMAGE"
	partition "$IMAGE" "$total"
	copy_at "$WORK/boot.fat" "$IMAGE" $((P1_START * SECTOR)) sparse
	mke2fs_at "$IMAGE" $((P2_START * SECTOR)) $(((total - P2_START) * SECTOR))
	info "wrote $IMAGE: $((bytes / 1048576)) MiB; boot files $(cat "$WORK/bootkb") KiB; guest and config ${data_kb} KiB on TABIDATA"
	exit 0
fi

# A real device: the partition table, then the boot filesystem, then a
# compact ext4 filesystem holding the guest, grown to fill partition 2.
total=$DEV_SECTORS
p2_bytes=$(((total - P2_START) * SECTOR))
compact=$(((data_kb * 5 / 4 + 65536) * 1024))
[ "$compact" -le "$p2_bytes" ] || die "$DEVICE is too small for the guest ($((total / 2048)) MiB)"
info "partitioning $DEVICE ($DEV_DESC)"
dd if=/dev/zero of="$DEVICE" bs=1M count=1 conv=notrunc,fsync status=none || die "cannot write $DEVICE"
partition "$DEVICE" "$total"
copy_at "$WORK/boot.fat" "$DEVICE" $((P1_START * SECTOR))
truncate -s "$compact" "$WORK/data.ext4"
mke2fs_at "$WORK/data.ext4" 0 "$compact"
copy_at "$WORK/data.ext4" "$DEVICE" $((P2_START * SECTOR))
sync
if [ -b "$DEVICE" ]; then
	blockdev --rereadpt "$DEVICE" 2>/dev/null || partprobe "$DEVICE" 2>/dev/null || true
	p2=""; for c in "${DEVICE}2" "${DEVICE}p2"; do [ -b "$c" ] && p2=$c && break; done
	if [ -n "$p2" ] && command -v resize2fs >/dev/null 2>&1; then
		info "growing TABIDATA to fill $p2"
		resize2fs -f "$p2" >"$WORK/err" 2>&1 || die "resize2fs $p2 failed: $(tail -n1 "$WORK/err")"
	else
		info "warning: could not grow TABIDATA (no ${DEVICE}2 node yet); it holds $((compact / 1048576)) MiB"
	fi
	sync
fi
info "done: $DEVICE is a tabi stick; boot a PC from it"
