/* Little-endian serialisation of device and vCPU state for snapshots.
 * Writers grow a heap buffer; readers never read past the end and latch an
 * error instead, so a truncated or malformed section is detected, not trusted. */
#ifndef TABI_STATE_BUF_H
#define TABI_STATE_BUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_buf {
	uint8_t *data;
	size_t len, cap;
	size_t pos;      /* read cursor */
	bool error;      /* latched: allocation failure or read overrun */
};

void sb_init(struct state_buf *b);
void sb_free(struct state_buf *b);
/* Reader over existing bytes (not copied, not freed by sb_free). */
void sb_reader(struct state_buf *b, const void *data, size_t len);
void sb_put_u8(struct state_buf *b, uint8_t v);
void sb_put_u16(struct state_buf *b, uint16_t v);
void sb_put_u32(struct state_buf *b, uint32_t v);
void sb_put_u64(struct state_buf *b, uint64_t v);
void sb_put_bytes(struct state_buf *b, const void *p, size_t n);
uint8_t sb_get_u8(struct state_buf *b);
uint16_t sb_get_u16(struct state_buf *b);
uint32_t sb_get_u32(struct state_buf *b);
uint64_t sb_get_u64(struct state_buf *b);
void sb_get_bytes(struct state_buf *b, void *p, size_t n);
/* True when every byte was consumed and no error occurred. */
bool sb_done(const struct state_buf *b);
#endif
