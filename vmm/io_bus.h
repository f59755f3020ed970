/* Dispatch of guest port I/O and MMIO exits to the device that owns the address. */
#ifndef TABI_IO_BUS_H
#define TABI_IO_BUS_H
#include <stdbool.h>
#include <stdint.h>

/* is_write: data holds `len` bytes to store; else fill data with `len` bytes.
 * addr is relative to the start of the registered range. */
typedef void (*io_handler_fn)(void *opaque, uint64_t addr, uint8_t *data,
			      uint32_t len, bool is_write);

struct io_range {
	uint64_t base, len;
	io_handler_fn fn;
	void *opaque;
};

#define IO_BUS_MAX 64
struct io_bus {
	struct io_range r[IO_BUS_MAX];
	int n;
};

/* Returns -1 if the range overlaps an existing one or the bus is full. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
		    io_handler_fn fn, void *opaque);
/* Moves a registered range (PCI BAR reprogramming); -1 if not found/overlap. */
int io_bus_move(struct io_bus *bus, void *opaque, uint64_t old_base,
		uint64_t new_base);
int io_bus_unregister(struct io_bus *bus, void *opaque, uint64_t base);
/* Reads of unclaimed addresses return all ones; writes are dropped. */
void io_bus_access(struct io_bus *bus, uint64_t addr, uint8_t *data,
		   uint32_t len, bool is_write);
#endif
