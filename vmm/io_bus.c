/* Address-range dispatch for port I/O and MMIO exits. Ranges are few (tens),
 * so a linear scan is fast enough and keeps the code obvious. */
#include <string.h>
#include "io_bus.h"

static bool overlaps(const struct io_range *r, uint64_t base, uint64_t len)
{
	return base < r->base + r->len && r->base < base + len;
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
		    io_handler_fn fn, void *opaque)
{
	if (bus->n >= IO_BUS_MAX || len == 0)
		return -1;
	for (int i = 0; i < bus->n; i++)
		if (overlaps(&bus->r[i], base, len))
			return -1;
	bus->r[bus->n++] = (struct io_range){ base, len, fn, opaque };
	return 0;
}

static int find(struct io_bus *bus, void *opaque, uint64_t base)
{
	for (int i = 0; i < bus->n; i++)
		if (bus->r[i].opaque == opaque && bus->r[i].base == base)
			return i;
	return -1;
}

int io_bus_move(struct io_bus *bus, void *opaque, uint64_t old_base,
		uint64_t new_base)
{
	int i = find(bus, opaque, old_base);
	if (i < 0)
		return -1;
	for (int j = 0; j < bus->n; j++)
		if (j != i && overlaps(&bus->r[j], new_base, bus->r[i].len))
			return -1;
	bus->r[i].base = new_base;
	return 0;
}

int io_bus_unregister(struct io_bus *bus, void *opaque, uint64_t base)
{
	int i = find(bus, opaque, base);
	if (i < 0)
		return -1;
	bus->r[i] = bus->r[--bus->n];
	return 0;
}

void io_bus_access(struct io_bus *bus, uint64_t addr, uint8_t *data,
		   uint32_t len, bool is_write)
{
	for (int i = 0; i < bus->n; i++) {
		struct io_range *r = &bus->r[i];
		if (addr >= r->base && addr - r->base < r->len) {
			/* An access straddling the end is clipped, not passed on. */
			uint64_t off = addr - r->base;
			if (len > r->len - off)
				len = (uint32_t)(r->len - off);
			r->fn(r->opaque, off, data, len, is_write);
			return;
		}
	}
	if (!is_write)
		memset(data, 0xff, len);
}
