#!/bin/sh
# Installs the Debian packages tabi needs to build, test and demo.
# Quiet when everything is already present; non-interactive; one clear line
# and a non-zero exit on failure.
set -u

# package -> probe. A package is "present" when `dpkg -s` reports it installed.
PKGS="build-essential gcc clang libclang-rt-14-dev libzstd-dev libxxhash-dev
zstd linux-image-amd64 busybox-static qemu-system-x86 ovmf cpio kmod syslinux
syslinux-common syslinux-efi shim-signed grub-efi-amd64-signed mtools
dosfstools e2fsprogs fdisk kexec-tools"

# libFuzzer ships in libclang-rt-<N>-dev for the installed clang; follow it.
if command -v clang >/dev/null 2>&1; then
	cv=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | head -n1)
	if [ -n "$cv" ] && [ "$cv" != 14 ]; then
		PKGS=$(echo "$PKGS" | sed "s/libclang-rt-14-dev/libclang-rt-$cv-dev/")
	fi
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "install-deps: missing packages:$missing; run this script as root (or install sudo)" >&2
		exit 1
	fi
else
	SUDO=""
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-deps.XXXXXX)
apt_install() {
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		--no-install-recommends $missing >>"$log" 2>&1
}
if ! apt_install; then
	# The package lists may be stale or absent (fresh container): refresh once.
	if ! $SUDO apt-get update -q >>"$log" 2>&1; then
		echo "install-deps: 'apt-get update' failed (no network or bad sources.list?); see $log" >&2
		exit 1
	fi
	if ! apt_install; then
		echo "install-deps: 'apt-get install$missing' failed; see $log" >&2
		exit 1
	fi
fi
rm -f "$log"
echo "install-deps: done"
