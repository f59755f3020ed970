/* I/O bus dispatch: overlap refusal, move, unregister, unclaimed reads,
 * accesses clipped at a range's end, relative offsets. */
#include "unit.h"
#include "io_bus.h"

struct dev {
	int calls;
	uint64_t off;
	uint32_t len;
	bool is_write;
	uint8_t last[8];
	uint8_t fill;
};

static void handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct dev *d = opaque;
	d->calls++;
	d->off = off;
	d->len = len;
	d->is_write = is_write;
	if (is_write)
		memcpy(d->last, data, len < 8 ? len : 8);
	else
		memset(data, d->fill, len);
}

int main(void)
{
	struct io_bus bus;
	memset(&bus, 0, sizeof(bus));
	struct dev a = { .fill = 0xA1 }, b = { .fill = 0xB2 }, c = { .fill = 0xC3 };

	CHECK_EQ(io_bus_register(&bus, 0x3F8, 8, handler, &a), 0);
	CHECK_EQ(io_bus_register(&bus, 0x70, 2, handler, &b), 0);
	/* Overlaps of every shape are refused; touching neighbours are not. */
	CHECK_EQ(io_bus_register(&bus, 0x3F8, 8, handler, &c), -1);  /* same */
	CHECK_EQ(io_bus_register(&bus, 0x3F0, 9, handler, &c), -1);  /* tail in */
	CHECK_EQ(io_bus_register(&bus, 0x3FF, 4, handler, &c), -1);  /* head in */
	CHECK_EQ(io_bus_register(&bus, 0x3FA, 1, handler, &c), -1);  /* inside */
	CHECK_EQ(io_bus_register(&bus, 0x300, 0x200, handler, &c), -1); /* covers */
	CHECK_EQ(io_bus_register(&bus, 0x400, 0, handler, &c), -1);  /* empty */
	CHECK_EQ(bus.n, 2);
	CHECK_EQ(io_bus_register(&bus, 0x3F0, 8, handler, &c), 0);   /* ends at 0x3F7 */
	CHECK_EQ(io_bus_register(&bus, 0x400, 4, handler, &c), 0);   /* starts at 0x400 */
	CHECK_EQ(bus.n, 4);

	/* Dispatch with offsets relative to the range. */
	uint8_t d[8] = { 0x11, 0x22, 0x33, 0x44 };
	io_bus_access(&bus, 0x3FB, d, 1, true);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.off, 3);
	CHECK_EQ(a.len, 1);
	CHECK(a.is_write);
	CHECK_EQ(a.last[0], 0x11);
	io_bus_access(&bus, 0x71, d, 1, false);
	CHECK_EQ(b.calls, 1);
	CHECK_EQ(b.off, 1);
	CHECK(!b.is_write);
	CHECK_EQ(d[0], 0xB2);
	io_bus_access(&bus, 0x3F7, d, 1, false);
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(c.off, 7);

	/* Unclaimed: reads all ones (every byte), writes dropped. */
	memset(d, 0, sizeof(d));
	io_bus_access(&bus, 0x80, d, 4, false);
	CHECK_EQ(d[0] & d[1] & d[2] & d[3], 0xFF);
	CHECK_EQ(d[4], 0);
	int calls = a.calls + b.calls + c.calls;
	io_bus_access(&bus, 0x80, d, 4, true);
	io_bus_access(&bus, 0x72, d, 1, true);     /* just past 0x70-0x71 */
	io_bus_access(&bus, 0x6F, d, 1, false);    /* just before */
	CHECK_EQ(d[0], 0xFF);
	CHECK_EQ(a.calls + b.calls + c.calls, calls);

	/* Straddling the end: clipped to the range, never passed beyond. */
	memset(d, 0, sizeof(d));
	io_bus_access(&bus, 0x71, d, 4, false);
	CHECK_EQ(b.off, 1);
	CHECK_EQ(b.len, 1);
	CHECK_EQ(d[0], 0xB2);
	io_bus_access(&bus, 0x3FE, d, 4, true);
	CHECK_EQ(a.off, 6);
	CHECK_EQ(a.len, 2);
	/* An access starting just before a range is not claimed by it. */
	int bc = b.calls;
	io_bus_access(&bus, 0x6F, d, 2, false);
	CHECK_EQ(b.calls, bc);

	/* Move (BAR reprogramming). */
	CHECK_EQ(io_bus_move(&bus, &b, 0x70, 0x3FC), -1);   /* onto a */
	CHECK_EQ(io_bus_move(&bus, &b, 0x71, 0x500), -1);   /* wrong old base */
	CHECK_EQ(io_bus_move(&bus, &a, 0x70, 0x500), -1);   /* wrong owner */
	CHECK_EQ(io_bus_move(&bus, &b, 0x70, 0x500), 0);
	bc = b.calls;
	io_bus_access(&bus, 0x70, d, 1, false);
	CHECK_EQ(b.calls, bc);
	CHECK_EQ(d[0], 0xFF);
	io_bus_access(&bus, 0x501, d, 1, false);
	CHECK_EQ(b.calls, bc + 1);
	CHECK_EQ(b.off, 1);
	/* Moving onto itself (overlapping its own old place) is allowed. */
	CHECK_EQ(io_bus_move(&bus, &b, 0x500, 0x501), 0);
	io_bus_access(&bus, 0x502, d, 1, false);
	CHECK_EQ(b.off, 1);

	/* Unregister frees the range for others. */
	CHECK_EQ(io_bus_unregister(&bus, &a, 0x3F0), -1);   /* c's base, a's opaque */
	CHECK_EQ(io_bus_unregister(&bus, &a, 0x3F8), 0);
	CHECK_EQ(io_bus_unregister(&bus, &a, 0x3F8), -1);   /* already gone */
	CHECK_EQ(bus.n, 3);
	int ac = a.calls;
	io_bus_access(&bus, 0x3F8, d, 1, false);
	CHECK_EQ(a.calls, ac);
	CHECK_EQ(d[0], 0xFF);
	/* The others still dispatch after the table was compacted. */
	io_bus_access(&bus, 0x3F0, d, 1, false);
	CHECK_EQ(d[0], 0xC3);
	io_bus_access(&bus, 0x403, d, 1, false);
	CHECK_EQ(c.off, 3);
	CHECK_EQ(io_bus_register(&bus, 0x3F8, 8, handler, &a), 0);

	/* Same opaque at two bases (a device with two BARs). */
	CHECK_EQ(io_bus_register(&bus, 0x600, 4, handler, &a), 0);
	CHECK_EQ(io_bus_unregister(&bus, &a, 0x600), 0);
	io_bus_access(&bus, 0x3F9, d, 1, false);
	CHECK_EQ(d[0], 0xA1);

	/* MMIO-sized addresses near the top of the space. */
	struct io_bus mm;
	memset(&mm, 0, sizeof(mm));
	CHECK_EQ(io_bus_register(&mm, 0xFEC00000, 0x1000, handler, &a), 0);
	CHECK_EQ(io_bus_register(&mm, 0xFFFFFFFFFFFFF000ULL, 0x1000, handler, &b), 0);
	io_bus_access(&mm, 0xFFFFFFFFFFFFFFFCULL, d, 8, false);
	CHECK_EQ(b.off, 0xFFC);
	CHECK_EQ(b.len, 4);
	io_bus_access(&mm, 0xFEC00FFF, d, 4, true);
	CHECK_EQ(a.off, 0xFFF);
	CHECK_EQ(a.len, 1);

	/* The bus fills up and says so. */
	struct io_bus full;
	memset(&full, 0, sizeof(full));
	int ok = 1;
	for (int i = 0; i < IO_BUS_MAX; i++)
		ok &= io_bus_register(&full, 0x1000 + 16 * (uint64_t)i, 16, handler, &a) == 0;
	CHECK(ok);
	CHECK_EQ(io_bus_register(&full, 0x9000, 16, handler, &a), -1);
	CHECK_EQ(full.n, IO_BUS_MAX);
	UNIT_MAIN_END();
}
