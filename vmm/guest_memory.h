/* Guest RAM: one host mapping, split around the PCI hole below 4 GiB.
 * Every access the VMM makes on behalf of the guest goes through gm_ptr(),
 * which refuses ranges that are not wholly inside guest RAM. */
#ifndef TABI_GUEST_MEMORY_H
#define TABI_GUEST_MEMORY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_LOW_LIMIT   0xC0000000ULL  /* RAM below this; PCI/APIC hole above */
#define GM_HIGH_START  0x100000000ULL /* RAM that did not fit below resumes here */

struct guest_memory {
	uint8_t *host;       /* host mapping of all RAM, low part first */
	uint64_t size;       /* total RAM bytes */
	uint64_t low_size;   /* bytes mapped at guest physical 0 */
	uint64_t high_size;  /* bytes mapped at GM_HIGH_START */
	/* Pages the VMM itself wrote (KVM's dirty log misses them); may be NULL. */
	uint64_t *vmm_dirty;
};

/* Lays out `size` bytes of RAM (already mapped at host) around the hole. */
void gm_layout(struct guest_memory *m, uint8_t *host, uint64_t size);

/* Host pointer for [gpa, gpa+len) or NULL if any byte lies outside RAM or
 * the range crosses from low into the hole. len 0 is allowed. */
void *gm_ptr(const struct guest_memory *m, uint64_t gpa, uint64_t len);

/* Like gm_ptr, for ranges the VMM is about to write; marks them dirty. */
void *gm_ptr_write(struct guest_memory *m, uint64_t gpa, uint64_t len);

/* Offset of gpa inside the host mapping (valid only when gm_ptr succeeded). */
uint64_t gm_offset(const struct guest_memory *m, uint64_t gpa);
#endif
