/* PIT, clock and irqchip state (vm_state.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include "vm.h"
#include "vm_state.h"

#define VM_STATE_MAGIC 0x564d5354u /* "VMST" */

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int vm_state_save(struct vm *vm, struct state_buf *b, char err[256])
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clk;
	memset(&clk, 0, sizeof(clk));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_CLOCK, &clk) < 0) {
		snprintf(err, 256, "reading PIT/clock state failed: %s", strerror(errno));
		return -1;
	}
	uint64_t now = realtime_ns();
	sb_put_u32(b, VM_STATE_MAGIC);
	sb_put_u32(b, sizeof(pit));
	sb_put_bytes(b, &pit, sizeof(pit));
	sb_put_u64(b, clk.clock);
	sb_put_u64(b, now);
	for (uint32_t chip = 0; chip < 3; chip++) {
		struct kvm_irqchip ic = { .chip_id = chip };
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &ic) < 0) {
			snprintf(err, 256, "reading irqchip %u failed: %s", chip, strerror(errno));
			return -1;
		}
		sb_put_u32(b, sizeof(ic));
		sb_put_bytes(b, &ic, sizeof(ic));
	}
	return b->error ? -1 : 0;
}

int vm_state_restore(struct vm *vm, struct state_buf *b, char err[256])
{
	struct kvm_pit_state2 pit;
	if (sb_get_u32(b) != VM_STATE_MAGIC || sb_get_u32(b) != sizeof(pit))
		goto malformed;
	sb_get_bytes(b, &pit, sizeof(pit));
	uint64_t clock = sb_get_u64(b), saved_at = sb_get_u64(b);
	if (b->error)
		goto malformed;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0) {
		snprintf(err, 256, "restoring the PIT failed: %s", strerror(errno));
		return -1;
	}
	uint64_t now = realtime_ns();
	struct kvm_clock_data clk = { .clock = clock + (now > saved_at ? now - saved_at : 0) };
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clk) < 0) {
		snprintf(err, 256, "restoring the guest clock failed: %s", strerror(errno));
		return -1;
	}
	for (uint32_t chip = 0; chip < 3; chip++) {
		struct kvm_irqchip ic;
		if (sb_get_u32(b) != sizeof(ic))
			goto malformed;
		sb_get_bytes(b, &ic, sizeof(ic));
		if (b->error || ic.chip_id != chip)
			goto malformed;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &ic) < 0) {
			snprintf(err, 256, "restoring irqchip %u failed: %s", chip, strerror(errno));
			return -1;
		}
	}
	if (!sb_done(b))
		goto malformed;
	return 0;
malformed:
	snprintf(err, 256, "saved PIT/clock/irqchip state is malformed");
	return -1;
}
