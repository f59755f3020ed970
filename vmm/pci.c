/* PCI bus 0 over conf1 (pci.h). Config writes are masked by each device's
 * wmask; BAR and command writes re-place the BAR on the I/O or MMIO bus. */
#include <string.h>
#include "pci.h"

void pci_bus_init(struct pci_bus *bus, struct io_bus *mmio, struct io_bus *pio)
{
	memset(bus, 0, sizeof(*bus));
	bus->mmio = mmio;
	bus->pio = pio;
	bus->next_mmio = PCI_MMIO_WINDOW_BASE;
	bus->next_pio = 0xC000;
	pthread_mutex_init(&bus->lock, NULL);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision,
		     uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(dev, 0, sizeof(*dev));
	put16(dev->cfg + PCI_VENDOR_ID, vendor);
	put16(dev->cfg + PCI_DEVICE_ID, device);
	dev->cfg[PCI_REVISION_ID] = revision;
	dev->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	put16(dev->cfg + PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	put16(dev->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	put16(dev->cfg + PCI_SUBSYSTEM_ID, subsys_id);
	/* Guest may toggle io/mem decode, bus mastering and INTx disable. */
	put16(dev->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
	      PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	dev->cap_end = 0x40;
}

void pci_device_set_bar(struct pci_device *dev, int n, uint64_t size,
			bool is_io, bool is_64, io_handler_fn fn, void *opaque)
{
	struct pci_bar *bar = &dev->bar[n];
	bar->size = size;
	bar->is_io = is_io;
	bar->is_64 = is_64;
	bar->fn = fn;
	bar->opaque = opaque;
	uint32_t flags = is_io ? 0x1 : (is_64 ? 0x4 : 0x0);
	put32(dev->cfg + PCI_BAR0 + 4 * n, flags);
	put32(dev->wmask + PCI_BAR0 + 4 * n, (uint32_t)~(size - 1) & (is_io ? ~3u : ~15u));
	if (is_64 && n + 1 < PCI_NUM_BARS)
		put32(dev->wmask + PCI_BAR0 + 4 * (n + 1), (uint32_t)(~(size - 1) >> 32));
}

uint8_t pci_device_add_cap(struct pci_device *dev, uint8_t cap_id,
			   const uint8_t *body, const uint8_t *wmask_body,
			   uint8_t len)
{
	uint8_t off = dev->cap_end;
	if (len < 2 || (unsigned)off + len > 256)
		return 0;
	dev->cfg[off] = cap_id;
	dev->cfg[off + 1] = 0;
	memcpy(dev->cfg + off + 2, body, len - 2);
	if (wmask_body)
		memcpy(dev->wmask + off + 2, wmask_body, len - 2);
	/* Link at the tail so capabilities appear in the order added. */
	uint8_t *link = &dev->cfg[PCI_CAPABILITY_LIST];
	while (*link)
		link = &dev->cfg[*link + 1];
	*link = off;
	dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->cap_end = (uint8_t)((off + len + 3) & ~3);
	return off;
}

static uint64_t bar_addr(const struct pci_device *dev, int n)
{
	const struct pci_bar *bar = &dev->bar[n];
	uint64_t a = pci_get32(dev, PCI_BAR0 + 4 * n);
	if (bar->is_io)
		return a & ~3ULL;
	a &= ~15ULL;
	if (bar->is_64 && n + 1 < PCI_NUM_BARS)
		a |= (uint64_t)pci_get32(dev, PCI_BAR0 + 4 * (n + 1)) << 32;
	return a;
}

static void bar_dispatch(void *opaque, uint64_t addr, uint8_t *data,
			 uint32_t len, bool is_write)
{
	struct pci_bar *bar = opaque;
	bar->fn(bar->opaque, addr, data, len, is_write);
}

/* Registers each BAR at its programmed address while its decode bit is on;
 * an address mid-sizing (all ones) or zero is left unmapped. */
static void update_bars(struct pci_device *dev)
{
	uint16_t cmd = pci_get16(dev, PCI_COMMAND);
	for (int n = 0; n < PCI_NUM_BARS; n++) {
		struct pci_bar *bar = &dev->bar[n];
		if (!bar->size)
			continue;
		struct io_bus *iob = bar->is_io ? dev->bus->pio : dev->bus->mmio;
		uint64_t addr = bar_addr(dev, n);
		uint64_t limit = bar->is_io ? 0x10000 : (bar->is_64 ? 1ULL << 46 : 1ULL << 32);
		bool on = (cmd & (bar->is_io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) &&
			  addr != 0 && addr + bar->size <= limit &&
			  addr != (~(bar->size - 1) & (limit - 1));
		if (bar->mapped && (!on || addr != bar->addr)) {
			io_bus_unregister(iob, bar, bar->addr);
			bar->mapped = false;
		}
		if (on && !bar->mapped &&
		    io_bus_register(iob, addr, bar->size, bar_dispatch, bar) == 0) {
			bar->mapped = true;
			bar->addr = addr;
		}
	}
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *dev)
{
	int slot = -1;
	for (int i = 1; i < PCI_MAX_DEVICES; i++) /* slot 0: host bridge */
		if (!bus->dev[i]) {
			slot = i;
			break;
		}
	if (slot < 0)
		return -1;
	dev->bus = bus;
	dev->slot = (uint8_t)slot;
	for (int n = 0; n < PCI_NUM_BARS; n++) {
		struct pci_bar *bar = &dev->bar[n];
		if (!bar->size)
			continue;
		uint64_t a;
		if (bar->is_io) {
			a = (bus->next_pio + bar->size - 1) & ~(bar->size - 1);
			bus->next_pio = (uint32_t)(a + bar->size);
		} else {
			a = (bus->next_mmio + bar->size - 1) & ~(bar->size - 1);
			if (a + bar->size > PCI_MMIO_WINDOW_BASE + PCI_MMIO_WINDOW_SIZE)
				return -1;
			bus->next_mmio = a + bar->size;
		}
		uint32_t lo = pci_get32(dev, PCI_BAR0 + 4 * n);
		put32(dev->cfg + PCI_BAR0 + 4 * n, (uint32_t)a | (lo & (bar->is_io ? 3 : 15)));
		if (bar->is_64)
			put32(dev->cfg + PCI_BAR0 + 4 * (n + 1), (uint32_t)(a >> 32));
	}
	uint16_t cmd = pci_get16(dev, PCI_COMMAND) | PCI_COMMAND_MEMORY | PCI_COMMAND_IO;
	put16(dev->cfg + PCI_COMMAND, cmd);
	bus->dev[slot] = dev;
	update_bars(dev);
	return slot;
}

uint32_t pci_cfg_read(struct pci_device *dev, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < len && off + i < 256; i++)
		v |= (uint32_t)dev->cfg[off + i] << (8 * i);
	return v;
}

void pci_cfg_write(struct pci_device *dev, uint32_t off, uint32_t val,
		   uint32_t len)
{
	bool bars = false;
	for (uint32_t i = 0; i < len && off + i < 256; i++) {
		uint8_t m = dev->wmask[off + i];
		uint8_t b = (uint8_t)(val >> (8 * i));
		dev->cfg[off + i] = (uint8_t)((dev->cfg[off + i] & ~m) | (b & m));
		if ((off + i >= PCI_BAR0 && off + i < PCI_BAR0 + 24) ||
		    off + i == PCI_COMMAND)
			bars = true;
	}
	if (bars && dev->bus)
		update_bars(dev);
	if (dev->cfg_write)
		dev->cfg_write(dev, off, len);
}

/* Slot 0 answers as a host bridge so the guest sees a plausible bus. */
static uint32_t host_bridge_read(uint32_t off, uint32_t len)
{
	static const uint8_t hdr[16] = { 0x86, 0x80, 0x37, 0x12, 0, 0, 0, 0,
					 0, 0, 0, 6, 0, 0, 0, 0 };
	uint32_t v = 0;
	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)(off + i < 16 ? hdr[off + i] : 0) << (8 * i);
	return v;
}

void pci_conf1_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len,
		  bool is_write)
{
	struct pci_bus *bus = opaque;
	pthread_mutex_lock(&bus->lock);
	if (addr < 4) {
		/* Only whole-dword accesses to 0xCF8 select an address. */
		if (addr == 0 && len == 4) {
			if (is_write)
				memcpy(&bus->conf_addr, data, 4);
			else
				memcpy(data, &bus->conf_addr, 4);
		} else if (!is_write) {
			memset(data, 0xff, len);
		}
		goto out;
	}
	uint32_t ca = bus->conf_addr;
	uint32_t busno = (ca >> 16) & 0xff, slot = (ca >> 11) & 0x1f;
	uint32_t fn = (ca >> 8) & 7, off = (ca & 0xfc) + (uint32_t)(addr - 4);
	struct pci_device *dev = NULL;
	bool enabled = ca & 0x80000000u;
	if (enabled && busno == 0 && fn == 0 && slot > 0)
		dev = bus->dev[slot];
	if (is_write) {
		uint32_t v = 0;
		memcpy(&v, data, len);
		if (dev)
			pci_cfg_write(dev, off, v, len);
	} else {
		uint32_t v;
		if (dev)
			v = pci_cfg_read(dev, off, len);
		else if (enabled && busno == 0 && fn == 0 && slot == 0)
			v = host_bridge_read(off, len);
		else
			v = 0xffffffffu;
		memcpy(data, &v, len);
	}
out:
	pthread_mutex_unlock(&bus->lock);
}

void pci_device_save(const struct pci_device *dev, struct state_buf *b)
{
	sb_put_bytes(b, dev->cfg, sizeof(dev->cfg));
}

int pci_device_restore(struct pci_device *dev, struct state_buf *b)
{
	uint8_t cfg[256];
	sb_get_bytes(b, cfg, sizeof(cfg));
	if (b->error)
		return -1;
	/* Identity bytes are the device's own; only guest-writable state loads. */
	for (int i = 0; i < 256; i++)
		dev->cfg[i] = (uint8_t)((dev->cfg[i] & ~dev->wmask[i]) | (cfg[i] & dev->wmask[i]));
	if (dev->bus)
		update_bars(dev);
	return 0;
}
