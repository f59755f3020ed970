#!/bin/sh
# Builds the demo/test guest initramfs from Debian packages:
#   rootfs/demo-guest/build.sh OUT.cpio.gz
# busybox-static userland, the virtio-pci modules Debian's kernel needs for
# block and rng devices, /init (init.sh) and the guest halves of the system
# tests (tests/*.sh -> /tests/). KVER overrides the kernel version.
set -eu
out=${1:?usage: build.sh OUT.cpio.gz}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/kmods.sh"
kv=$(kmods_kver)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tabi-guest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
kmods_busybox "$tmp"
kmods_install "$kv" "$tmp" virtio virtio_ring virtio_pci_modern_dev \
	virtio_pci_legacy_dev virtio_pci virtio_blk virtio-rng
mkdir -p "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/tmp" "$tmp/root" "$tmp/etc" "$tmp/tests"
cp "$here/init.sh" "$tmp/init"; chmod 755 "$tmp/init"
cp "$here"/tests/*.sh "$tmp/tests/"
echo "$kv" >"$tmp/etc/tabi-guest-kernel"
echo "root:x:0:0:root:/root:/bin/sh" >"$tmp/etc/passwd"
mkdir -p "$(dirname "$out")"
kmods_pack "$tmp" "$out"
