/* Guest-physical to host translation with bounds checks (guest_memory.h). */
#include "guest_memory.h"

void gm_layout(struct guest_memory *m, uint8_t *host, uint64_t size)
{
	m->host = host;
	m->size = size;
	m->low_size = size < GM_LOW_LIMIT ? size : GM_LOW_LIMIT;
	m->high_size = size - m->low_size;
	m->vmm_dirty = NULL;
}

void *gm_ptr(const struct guest_memory *m, uint64_t gpa, uint64_t len)
{
	if (gpa < m->low_size) {
		if (len > m->low_size - gpa)
			return NULL;
		return m->host + gpa;
	}
	if (gpa >= GM_HIGH_START && gpa - GM_HIGH_START < m->high_size) {
		uint64_t off = gpa - GM_HIGH_START;
		if (len > m->high_size - off)
			return NULL;
		return m->host + m->low_size + off;
	}
	if (len == 0 && (gpa == m->low_size ||
			 gpa == GM_HIGH_START + m->high_size))
		return m->host + gm_offset(m, gpa);
	return NULL;
}

uint64_t gm_offset(const struct guest_memory *m, uint64_t gpa)
{
	return gpa < GM_HIGH_START ? gpa : gpa - GM_HIGH_START + m->low_size;
}

void *gm_ptr_write(struct guest_memory *m, uint64_t gpa, uint64_t len)
{
	void *p = gm_ptr(m, gpa, len);
	if (p && m->vmm_dirty && len) {
		uint64_t first = gm_offset(m, gpa) >> 12;
		uint64_t last = (gm_offset(m, gpa) + len - 1) >> 12;
		for (uint64_t pg = first; pg <= last; pg++)
			__atomic_fetch_or(&m->vmm_dirty[pg / 64],
					  1ULL << (pg % 64), __ATOMIC_RELAXED);
	}
	return p;
}
