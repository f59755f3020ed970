#!/bin/sh
# Builds the tools disk for the nested host: an ext4 image (label TABITOOLS,
# made with mke2fs -d, no mounting) holding this machine's QEMU, the libraries
# ldd lists and its firmware, so the host can run `qemu-system-x86_64
# -enable-kvm` as a peer for benchmarks and as a stand-in VMM for harness
# self-tests, and zstd (/tools/bin/zstd) for the freeze benchmark's peer.
#   tests/system/build-tools.sh OUT.img
set -eu
out=${1:?usage: build-tools.sh OUT.img}
qemu=$(command -v qemu-system-x86_64) || { echo "build-tools: qemu-system-x86_64 not found (apt-get install qemu-system-x86)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tabi-tools.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/lib" "$tmp/share/qemu"
cp -L "$qemu" "$tmp/bin/qemu-system-x86_64"
ldd "$qemu" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]*ld-linux/{print $1}' | sort -u | while read -r l; do
	cp -L "$l" "$tmp/lib/"
done
[ -e "$tmp/lib/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$tmp/lib/"
for f in qboot.rom bios-microvm.bin linuxboot_dma.bin linuxboot.bin kvmvapic.bin pvh.bin multiboot_dma.bin; do
	[ -e "/usr/share/qemu/$f" ] && cp -L "/usr/share/qemu/$f" "$tmp/share/qemu/"
done
cp -L /usr/share/seabios/* "$tmp/share/qemu/"
# zstd, for the freeze benchmark's peer (QEMU `migrate "exec:zstd ..."`).
zstd=$(command -v zstd) || { echo "build-tools: zstd not found (apt-get install zstd)" >&2; exit 1; }
cp -L "$zstd" "$tmp/bin/zstd.bin"
ldd "$zstd" | awk '/=> \//{print $3}' | sort -u | while read -r l; do
	[ -e "$tmp/lib/$(basename "$l")" ] || cp -L "$l" "$tmp/lib/"
done
cat >"$tmp/bin/zstd" <<'EOS'
#!/bin/sh
exec /tools/lib/ld-linux-x86-64.so.2 --library-path /tools/lib /tools/bin/zstd.bin "$@"
EOS
chmod 755 "$tmp/bin/zstd"
cat >"$tmp/bin/qemu" <<'EOS'
#!/bin/sh
exec /tools/lib/ld-linux-x86-64.so.2 --library-path /tools/lib /tools/bin/qemu-system-x86_64 -L /tools/share/qemu "$@"
EOS
chmod 755 "$tmp/bin/qemu"
kb=$(du -sk "$tmp" | cut -f1)
rm -f "$out"
mkdir -p "$(dirname "$out")"
truncate -s "$((kb * 5 / 4 + 16384))k" "$out"
mke2fs -q -F -t ext4 -L TABITOOLS -d "$tmp" "$out"
