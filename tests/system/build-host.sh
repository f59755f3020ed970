#!/bin/sh
# Builds the nested test host's initramfs:
#   tests/system/build-host.sh OUT.cpio.gz [GUEST.cpio.gz]
# busybox-static, KVM modules (irqbypass, kvm, ccp, kvm-amd), virtio-pci block
# and ext4 (to mount the outer QEMU's scratch disks), build/tabi (when built),
# Debian's kernel and the demo guest initramfs as the guest, host-init.sh as
# /init and the host test scripts (host/*.sh -> /tests/host/).
# GUEST.cpio.gz defaults to build/system/guest.cpio.gz, built if missing.
set -eu
out=${1:?usage: build-host.sh OUT.cpio.gz [GUEST.cpio.gz]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/rootfs/demo-guest/kmods.sh"
kv=$(kmods_kver)
guest=${2:-$root/build/system/guest.cpio.gz}
[ -f "$guest" ] || "$root/rootfs/demo-guest/build.sh" "$guest"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tabi-host.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
kmods_busybox "$tmp"
kmods_install "$kv" "$tmp" irqbypass kvm ccp kvm-amd \
	virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
	virtio_blk crc32c_generic ext4
mkdir -p "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/tmp" "$tmp/root" "$tmp/etc" \
	"$tmp/guest" "$tmp/tests/host"
cp "$here/host-init.sh" "$tmp/init"; chmod 755 "$tmp/init"
cp "$here"/host/*.sh "$tmp/tests/host/"
cp "$(kmods_kernel "$kv")" "$tmp/guest/vmlinuz"
cp "$guest" "$tmp/guest/initrd.gz"
if [ -x "$root/build/tabi" ]; then
	if ! file_is_static "$root/build/tabi"; then
		echo "build-host: build/tabi is not statically linked; the host has no libc" >&2
		exit 1
	fi
	cp "$root/build/tabi" "$tmp/bin/tabi"
fi
echo "root:x:0:0:root:/root:/bin/sh" >"$tmp/etc/passwd"
echo "$kv" >"$tmp/etc/tabi-host-kernel"
mkdir -p "$(dirname "$out")"
kmods_pack "$tmp" "$out"
