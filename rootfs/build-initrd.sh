#!/bin/sh
# Builds the stick's host initramfs:
#   rootfs/build-initrd.sh OUT.cpio.gz [TABI-BINARY]
# Only what the host needs: busybox-static, the static tabi VMM (default
# build/tabi), rootfs/init as /init, and Debian's modules (with their
# dependencies and softdeps, in load order) for: USB storage on xhci/ehci/ohci/
# uhci (usb-storage, uas, sd_mod), ext4, vfat + nls, KVM (kvm, kvm-intel,
# kvm-amd), the ACPI power button, evdev and USB keyboards. No SATA/NVMe/MMC
# drivers: the host cannot even see the PC's internal disks.
# KVER overrides the kernel version; SOURCE_DATE_EPOCH is honoured.
set -eu
out=${1:?usage: build-initrd.sh OUT.cpio.gz [TABI-BINARY]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tabi=${2:-$root/build/tabi}
. "$root/rootfs/demo-guest/kmods.sh"
kv=$(kmods_kver)
[ -x "$tabi" ] || { echo "build-initrd: $tabi missing: run 'make tabi' first" >&2; exit 1; }
file_is_static "$tabi" || { echo "build-initrd: $tabi is not statically linked; the host has no libc" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tabi-stick-initrd.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
kmods_busybox "$tmp"
# Order matters only through kmods_install's dependency walk; kvm-intel and
# kvm-amd both ship, /init ignores the one this CPU cannot load.
kmods_install "$kv" "$tmp" \
	usb-common usbcore xhci-hcd xhci-pci ehci-hcd ehci-pci ohci-hcd ohci-pci uhci-hcd \
	scsi_mod sd_mod usb-storage uas \
	crc32c_generic ext4 fat vfat nls_cp437 nls_ascii nls_utf8 \
	irqbypass kvm kvm-intel ccp kvm-amd \
	button evdev hid hid-generic usbhid efivarfs
mkdir -p "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/tmp" "$tmp/data" "$tmp/etc" "$tmp/root" "$tmp/run"
cp "$here/init" "$tmp/init"; chmod 755 "$tmp/init"
cp "$tabi" "$tmp/bin/tabi"
echo "root:x:0:0:root:/root:/bin/sh" >"$tmp/etc/passwd"
echo "$kv" >"$tmp/etc/tabi-host-kernel"
# Reproducible: fixed mtimes, sorted names, root-owned (kmods_pack).
t=${SOURCE_DATE_EPOCH:-0}
find "$tmp" -exec touch -h -d "@$t" {} + 2>/dev/null || true
mkdir -p "$(dirname "$out")"
( cd "$tmp" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible ) | gzip -n -6 >"$out.tmp"
mv "$out.tmp" "$out"
