/* Which guest memory changed since the last committed generation, so the
 * next one stores only that: KVM's dirty log (writes by the guest and by
 * KVM itself) plus the pages the VMM wrote on the guest's behalf (virtio
 * buffers and rings, through gm_ptr_write). The bits accumulate across
 * collections until a generation commits them, so a failed freeze loses
 * nothing. */
#ifndef TABI_DIRTY_LOG_H
#define TABI_DIRTY_LOG_H
#include <stdbool.h>
#include <stdint.h>

struct vm;

struct dirty_log {
	bool active;
	uint64_t base_gen;   /* the generation the bits are relative to */
	uint64_t npages;     /* 4 KiB pages of the host mapping */
	uint64_t *pages;     /* accumulated: 1 bit per page */
	uint64_t *scratch;   /* one KVM_GET_DIRTY_LOG bitmap */
};

/* Starts tracking relative to generation base_gen: turns on KVM's dirty
 * log for the RAM slots if it is not on yet and makes gm_ptr_write mark
 * pages. vCPUs must be parked (or not started). -1 with err. */
int dirty_log_start(struct vm *vm, uint64_t base_gen, char err[256]);
/* Folds KVM's log and the VMM's marks into the accumulated bits (vCPUs
 * parked). -1 with err. */
int dirty_log_collect(struct vm *vm, char err[256]);
/* One bit per chunk_bytes of the host mapping: set when any page in it
 * changed. out holds ceil(size/chunk_bytes) bits, rounded up to words.
 * Returns the number of changed chunks. */
uint64_t dirty_log_chunks(const struct vm *vm, uint64_t chunk_bytes, uint64_t *out);
/* A generation holding everything collected so far committed: the bits
 * now count from gen. */
void dirty_log_committed(struct vm *vm, uint64_t gen);
void dirty_log_free(struct vm *vm);
#endif
