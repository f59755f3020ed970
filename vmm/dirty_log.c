/* Dirty-page tracking for incremental generations (dirty_log.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "dirty_log.h"
#include "vm.h"

#define PAGE_SHIFT 12

static uint64_t words(uint64_t bits)
{
	return (bits + 63) / 64;
}

int dirty_log_start(struct vm *vm, uint64_t base_gen, char err[256])
{
	struct dirty_log *d = &vm->dirty;
	if (!d->active) {
		d->npages = vm->mem.size >> PAGE_SHIFT;
		d->pages = calloc(words(d->npages), 8);
		d->scratch = calloc(words(d->npages), 8);
		uint64_t *vmm = calloc(words(d->npages), 8);
		if (!d->pages || !d->scratch || !vmm) {
			free(vmm);
			dirty_log_free(vm);
			snprintf(err, 256, "out of memory for dirty-page tracking");
			return -1;
		}
		if (!vm->cfg.track_dirty) {
			if (vm_map_ram(vm, KVM_MEM_LOG_DIRTY_PAGES) < 0) {
				snprintf(err, 256, "KVM cannot track dirty pages: %s",
					 strerror(errno));
				free(vmm);
				dirty_log_free(vm);
				return -1;
			}
			vm->cfg.track_dirty = true;
		}
		vm->mem.vmm_dirty = vmm;
		d->active = true;
	}
	memset(d->pages, 0, words(d->npages) * 8);
	d->base_gen = base_gen;
	return 0;
}

int dirty_log_collect(struct vm *vm, char err[256])
{
	struct dirty_log *d = &vm->dirty;
	if (!d->active)
		return 0;
	uint64_t first[2] = { 0, vm->mem.low_size >> PAGE_SHIFT };
	uint64_t count[2] = { vm->mem.low_size >> PAGE_SHIFT,
			      vm->mem.high_size >> PAGE_SHIFT };
	for (int s = 0; s < 2 && count[s]; s++) {
		memset(d->scratch, 0, words(count[s]) * 8);
		struct kvm_dirty_log log = { .slot = (uint32_t)s,
					     .dirty_bitmap = d->scratch };
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			d->base_gen = 0;  /* bits may be missing: next one is full */
			snprintf(err, 256, "KVM cannot report dirty pages: %s",
				 strerror(errno));
			return -1;
		}
		/* The low slot ends on a 64-page boundary whenever a high slot
		 * exists (3 GiB), so whole words line up. */
		for (uint64_t i = 0; i < words(count[s]); i++)
			d->pages[first[s] / 64 + i] |= d->scratch[i];
	}
	for (uint64_t i = 0; i < words(d->npages); i++)
		d->pages[i] |= __atomic_exchange_n(&vm->mem.vmm_dirty[i], 0,
						   __ATOMIC_RELAXED);
	return 0;
}

uint64_t dirty_log_chunks(const struct vm *vm, uint64_t chunk_bytes, uint64_t *out)
{
	const struct dirty_log *d = &vm->dirty;
	uint64_t per = chunk_bytes >> PAGE_SHIFT, nchunks =
		(vm->mem.size + chunk_bytes - 1) / chunk_bytes, changed = 0;
	memset(out, 0, words(nchunks) * 8);
	for (uint64_t c = 0; c < nchunks; c++) {
		bool dirty = !d->active;
		for (uint64_t p = c * per; !dirty && p < (c + 1) * per && p < d->npages; p++)
			dirty = (d->pages[p / 64] >> (p % 64)) & 1;
		if (dirty) {
			out[c / 64] |= 1ULL << (c % 64);
			changed++;
		}
	}
	return changed;
}

void dirty_log_committed(struct vm *vm, uint64_t gen)
{
	struct dirty_log *d = &vm->dirty;
	if (d->active) {
		memset(d->pages, 0, words(d->npages) * 8);
		d->base_gen = gen;
	}
}

void dirty_log_free(struct vm *vm)
{
	struct dirty_log *d = &vm->dirty;
	free(d->pages);
	free(d->scratch);
	free(vm->mem.vmm_dirty);
	vm->mem.vmm_dirty = NULL;
	memset(d, 0, sizeof(*d));
}
