/* Dirty-page bookkeeping for incremental generations: pages the VMM writes
 * for the guest are marked, pages map to the right snapshot chunks (across
 * the PCI hole), bits survive until a generation commits them, and a
 * failed collection makes the next generation store everything. The KVM
 * side (KVM_GET_DIRTY_LOG) is covered by the whole-system tests. */
#include <stdlib.h>
#include "unit.h"
#include "dirty_log.h"
#include "snapshot.h"
#include "vm.h"

static struct vm vm;

static void setup(uint64_t size)
{
	dirty_log_free(&vm);
	free(vm.mem.host);
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	gm_layout(&vm.mem, calloc(1, 1), size);  /* the host bytes are never touched */
	struct dirty_log *d = &vm.dirty;
	d->npages = size >> 12;
	d->pages = calloc((d->npages + 63) / 64, 8);
	d->scratch = calloc((d->npages + 63) / 64, 8);
	vm.mem.vmm_dirty = calloc((d->npages + 63) / 64, 8);
	d->active = true;
	d->base_gen = 7;
}

static bool bit(const uint64_t *b, uint64_t i)
{
	return (b[i / 64] >> (i % 64)) & 1;
}

static void test_vmm_writes_mark_chunks(void)
{
	setup(64ULL << 20);
	uint64_t nch = (64ULL << 20) / SNAP_MEMORY_CHUNK, out[64];
	/* A write straddling two chunks marks both; reads mark nothing. */
	CHECK(gm_ptr(&vm.mem, 3 * SNAP_MEMORY_CHUNK, 4096) != NULL);
	CHECK(gm_ptr_write(&vm.mem, 5 * SNAP_MEMORY_CHUNK - 8, 16) != NULL);
	CHECK(gm_ptr_write(&vm.mem, (64ULL << 20) - 1, 1) != NULL);
	/* Out of range: refused, nothing marked. */
	CHECK(gm_ptr_write(&vm.mem, 64ULL << 20, 1) == NULL);
	/* Not collected yet: the chunks do not see the VMM's marks. */
	CHECK_EQ(dirty_log_chunks(&vm, SNAP_MEMORY_CHUNK, out), 0);
	/* Collection without KVM fails (no VM fd) and makes the next one full. */
	char err[256] = "";
	CHECK_EQ(dirty_log_collect(&vm, err), -1);
	CHECK(err[0] != 0);
	CHECK_EQ(vm.dirty.base_gen, 0);
	/* What the VMM marked is still there for the next collection. */
	CHECK(bit(vm.mem.vmm_dirty, (5 * SNAP_MEMORY_CHUNK - 8) >> 12));
	/* Fold the VMM's marks by hand (as collect does after KVM's log). */
	for (uint64_t i = 0; i < (vm.dirty.npages + 63) / 64; i++)
		vm.dirty.pages[i] |= vm.mem.vmm_dirty[i];
	CHECK_EQ(dirty_log_chunks(&vm, SNAP_MEMORY_CHUNK, out), 3);
	CHECK(bit(out, 4) && bit(out, 5) && bit(out, nch - 1));
	CHECK(!bit(out, 3) && !bit(out, 0));
	/* Committed: nothing is new, and the bits count from the new generation. */
	dirty_log_committed(&vm, 9);
	CHECK_EQ(vm.dirty.base_gen, 9);
	CHECK_EQ(dirty_log_chunks(&vm, SNAP_MEMORY_CHUNK, out), 0);
}

/* RAM above the PCI hole sits right after the low part in the host
 * mapping, and so in the memory image: a guest write at 4 GiB is chunk
 * 3 GiB / chunk size. */
static void test_high_memory(void)
{
	setup(GM_LOW_LIMIT + (8ULL << 20));
	uint64_t words = (vm.mem.size / SNAP_MEMORY_CHUNK + 63) / 64;
	uint64_t *out = calloc(words, 8);
	CHECK(gm_ptr_write(&vm.mem, GM_HIGH_START + 4096, 8) != NULL);
	CHECK(gm_ptr_write(&vm.mem, GM_LOW_LIMIT, 8) == NULL);  /* the hole */
	for (uint64_t i = 0; i < (vm.dirty.npages + 63) / 64; i++)
		vm.dirty.pages[i] |= vm.mem.vmm_dirty[i];
	CHECK_EQ(dirty_log_chunks(&vm, SNAP_MEMORY_CHUNK, out), 1);
	CHECK(bit(out, GM_LOW_LIMIT / SNAP_MEMORY_CHUNK));
	free(out);
}

/* Inactive tracking (a cold boot before its first generation): every chunk
 * counts as changed. */
static void test_inactive_means_all(void)
{
	setup(16ULL << 20);
	vm.dirty.active = false;
	uint64_t out[8];
	CHECK_EQ(dirty_log_chunks(&vm, SNAP_MEMORY_CHUNK, out),
		 (16ULL << 20) / SNAP_MEMORY_CHUNK);
}

int main(void)
{
	test_vmm_writes_mark_chunks();
	test_high_memory();
	test_inactive_means_all();
	free(vm.mem.host);
	dirty_log_free(&vm);
	UNIT_MAIN_END();
}
