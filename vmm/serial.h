/* 16550A UART on COM1 (0x3F8, IRQ 4): the guest's console. Output goes to
 * a file descriptor; input is pushed in by the console loop. */
#ifndef TABI_SERIAL_H
#define TABI_SERIAL_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "irq.h"
#include "state_buf.h"

#define SERIAL_COM1_PORT 0x3F8
#define SERIAL_COM1_IRQ  4
#define SERIAL_FIFO_LEN  64

struct serial {
	pthread_mutex_t lock;
	uint8_t ier, iir_fcr, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	bool thr_pending;           /* THR-empty interrupt not yet acknowledged */
	uint8_t rx[SERIAL_FIFO_LEN];
	unsigned rx_head, rx_count;
	int out_fd;
	int irq_level;              /* level last driven on the line */
	const struct irq_sink *irq;
	uint32_t gsi;
};

void serial_init(struct serial *s, int out_fd, const struct irq_sink *irq,
		 uint32_t gsi);
void serial_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	       bool is_write);
/* Queues input bytes; returns how many fit. */
unsigned serial_push_input(struct serial *s, const uint8_t *buf, unsigned n);
unsigned serial_input_room(struct serial *s);
void serial_save(struct serial *s, struct state_buf *b);
int serial_restore(struct serial *s, struct state_buf *b);
#endif
