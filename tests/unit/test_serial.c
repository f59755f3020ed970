/* 16550A UART: registers, DLAB, interrupts (IIR priority, THRE ack), RX FIFO
 * and overrun, loopback, output to an fd, IRQ line edges, save/restore. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "unit.h"
#include "serial.h"

struct rec { int n; uint32_t gsi[64]; int level[64]; };
static void rec_msi(void *ctx, uint64_t a, uint32_t d) { (void)ctx; (void)a; (void)d; }
static void rec_line(void *ctx, uint32_t gsi, int level)
{
	struct rec *r = ctx;
	if (r->n < 64) { r->gsi[r->n] = gsi; r->level[r->n] = level; }
	r->n++;
}

static uint8_t rd(struct serial *s, unsigned reg)
{
	uint8_t v = 0xAA;
	serial_io(s, reg, &v, 1, false);
	return v;
}
static void wr(struct serial *s, unsigned reg, uint8_t v)
{
	serial_io(s, reg, &v, 1, true);
}

enum { THR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static int memfd(void)
{
	int fd = memfd_create("serial-out", 0);
	if (fd < 0) {
		char path[] = "/tmp/tabi-serial-XXXXXX";
		fd = mkstemp(path);
		unlink(path);
	}
	return fd;
}

static size_t fd_contents(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap, 0);
	return n < 0 ? 0 : (size_t)n;
}

static void test_registers(void)
{
	struct rec rec = { 0 };
	struct irq_sink sink = { rec_msi, rec_line, &rec };
	struct serial s;
	int fd = memfd();
	CHECK(fd >= 0);
	serial_init(&s, fd, &sink, SERIAL_COM1_IRQ);
	/* Reset state: transmitter empty, no data, no interrupt. */
	CHECK_EQ(rd(&s, LSR), 0x60);
	CHECK_EQ(rd(&s, IIR), 0x01);
	CHECK_EQ(rd(&s, IER), 0);
	CHECK_EQ(rd(&s, MSR) & 0xF0, 0xB0);
	CHECK_EQ(rec.n, 0);          /* nothing changed, nothing driven */
	/* Scratch register holds any value. */
	wr(&s, SCR, 0x5A);
	CHECK_EQ(rd(&s, SCR), 0x5A);
	wr(&s, SCR, 0xA5);
	CHECK_EQ(rd(&s, SCR), 0xA5);
	/* LCR reads back. */
	wr(&s, LCR, 0x03);
	CHECK_EQ(rd(&s, LCR), 0x03);
	/* DLAB: offsets 0/1 are the divisor latch, not THR/IER. */
	wr(&s, IER, 0x05);
	wr(&s, LCR, 0x83);
	CHECK_EQ(rd(&s, THR), 12);   /* default divisor: 9600 baud */
	CHECK_EQ(rd(&s, IER), 0);
	wr(&s, THR, 0x01);
	wr(&s, IER, 0x00);
	CHECK_EQ(rd(&s, THR), 0x01);
	CHECK_EQ(rd(&s, IER), 0x00);
	wr(&s, THR, 0x34);
	wr(&s, IER, 0x12);
	CHECK_EQ(rd(&s, THR), 0x34);
	CHECK_EQ(rd(&s, IER), 0x12);
	char out[16];
	CHECK_EQ(fd_contents(fd, out, sizeof(out)), 0);  /* DLAB write sent nothing */
	wr(&s, LCR, 0x03);
	CHECK_EQ(rd(&s, IER), 0x05);  /* IER untouched by the latch writes */
	CHECK_EQ(s.dll, 0x34);
	CHECK_EQ(s.dlm, 0x12);
	/* IER keeps only the low four bits. */
	wr(&s, IER, 0xFF);
	CHECK_EQ(rd(&s, IER), 0x0F);
	wr(&s, IER, 0);
	/* MCR keeps five bits. */
	wr(&s, MCR, 0xFF);
	CHECK_EQ(rd(&s, MCR), 0x1F);
	wr(&s, MCR, 0x0B);
	/* Output goes to the fd, byte for byte. */
	const char *msg = "hi\n\x00\xff";
	for (int i = 0; i < 5; i++)
		wr(&s, THR, (uint8_t)msg[i]);
	CHECK_EQ(fd_contents(fd, out, sizeof(out)), 5);
	CHECK(!memcmp(out, msg, 5));
	CHECK_EQ(rd(&s, LSR) & 0x61, 0x60);  /* still empty, no data */
	/* Multi-byte access walks consecutive registers. */
	uint8_t two[2] = { 0x77, 0x88 };
	serial_io(&s, SCR, two, 1, true);
	uint8_t back[2];
	serial_io(&s, LSR, back, 2, false);  /* LSR, MSR */
	CHECK_EQ(back[0] & 0x60, 0x60);
	CHECK_EQ(rd(&s, SCR), 0x77);
	/* Reading RBR with nothing queued gives 0 and leaves DR clear. */
	CHECK_EQ(rd(&s, THR), 0);
	CHECK_EQ(rd(&s, LSR) & 1, 0);
	close(fd);
}

static void test_interrupts(void)
{
	struct rec rec = { 0 };
	struct irq_sink sink = { rec_msi, rec_line, &rec };
	struct serial s;
	int fd = memfd();
	serial_init(&s, fd, &sink, 4);
	/* Enabling THRI with an empty transmitter raises THRE at once. */
	wr(&s, IER, 0x02);
	CHECK_EQ(rec.n, 1);
	CHECK_EQ(rec.gsi[0], 4);
	CHECK_EQ(rec.level[0], 1);
	/* Reading IIR reports and acknowledges it. */
	CHECK_EQ(rd(&s, IIR), 0x02);
	CHECK_EQ(rec.n, 2);
	CHECK_EQ(rec.level[1], 0);
	CHECK_EQ(rd(&s, IIR), 0x01);
	CHECK_EQ(rec.n, 2);          /* no change, no call */
	/* Writing THR: the byte leaves at once, so THRE is pending again. */
	wr(&s, THR, 'a');
	CHECK_EQ(rec.n, 3);
	CHECK_EQ(rec.level[2], 1);
	CHECK_EQ(rd(&s, IIR), 0x02);
	CHECK_EQ(rec.level[3], 0);
	/* Re-writing IER with THRI already on does not re-raise. */
	wr(&s, IER, 0x02);
	CHECK_EQ(rd(&s, IIR), 0x01);
	/* Disabling THRI then enabling again raises again. */
	wr(&s, IER, 0x00);
	wr(&s, IER, 0x02);
	CHECK_EQ(rd(&s, IIR), 0x02);
	/* Disabling THRI while pending drops the line. */
	wr(&s, THR, 'b');
	CHECK_EQ(s.irq_level, 1);
	int before = rec.n;
	wr(&s, IER, 0x00);
	CHECK_EQ(rec.n, before + 1);
	CHECK_EQ(rec.level[rec.n - 1], 0);
	CHECK_EQ(rd(&s, IIR), 0x01);

	/* RX data: DR in LSR, IIR RDI, line up while data is queued. */
	wr(&s, IER, 0x01);
	CHECK_EQ(rd(&s, IIR), 0x01);   /* RDI enabled but nothing to read */
	before = rec.n;
	uint8_t in[] = { 'x', 'y' };
	CHECK_EQ(serial_push_input(&s, in, 2), 2);
	CHECK_EQ(rec.n, before + 1);
	CHECK_EQ(rec.level[rec.n - 1], 1);
	CHECK_EQ(rd(&s, LSR) & 1, 1);
	CHECK_EQ(rd(&s, IIR), 0x04);
	CHECK_EQ(rd(&s, IIR), 0x04);   /* reading IIR does not ack RDI */
	CHECK_EQ(rd(&s, THR), 'x');
	CHECK_EQ(rec.n, before + 1);  /* still one byte: line stays up */
	CHECK_EQ(rd(&s, THR), 'y');
	CHECK_EQ(rec.n, before + 2);
	CHECK_EQ(rec.level[rec.n - 1], 0);
	CHECK_EQ(rd(&s, LSR) & 1, 0);
	CHECK_EQ(rd(&s, IIR), 0x01);
	/* Data arriving with RDI disabled: DR set, no interrupt. */
	wr(&s, IER, 0x00);
	before = rec.n;
	serial_push_input(&s, in, 1);
	CHECK_EQ(rec.n, before);
	CHECK_EQ(rd(&s, LSR) & 1, 1);
	CHECK_EQ(rd(&s, IIR), 0x01);
	/* Enabling RDI with data queued raises. */
	wr(&s, IER, 0x01);
	CHECK_EQ(rec.n, before + 1);
	CHECK_EQ(rec.level[rec.n - 1], 1);
	/* RX data has priority over THRE; THRE stays pending behind it. */
	wr(&s, IER, 0x03);
	CHECK_EQ(rd(&s, IIR), 0x04);
	CHECK_EQ(rd(&s, IIR), 0x04);
	CHECK_EQ(rd(&s, THR), 'x');
	CHECK_EQ(s.irq_level, 1);        /* THRE still pending */
	CHECK_EQ(rd(&s, IIR), 0x02);
	CHECK_EQ(s.irq_level, 0);
	CHECK_EQ(rd(&s, IIR), 0x01);

	/* FIFO enable sets IIR bits 7:6 on every IIR value. */
	wr(&s, IIR, 0x01);
	CHECK_EQ(rd(&s, IIR), 0xC1);
	serial_push_input(&s, in, 1);
	CHECK_EQ(rd(&s, IIR), 0xC4);
	wr(&s, IIR, 0x07);               /* enable + clear RX + clear TX */
	CHECK_EQ(rd(&s, LSR) & 1, 0);     /* RX FIFO flushed */
	CHECK_EQ(s.irq_level, 0);
	CHECK_EQ(rd(&s, IIR), 0xC1);
	wr(&s, IIR, 0x00);                /* FIFOs off */
	CHECK_EQ(rd(&s, IIR), 0x01);

	/* Modem status interrupt: delta bits in MSR. */
	wr(&s, IER, 0x08);
	CHECK_EQ(rd(&s, IIR), 0x01);      /* no deltas after reset */
	s.msr |= 0x01;                    /* a delta-CTS happened */
	wr(&s, SCR, 0);                   /* any access re-evaluates */
	CHECK_EQ(rd(&s, IIR), 0x00);
	CHECK_EQ(s.irq_level, 1);
	CHECK_EQ(rd(&s, MSR), 0xB1);      /* reading MSR clears deltas */
	CHECK_EQ(s.irq_level, 0);
	CHECK_EQ(rd(&s, MSR), 0xB0);
	wr(&s, IER, 0);

	/* The recorded levels alternate: only changes are driven. */
	int lim = rec.n < 64 ? rec.n : 64;
	for (int i = 1; i < lim; i++)
		CHECK(rec.level[i] != rec.level[i - 1]);
	CHECK_EQ(rec.level[0], 1);
	close(fd);
}

static void test_fifo_overrun(void)
{
	struct rec rec = { 0 };
	struct irq_sink sink = { rec_msi, rec_line, &rec };
	struct serial s;
	int fd = memfd();
	serial_init(&s, fd, &sink, 4);
	CHECK_EQ(serial_input_room(&s), SERIAL_FIFO_LEN);
	uint8_t buf[100];
	for (int i = 0; i < 100; i++)
		buf[i] = (uint8_t)(i + 1);
	CHECK_EQ(serial_push_input(&s, buf, 10), 10);
	CHECK_EQ(serial_input_room(&s), SERIAL_FIFO_LEN - 10);
	/* push_input stops at the FIFO's capacity (no overrun from the host). */
	CHECK_EQ(serial_push_input(&s, buf + 10, 90), SERIAL_FIFO_LEN - 10);
	CHECK_EQ(serial_input_room(&s), 0);
	CHECK_EQ(serial_push_input(&s, buf, 5), 0);
	CHECK_EQ(rd(&s, LSR) & 0x03, 0x01);   /* data, no overrun */
	/* Loopback into a full FIFO overruns: the byte is lost, OE set. */
	wr(&s, MCR, 0x10);
	wr(&s, THR, 0xEE);
	uint8_t lsr = rd(&s, LSR);
	CHECK_EQ(lsr & 0x03, 0x03);
	CHECK_EQ(rd(&s, LSR) & 0x02, 0);     /* OE clears on read */
	/* FIFO order preserved, across the ring's wrap. */
	int ok = 1;
	for (int i = 0; i < 30; i++)
		ok &= rd(&s, THR) == (uint8_t)(i + 1);
	CHECK(ok);
	CHECK_EQ(serial_push_input(&s, (uint8_t *)"\xF0\xF1\xF2", 3), 3);
	for (int i = 30; i < SERIAL_FIFO_LEN; i++)
		ok &= rd(&s, THR) == (uint8_t)(i + 1);
	CHECK(ok);
	CHECK_EQ(rd(&s, THR), 0xF0);
	CHECK_EQ(rd(&s, THR), 0xF1);
	CHECK_EQ(rd(&s, THR), 0xF2);
	CHECK_EQ(rd(&s, LSR) & 1, 0);
	CHECK_EQ(serial_input_room(&s), SERIAL_FIFO_LEN);
	close(fd);
}

static void test_loopback(void)
{
	struct rec rec = { 0 };
	struct irq_sink sink = { rec_msi, rec_line, &rec };
	struct serial s;
	int fd = memfd();
	serial_init(&s, fd, &sink, 4);
	wr(&s, MCR, 0x10);
	wr(&s, IER, 0x01);
	wr(&s, THR, 'L');
	wr(&s, THR, 'B');
	char out[8];
	CHECK_EQ(fd_contents(fd, out, sizeof(out)), 0);  /* nothing left the UART */
	CHECK_EQ(rd(&s, LSR) & 1, 1);
	CHECK_EQ(rd(&s, IIR), 0x04);
	CHECK_EQ(s.irq_level, 1);
	CHECK_EQ(rd(&s, THR), 'L');
	CHECK_EQ(rd(&s, THR), 'B');
	CHECK_EQ(s.irq_level, 0);
	/* MSR in loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	wr(&s, MCR, 0x10);
	CHECK_EQ(rd(&s, MSR) & 0xF0, 0x00);
	wr(&s, MCR, 0x11);
	CHECK_EQ(rd(&s, MSR) & 0xF0, 0x20);
	wr(&s, MCR, 0x12);
	CHECK_EQ(rd(&s, MSR) & 0xF0, 0x10);
	wr(&s, MCR, 0x14);
	CHECK_EQ(rd(&s, MSR) & 0xF0, 0x40);
	wr(&s, MCR, 0x18);
	CHECK_EQ(rd(&s, MSR) & 0xF0, 0x80);
	wr(&s, MCR, 0x1F);
	CHECK_EQ(rd(&s, MSR) & 0xF0, 0xF0);
	/* Leaving loopback: output goes to the fd again, MSR is the cable's. */
	wr(&s, MCR, 0x0B);
	CHECK_EQ(rd(&s, MSR) & 0xF0, 0xB0);
	wr(&s, THR, 'Z');
	CHECK_EQ(fd_contents(fd, out, sizeof(out)), 1);
	CHECK_EQ(out[0], 'Z');
	CHECK_EQ(rd(&s, LSR) & 1, 0);
	close(fd);

	/* Output to a pipe. */
	int p[2];
	CHECK_EQ(pipe(p), 0);
	serial_init(&s, p[1], &sink, 4);
	wr(&s, THR, 'P');
	wr(&s, THR, 'Q');
	char pb[4] = { 0 };
	CHECK_EQ(read(p[0], pb, sizeof(pb)), 2);
	CHECK(!memcmp(pb, "PQ", 2));
	/* A closed reader (EPIPE) does not hang or crash the UART. */
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	wr(&s, THR, 'R');
	CHECK_EQ(rd(&s, LSR) & 0x60, 0x60);
	close(p[1]);
}

static void fill_state(struct serial *s, int fd, const struct irq_sink *sink)
{
	serial_init(s, fd, sink, 4);
	wr(s, LCR, 0x83);
	wr(s, THR, 0x01);
	wr(s, IER, 0x00);
	wr(s, LCR, 0x1B);
	wr(s, SCR, 0x42);
	wr(s, MCR, 0x0B);
	wr(s, IIR, 0xC1);
	wr(s, IER, 0x03);
	/* Consume some bytes so the ring's head is not 0, then queue more. */
	uint8_t junk[SERIAL_FIFO_LEN];
	memset(junk, 0x33, sizeof(junk));
	serial_push_input(s, junk, 40);
	for (int i = 0; i < 40; i++)
		rd(s, THR);
	serial_push_input(s, (const uint8_t *)"0123456789abcdefghijklmnopqrstuvwxyz", 36);
}

static void test_save_restore(void)
{
	struct rec rec = { 0 }, rec2 = { 0 };
	struct irq_sink sink = { rec_msi, rec_line, &rec };
	struct irq_sink sink2 = { rec_msi, rec_line, &rec2 };
	int fd = memfd();
	struct serial s, t;
	fill_state(&s, fd, &sink);
	CHECK_EQ(s.irq_level, 1);
	struct state_buf b, r;
	sb_init(&b);
	serial_save(&s, &b);
	CHECK(!b.error);

	serial_init(&t, fd, &sink2, 4);
	sb_reader(&r, b.data, b.len);
	CHECK_EQ(serial_restore(&t, &r), 0);
	CHECK(sb_done(&r));
	/* The restored UART drives the line to its level once. */
	CHECK_EQ(rec2.n, 1);
	CHECK_EQ(rec2.gsi[0], 4);
	CHECK_EQ(rec2.level[0], 1);
	CHECK_EQ(rd(&t, LCR), 0x1B);
	CHECK_EQ(rd(&t, SCR), 0x42);
	CHECK_EQ(rd(&t, MCR), 0x0B);
	CHECK_EQ(rd(&t, IER), 0x03);
	CHECK_EQ(rd(&t, IIR), 0xC4);
	wr(&t, LCR, 0x9B);
	CHECK_EQ(rd(&t, THR), 0x01);
	CHECK_EQ(rd(&t, IER), 0x00);
	wr(&t, LCR, 0x1B);
	CHECK_EQ(serial_input_room(&t), SERIAL_FIFO_LEN - 36);
	char got[37] = { 0 };
	for (int i = 0; i < 36; i++)
		got[i] = (char)rd(&t, THR);
	CHECK(!strcmp(got, "0123456789abcdefghijklmnopqrstuvwxyz"));
	CHECK_EQ(rd(&t, LSR) & 1, 0);
	/* THRE was pending too (never acknowledged). */
	CHECK_EQ(rd(&t, IIR), 0xC2);
	CHECK_EQ(rd(&t, IIR), 0xC1);
	CHECK_EQ(t.irq_level, 0);

	/* Restoring a quiet UART drives the line low (level forced). */
	struct serial q;
	serial_init(&q, fd, &sink, 4);
	struct state_buf bq, rq;
	sb_init(&bq);
	serial_save(&q, &bq);
	rec2.n = 0;
	t.irq_level = 1;
	sb_reader(&rq, bq.data, bq.len);
	CHECK_EQ(serial_restore(&t, &rq), 0);
	CHECK_EQ(rec2.n, 1);
	CHECK_EQ(rec2.level[0], 0);
	CHECK_EQ(rd(&t, LSR) & 1, 0);
	sb_free(&bq);

	/* Every truncation is refused. */
	int refused = 0;
	for (size_t len = 0; len < b.len; len++) {
		struct serial u;
		serial_init(&u, fd, &sink2, 4);
		sb_reader(&r, b.data, len);
		refused += serial_restore(&u, &r) == -1;
	}
	CHECK_EQ(refused, b.len);
	/* Malformed: wrong register-block size, FIFO count beyond capacity. */
	uint8_t *bad = malloc(b.len + 300);
	memcpy(bad, b.data, b.len);
	bad[0] = 9;
	sb_reader(&r, bad, b.len);
	CHECK_EQ(serial_restore(&t, &r), -1);
	bad[0] = 10;
	bad[11] = SERIAL_FIFO_LEN + 1;
	memset(bad + 12, 'q', 200);
	sb_reader(&r, bad, 12 + SERIAL_FIFO_LEN + 1);
	CHECK_EQ(serial_restore(&t, &r), -1);
	bad[11] = 255;
	sb_reader(&r, bad, 12 + 255);
	CHECK_EQ(serial_restore(&t, &r), -1);
	/* A full FIFO (64) is fine. */
	bad[11] = SERIAL_FIFO_LEN;
	sb_reader(&r, bad, 12 + SERIAL_FIFO_LEN);
	CHECK_EQ(serial_restore(&t, &r), 0);
	CHECK_EQ(serial_input_room(&t), 0);
	free(bad);
	sb_free(&b);
	close(fd);
}

int main(void)
{
	test_registers();
	test_interrupts();
	test_fifo_overrun();
	test_loopback();
	test_save_restore();
	UNIT_MAIN_END();
}
