/* 16550A UART (serial.h). Transmit is immediate, so the transmitter is
 * always empty; receive has a 64-byte FIFO. The interrupt line is driven at
 * the level of "an enabled interrupt is pending" and re-evaluated after
 * every register access. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "serial.h"

enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LCR_DLAB   0x80
#define LSR_DR     0x01
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define IER_RDI    0x01
#define IER_THRI   0x02
#define IER_MSI    0x08
#define IIR_NONE   0x01
#define IIR_MSI    0x00
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_FIFO   0xC0
#define FCR_ENABLE 0x01
#define FCR_CLR_RX 0x02
#define MCR_LOOP   0x10
#define MCR_OUT2   0x08

void serial_init(struct serial *s, int out_fd, const struct irq_sink *irq,
		 uint32_t gsi)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->irq = irq;
	s->gsi = gsi;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = 0xB0;  /* DCD, DSR, CTS asserted: a cable is attached */
	s->dll = 12;    /* 9600 baud */
}

static uint8_t pending_iir(struct serial *s)
{
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_pending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & 0x0F))
		return IIR_MSI;
	return IIR_NONE;
}

static void update_irq(struct serial *s)
{
	int level = pending_iir(s) != IIR_NONE;
	s->lsr = (uint8_t)((s->lsr & ~LSR_DR) | (s->rx_count ? LSR_DR : 0));
	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line(s->irq, s->gsi, level);
	}
}

static void rx_put(struct serial *s, uint8_t c)
{
	if (s->rx_count == SERIAL_FIFO_LEN) {
		s->lsr |= 0x02;  /* overrun */
		return;
	}
	s->rx[(s->rx_head + s->rx_count++) % SERIAL_FIFO_LEN] = c;
}

static void write_out(struct serial *s, uint8_t c)
{
	for (;;) {
		ssize_t n = write(s->out_fd, &c, 1);
		if (n == 1 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

static void reg_write(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case RBR_THR:
		if (s->lcr & LCR_DLAB) { s->dll = v; break; }
		/* Writing THR acknowledges THRE; the line drops before the
		 * transmitter empties again, so the edge-triggered IOAPIC pin
		 * sees a fresh edge for the next THRE interrupt. */
		s->thr_pending = false;
		update_irq(s);
		if (s->mcr & MCR_LOOP)
			rx_put(s, v);
		else
			write_out(s, v);
		s->thr_pending = true;
		break;
	case IER:
		if (s->lcr & LCR_DLAB) { s->dlm = v; break; }
		/* Enabling THRI with an empty transmitter raises it at once. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thr_pending = true;
		s->ier = v & 0x0F;
		break;
	case IIR_FCR:
		s->fcr = v & 0xC9;
		if (v & FCR_CLR_RX)
			s->rx_count = 0;
		break;
	case LCR: s->lcr = v; break;
	case MCR: s->mcr = v & 0x1F; break;
	case SCR: s->scr = v; break;
	default: break;  /* LSR, MSR are read-only */
	}
}

static uint8_t reg_read(struct serial *s, unsigned reg)
{
	uint8_t v;
	switch (reg) {
	case RBR_THR:
		if (s->lcr & LCR_DLAB) return s->dll;
		v = 0;
		if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_LEN;
			s->rx_count--;
		}
		return v;
	case IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case IIR_FCR:
		v = pending_iir(s);
		if (v == IIR_THRI)
			s->thr_pending = false;  /* reading IIR acknowledges THRE */
		return (uint8_t)(v | ((s->fcr & FCR_ENABLE) ? IIR_FIFO : 0));
	case LCR: return s->lcr;
	case MCR: return s->mcr;
	case LSR:
		v = s->lsr;
		s->lsr &= (uint8_t)~0x1E;  /* error bits clear on read */
		return v;
	case MSR:
		if (s->mcr & MCR_LOOP)  /* loopback: modem outputs feed inputs */
			return (uint8_t)(((s->mcr & 0x02) << 3) | ((s->mcr & 0x01) << 5) |
					 ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
		v = s->msr;
		s->msr &= 0xF0;
		return v;
	default:
		return s->scr;
	}
}

void serial_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	       bool is_write)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++) {
		unsigned reg = (unsigned)(off + i) & 7;
		if (is_write)
			reg_write(s, reg, data[i]);
		else
			data[i] = reg_read(s, reg);
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

unsigned serial_input_room(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned room = SERIAL_FIFO_LEN - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}

unsigned serial_push_input(struct serial *s, const uint8_t *buf, unsigned n)
{
	pthread_mutex_lock(&s->lock);
	unsigned i = 0;
	for (; i < n && s->rx_count < SERIAL_FIFO_LEN; i++)
		rx_put(s, buf[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return i;
}

void serial_save(struct serial *s, struct state_buf *b)
{
	pthread_mutex_lock(&s->lock);
	uint8_t regs[] = { s->ier, s->lcr, s->mcr, s->lsr, s->msr, s->scr,
			   s->dll, s->dlm, s->fcr, s->thr_pending };
	sb_put_u8(b, sizeof(regs));
	sb_put_bytes(b, regs, sizeof(regs));
	sb_put_u8(b, (uint8_t)s->rx_count);
	for (unsigned i = 0; i < s->rx_count; i++)
		sb_put_u8(b, s->rx[(s->rx_head + i) % SERIAL_FIFO_LEN]);
	pthread_mutex_unlock(&s->lock);
}

int serial_restore(struct serial *s, struct state_buf *b)
{
	uint8_t regs[10];
	if (sb_get_u8(b) != sizeof(regs))
		return -1;
	sb_get_bytes(b, regs, sizeof(regs));
	unsigned n = sb_get_u8(b);
	if (b->error || n > SERIAL_FIFO_LEN)
		return -1;
	pthread_mutex_lock(&s->lock);
	s->ier = regs[0] & 0x0F; s->lcr = regs[1]; s->mcr = regs[2] & 0x1F;
	s->lsr = regs[3]; s->msr = regs[4]; s->scr = regs[5]; s->dll = regs[6];
	s->dlm = regs[7]; s->fcr = regs[8]; s->thr_pending = regs[9] != 0;
	s->rx_head = 0;
	sb_get_bytes(b, s->rx, n);
	s->rx_count = n;
	/* Force the line to be driven to the restored level. */
	s->irq_level = -1;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return b->error ? -1 : 0;
}
