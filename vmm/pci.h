/* PCI bus 0 behind the conf1 ports 0xCF8/0xCFC: type-0 configuration space,
 * BAR sizing and placement, capability lists. Devices fill in their config
 * space and BAR sizes; the bus places BARs in the MMIO window and routes
 * accesses to the device's BAR handler while memory decoding is enabled. */
#ifndef TABI_PCI_H
#define TABI_PCI_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "io_bus.h"
#include "state_buf.h"

#define PCI_CONF_ADDR_PORT  0xCF8
#define PCI_CONF_DATA_PORT  0xCFC
#define PCI_MMIO_WINDOW_BASE 0xE0000000ULL /* 32-bit BARs live here */
#define PCI_MMIO_WINDOW_SIZE 0x10000000ULL /* up to 0xF0000000 */
#define PCI_MAX_DEVICES 32
#define PCI_NUM_BARS 6

/* Standard header offsets used by tabi. */
#define PCI_VENDOR_ID      0x00
#define PCI_DEVICE_ID      0x02
#define PCI_COMMAND        0x04
#define  PCI_COMMAND_IO      0x1
#define  PCI_COMMAND_MEMORY  0x2
#define  PCI_COMMAND_MASTER  0x4
#define  PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS         0x06
#define  PCI_STATUS_CAP_LIST 0x10
#define PCI_REVISION_ID    0x08
#define PCI_CLASS_PROG     0x09
#define PCI_CLASS_DEVICE   0x0A
#define PCI_HEADER_TYPE    0x0E
#define PCI_BAR0           0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID   0x2E
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3C
#define PCI_INTERRUPT_PIN  0x3D
#define PCI_CAP_ID_MSIX    0x11
#define PCI_CAP_ID_VNDR    0x09

struct pci_device;

/* Called after the guest wrote config space bytes [off, off+len), with the
 * new value already stored (masked by wmask). Lets a device react, e.g. to
 * the MSI-X enable bit. May be NULL. */
typedef void (*pci_cfg_write_fn)(struct pci_device *dev, uint32_t off,
				 uint32_t len);

struct pci_bar {
	uint64_t size;      /* power of two >= 16 (memory) or 4 (io); 0 = unused */
	bool is_io;
	bool is_64;         /* 64-bit memory BAR: uses this slot and the next */
	uint64_t addr;      /* current guest address (from the config space) */
	io_handler_fn fn;   /* addr passed to fn is the offset inside the BAR */
	void *opaque;
	bool mapped;        /* registered on a bus at addr */
};

struct pci_device {
	uint8_t cfg[256];
	uint8_t wmask[256];   /* bits the guest may change */
	struct pci_bar bar[PCI_NUM_BARS];
	pci_cfg_write_fn cfg_write;
	void *opaque;         /* the device model that owns this function */
	uint8_t slot;         /* device number on bus 0, set by pci_bus_add */
	uint8_t cap_end;      /* next free config offset for capabilities */
	struct pci_bus *bus;
};

struct pci_bus {
	struct pci_device *dev[PCI_MAX_DEVICES];
	uint32_t conf_addr;      /* last value written to 0xCF8 */
	struct io_bus *mmio, *pio;
	uint64_t next_mmio;      /* allocation cursor inside the MMIO window */
	uint32_t next_pio;
	pthread_mutex_t lock;    /* config cycles from several vCPUs */
};

void pci_bus_init(struct pci_bus *bus, struct io_bus *mmio, struct io_bus *pio);
/* Initialises dev's header (ids, class, header type 0, cap list empty).
 * class_code is the 24-bit class/subclass/prog-if. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision,
		     uint16_t subsys_vendor, uint16_t subsys_id);
/* Declares BAR n; the address is assigned by pci_bus_add. */
void pci_device_set_bar(struct pci_device *dev, int n, uint64_t size,
			bool is_io, bool is_64, io_handler_fn fn, void *opaque);
/* Appends a capability of `len` bytes (first two bytes: id, next) and returns
 * its config-space offset, or 0 when it does not fit. `body` gives the bytes
 * after id/next; wmask_body (may be NULL) their writable bits. */
uint8_t pci_device_add_cap(struct pci_device *dev, uint8_t cap_id,
			   const uint8_t *body, const uint8_t *wmask_body,
			   uint8_t len);
/* Puts dev in the next free slot, assigns its BARs and enables decoding
 * as firmware would. Returns the slot or -1. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *dev);
/* conf1 port handler for ports 0xCF8..0xCFF (opaque = bus). */
void pci_conf1_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len,
		  bool is_write);
/* Direct config accessors (also used by tests). */
uint32_t pci_cfg_read(struct pci_device *dev, uint32_t off, uint32_t len);
void pci_cfg_write(struct pci_device *dev, uint32_t off, uint32_t val,
		   uint32_t len);

/* Snapshot: config space (BAR addresses, command, capability state). */
void pci_device_save(const struct pci_device *dev, struct state_buf *b);
/* Restores config space and re-places BARs; -1 on malformed state. */
int pci_device_restore(struct pci_device *dev, struct state_buf *b);

static inline uint16_t pci_get16(const struct pci_device *d, uint32_t off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}
static inline uint32_t pci_get32(const struct pci_device *d, uint32_t off)
{
	return (uint32_t)d->cfg[off] | (uint32_t)d->cfg[off + 1] << 8 |
	       (uint32_t)d->cfg[off + 2] << 16 | (uint32_t)d->cfg[off + 3] << 24;
}
#endif
