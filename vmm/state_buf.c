/* Growable little-endian buffer for snapshot sections (see state_buf.h). */
#include <stdlib.h>
#include <string.h>
#include "state_buf.h"

void sb_init(struct state_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void sb_free(struct state_buf *b)
{
	if (b->cap)
		free(b->data);
	memset(b, 0, sizeof(*b));
}

void sb_reader(struct state_buf *b, const void *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->data = (uint8_t *)data;
	b->len = len;
}

void sb_put_bytes(struct state_buf *b, const void *p, size_t n)
{
	if (b->error)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->error = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_le(struct state_buf *b, uint64_t v, int n)
{
	uint8_t t[8];
	for (int i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	sb_put_bytes(b, t, (size_t)n);
}

void sb_put_u8(struct state_buf *b, uint8_t v) { put_le(b, v, 1); }
void sb_put_u16(struct state_buf *b, uint16_t v) { put_le(b, v, 2); }
void sb_put_u32(struct state_buf *b, uint32_t v) { put_le(b, v, 4); }
void sb_put_u64(struct state_buf *b, uint64_t v) { put_le(b, v, 8); }

void sb_get_bytes(struct state_buf *b, void *p, size_t n)
{
	if (b->error || n > b->len - b->pos) {
		b->error = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, b->data + b->pos, n);
	b->pos += n;
}

static uint64_t get_le(struct state_buf *b, int n)
{
	uint8_t t[8];
	uint64_t v = 0;
	sb_get_bytes(b, t, (size_t)n);
	for (int i = 0; i < n; i++)
		v |= (uint64_t)t[i] << (8 * i);
	return v;
}

uint8_t sb_get_u8(struct state_buf *b) { return (uint8_t)get_le(b, 1); }
uint16_t sb_get_u16(struct state_buf *b) { return (uint16_t)get_le(b, 2); }
uint32_t sb_get_u32(struct state_buf *b) { return (uint32_t)get_le(b, 4); }
uint64_t sb_get_u64(struct state_buf *b) { return get_le(b, 8); }

bool sb_done(const struct state_buf *b)
{
	return !b->error && b->pos == b->len;
}
