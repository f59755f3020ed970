/* Device wiring (vm_devices.h): fixed ISA ports, then PCI functions in a
 * fixed order (disks as given, then rng) so slots and BARs come out the
 * same on every run and a restored session finds its devices where the
 * guest left them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "acpi.h"
#include "virtio_blk.h"
#include "virtio_rng.h"
#include "vm.h"
#include "vm_devices.h"

#define STATE_MAGIC_DEVICES 0x74616269u  /* "tabi" */

int vm_devices_create(struct vm *vm, char err[256])
{
	serial_init(&vm->uart, STDOUT_FILENO, &vm->irq, SERIAL_COM1_IRQ);
	rtc_init(&vm->rtc);
	pci_bus_init(&vm->pci, &vm->mmio, &vm->pio);
	if (io_bus_register(&vm->pio, SERIAL_COM1_PORT, 8, serial_io, &vm->uart) ||
	    io_bus_register(&vm->pio, 0x70, 2, rtc_io, &vm->rtc) ||
	    io_bus_register(&vm->pio, 0x60, 5, i8042_io, &vm->ports) ||
	    io_bus_register(&vm->pio, ACPI_SLEEP_CTL_PORT, 3, acpi_pm_io, &vm->ports) ||
	    io_bus_register(&vm->pio, PCI_CONF_ADDR_PORT, 8, pci_conf1_io, &vm->pci)) {
		snprintf(err, 256, "internal error: device ports overlap");
		return -1;
	}
	for (int i = 0; i < vm->cfg.ndisks; i++) {
		const struct disk_config *d = &vm->cfg.disk[i];
		vm->disk[i] = virtio_blk_create(d->path, d->read_only, &vm->mem, &vm->irq, err);
		if (!vm->disk[i])
			return -1;
		/* Writable disks keep their writes apart until a generation
		 * commits them (session_disk.h). */
		if (!d->read_only && vm->cfg.session_dir[0]) {
			vm->ovl[i] = ovl_open(virtio_blk_fd(vm->disk[i]),
					      virtio_blk_size(vm->disk[i]),
					      vm->cfg.session_dir, err);
			if (!vm->ovl[i])
				return -1;
			virtio_blk_set_overlay(vm->disk[i], vm->ovl[i]);
		}
		if (virtio_blk_attach(vm->disk[i], &vm->pci) < 0) {
			snprintf(err, 256, "too many devices for the PCI bus — use fewer --disk");
			return -1;
		}
	}
	vm->rng = virtio_rng_create(&vm->mem, &vm->irq);
	if (!vm->rng) {
		snprintf(err, 256, "out of memory creating the random-number device");
		return -1;
	}
	if (virtio_rng_attach(vm->rng, &vm->pci) < 0) {
		snprintf(err, 256, "too many devices for the PCI bus — use fewer --disk");
		return -1;
	}
	return 0;
}

void vm_devices_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->cfg.ndisks; i++) {
		if (vm->disk[i]) {
			virtio_blk_destroy(vm->disk[i]);
			vm->disk[i] = NULL;
		}
		ovl_close(vm->ovl[i]);
		vm->ovl[i] = NULL;
	}
	if (vm->rng) {
		virtio_rng_destroy(vm->rng);
		vm->rng = NULL;
	}
}

int vm_devices_quiesce(struct vm *vm, char err[256])
{
	for (int i = 0; i < vm->cfg.ndisks; i++) {
		virtio_blk_quiesce(vm->disk[i]);
		if (virtio_blk_flush(vm->disk[i]) < 0) {
			snprintf(err, 256, "cannot flush disk %s: %s — the stick may be "
				 "full or failing", vm->cfg.disk[i].path, strerror(errno));
			return -1;
		}
	}
	virtio_rng_quiesce(vm->rng);
	return 0;
}

/* Each device's state is a length-prefixed blob so a malformed one is
 * caught by that device's own parser, not by its neighbours. */
static void put_blob(struct state_buf *out, struct state_buf *blob)
{
	sb_put_u32(out, (uint32_t)blob->len);
	sb_put_bytes(out, blob->data, blob->len);
	if (blob->error)
		out->error = true;
	sb_free(blob);
}

static int get_blob(struct state_buf *in, struct state_buf *blob)
{
	uint32_t n = sb_get_u32(in);
	if (in->error || n > in->len - in->pos)
		return -1;
	sb_reader(blob, in->data + in->pos, n);
	in->pos += n;
	return 0;
}

void vm_devices_save(struct vm *vm, struct state_buf *b)
{
	struct state_buf blob;
	sb_put_u32(b, STATE_MAGIC_DEVICES);
	sb_init(&blob); serial_save(&vm->uart, &blob); put_blob(b, &blob);
	sb_init(&blob); rtc_save(&vm->rtc, &blob); put_blob(b, &blob);
	sb_put_u32(b, (uint32_t)vm->cfg.ndisks);
	for (int i = 0; i < vm->cfg.ndisks; i++) {
		sb_init(&blob);
		virtio_blk_save(vm->disk[i], &blob);
		put_blob(b, &blob);
	}
	sb_init(&blob); virtio_rng_save(vm->rng, &blob); put_blob(b, &blob);
}

int vm_devices_restore(struct vm *vm, struct state_buf *b, char err[256])
{
	struct state_buf blob;
	const char *what = "device list";
	if (sb_get_u32(b) != STATE_MAGIC_DEVICES)
		goto bad;
	what = "serial port";
	if (get_blob(b, &blob) || serial_restore(&vm->uart, &blob) || !sb_done(&blob))
		goto bad;
	what = "clock";
	if (get_blob(b, &blob) || rtc_restore(&vm->rtc, &blob) || !sb_done(&blob))
		goto bad;
	what = "disk list";
	if (sb_get_u32(b) != (uint32_t)vm->cfg.ndisks)
		goto bad;
	for (int i = 0; i < vm->cfg.ndisks; i++) {
		what = "disk";
		if (get_blob(b, &blob) || virtio_blk_restore(vm->disk[i], &blob) ||
		    !sb_done(&blob))
			goto bad;
	}
	what = "random-number device";
	if (get_blob(b, &blob) || virtio_rng_restore(vm->rng, &blob) || !sb_done(&blob))
		goto bad;
	return 0;
bad:
	snprintf(err, 256, "saved %s state is malformed or does not match this "
		 "session's devices", what);
	return -1;
}
