#!/bin/sh
# Stand-in for `tabi run ...` with QEMU/KVM (tools disk), used only when the
# host runs with tabi.vmm=qemu to self-test the harness and guest scripts.
# QEMU_MACHINE picks the machine (q35 default). Reboot and poweroff both exit 0.
[ "$1" = run ] || { echo "tabi-qemu: only 'run' is emulated" >&2; exit 2; }
shift
n=$#
set -- "$@" ${QEMU:-/tools/bin/qemu} -enable-kvm -M "${QEMU_MACHINE:-q35}" -cpu host \
	-nodefaults -no-user-config -display none -serial stdio -monitor none -no-reboot
case "${QEMU_MACHINE:-q35}" in
microvm*) ;;  # no PCI: no rng (the bench needs none)
*) set -- "$@" -device virtio-rng-pci;;
esac
while [ $n -gt 0 ]; do
	a=$1; shift; n=$((n - 1))
	case "$a" in
	--kernel) set -- "$@" -kernel "$1";;
	--initrd) set -- "$@" -initrd "$1";;
	--cmdline) set -- "$@" -append "$1";;
	--mem) set -- "$@" -m "$1";;
	--cpus) set -- "$@" -smp "$1";;
	--session) ;;
	--disk)
		d=$1; ro=""
		case "$d" in *"${DISK_RO_SUFFIX:-,ro}") d=${d%"${DISK_RO_SUFFIX:-,ro}"}; ro=",readonly=on";; esac
		set -- "$@" -drive "file=$d,format=raw,if=virtio$ro";;
	*) echo "tabi-qemu: unknown option $a" >&2; exit 2;;
	esac
	shift; n=$((n - 1))
done
exec "$@"
