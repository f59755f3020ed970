/* PCI bus over conf1: config access, BAR sizing and moving, capability list,
 * write masks, save/restore of config space. */
#include "unit.h"
#include "pci.h"

static struct io_bus mmio, pio;
static struct pci_bus bus;
static struct pci_device dev;
static int hits;
static uint64_t last_off;

static void bar_fn(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	hits++;
	last_off = off;
	if (!is_write)
		memset(data, 0xab, len);
}

static void conf_sel(int slot, uint32_t off)
{
	uint32_t a = 0x80000000u | (uint32_t)slot << 11 | (off & 0xfc);
	pci_conf1_io(&bus, 0, (uint8_t *)&a, 4, true);
}

static uint32_t conf_rd(int slot, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	conf_sel(slot, off);
	pci_conf1_io(&bus, 4 + (off & 3), (uint8_t *)&v, len, false);
	return v;
}

static void conf_wr(int slot, uint32_t off, uint32_t v, uint32_t len)
{
	conf_sel(slot, off);
	pci_conf1_io(&bus, 4 + (off & 3), (uint8_t *)&v, len, true);
}

static bool mmio_hits(uint64_t addr)
{
	int before = hits;
	uint32_t v;
	io_bus_access(&mmio, addr, (uint8_t *)&v, 4, false);
	return hits > before;
}

int main(void)
{
	pci_bus_init(&bus, &mmio, &pio);
	pci_device_init(&dev, 0x1234, 0x5678, 0x020000, 2, 0x1af4, 0x40);
	pci_device_set_bar(&dev, 0, 0x1000, false, false, bar_fn, NULL);
	pci_device_set_bar(&dev, 2, 0x4000, false, true, bar_fn, NULL);
	pci_device_set_bar(&dev, 4, 0x20, true, false, bar_fn, NULL);
	uint8_t body1[6] = { 1, 2, 3, 4, 5, 6 };
	uint8_t body2[10] = { 7, 0, 0, 0 }, wm2[10] = { 0, 0xC0 };
	uint8_t c1 = pci_device_add_cap(&dev, PCI_CAP_ID_VNDR, body1, NULL, 8);
	uint8_t c2 = pci_device_add_cap(&dev, PCI_CAP_ID_MSIX, body2, wm2, 12);
	CHECK(c1 >= 0x40 && c2 > c1);
	int slot = pci_bus_add(&bus, &dev);
	CHECK_EQ(slot, 1);

	/* Identity through conf1, in dword, word and byte accesses. */
	CHECK_EQ(conf_rd(slot, 0, 4), 0x56781234);
	CHECK_EQ(conf_rd(slot, 2, 2), 0x5678);
	CHECK_EQ(conf_rd(slot, 3, 1), 0x56);
	CHECK_EQ(conf_rd(slot, 8, 4), 0x02000002);
	CHECK_EQ(conf_rd(slot, PCI_SUBSYSTEM_ID, 2), 0x40);
	CHECK_EQ(conf_rd(0, 0, 2), 0x8086);            /* host bridge */
	CHECK_EQ(conf_rd(7, 0, 4), 0xffffffff);        /* empty slot */
	uint32_t a = 0x00000800; /* enable bit clear */
	pci_conf1_io(&bus, 0, (uint8_t *)&a, 4, true);
	uint32_t v = 0;
	pci_conf1_io(&bus, 4, (uint8_t *)&v, 4, false);
	CHECK_EQ(v, 0xffffffff);
	v = 0;
	pci_conf1_io(&bus, 0, (uint8_t *)&v, 4, false);
	CHECK_EQ(v, 0x800);                          /* address latch reads back */

	/* Read-only fields stay put. */
	conf_wr(slot, 0, 0xdeadbeef, 4);
	CHECK_EQ(conf_rd(slot, 0, 4), 0x56781234);
	conf_wr(slot, PCI_CLASS_PROG, 0xffffffff, 4);
	CHECK_EQ(conf_rd(slot, 8, 4), 0x02000002);
	conf_wr(slot, PCI_INTERRUPT_LINE, 0x0b, 1);
	CHECK_EQ(conf_rd(slot, PCI_INTERRUPT_LINE, 1), 0x0b);
	CHECK_EQ(conf_rd(slot, PCI_INTERRUPT_PIN, 1), 0);

	/* BARs were placed in the window and decode. */
	uint32_t b0 = conf_rd(slot, PCI_BAR0, 4);
	uint64_t b2 = conf_rd(slot, PCI_BAR0 + 8, 4) | (uint64_t)conf_rd(slot, PCI_BAR0 + 12, 4) << 32;
	uint32_t b4 = conf_rd(slot, PCI_BAR0 + 16, 4);
	CHECK(b0 >= PCI_MMIO_WINDOW_BASE && !(b0 & 0xfff));
	CHECK_EQ(b2 & 0xf, 4);                          /* 64-bit memory */
	CHECK_EQ((b2 & ~0xfULL) % 0x4000, 0);
	CHECK_EQ(b4 & 3, 1);                            /* I/O */
	CHECK(conf_rd(slot, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
	CHECK(mmio_hits(b0 + 0x10));
	CHECK_EQ(last_off, 0x10);
	CHECK(mmio_hits((b2 & ~0xfULL) + 0x3ffc));
	CHECK_EQ(last_off, 0x3ffc);

	/* Sizing as Linux does it: decode off, all ones, read, restore. */
	conf_wr(slot, PCI_COMMAND, 0, 2);
	CHECK(!mmio_hits(b0));
	conf_wr(slot, PCI_BAR0, 0xffffffff, 4);
	CHECK_EQ(conf_rd(slot, PCI_BAR0, 4), 0xfffff000);
	conf_wr(slot, PCI_BAR0 + 8, 0xffffffff, 4);
	conf_wr(slot, PCI_BAR0 + 12, 0xffffffff, 4);
	CHECK_EQ(conf_rd(slot, PCI_BAR0 + 8, 4), 0xffffc004);
	CHECK_EQ(conf_rd(slot, PCI_BAR0 + 12, 4), 0xffffffff);
	conf_wr(slot, PCI_BAR0 + 16, 0xffffffff, 4);
	CHECK_EQ(conf_rd(slot, PCI_BAR0 + 16, 4), 0xffffffe1);
	conf_wr(slot, PCI_BAR0, b0, 4);
	conf_wr(slot, PCI_BAR0 + 8, (uint32_t)b2, 4);
	conf_wr(slot, PCI_BAR0 + 12, (uint32_t)(b2 >> 32), 4);
	conf_wr(slot, PCI_BAR0 + 16, b4, 4);
	/* Mid-sizing, even with decode on, all-ones is never mapped. */
	conf_wr(slot, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	CHECK(mmio_hits(b0));
	conf_wr(slot, PCI_BAR0, 0xffffffff, 4);
	CHECK(!mmio_hits(b0));
	CHECK(!mmio_hits(0xfffff000));
	conf_wr(slot, PCI_BAR0, b0, 4);
	CHECK(mmio_hits(b0));

	/* Moving a BAR re-registers its range. */
	conf_wr(slot, PCI_BAR0, 0xE8000000, 4);
	CHECK(!mmio_hits(b0));
	CHECK(mmio_hits(0xE8000000 + 4));
	/* The 64-bit BAR above 4 GiB. */
	conf_wr(slot, PCI_BAR0 + 12, 0x10, 4);
	conf_wr(slot, PCI_BAR0 + 8, 0x4, 4);
	CHECK(mmio_hits(0x1000000000ULL));
	CHECK(!mmio_hits(b2 & ~0xfULL));
	/* I/O BAR on the port bus. */
	int before = hits;
	io_bus_access(&pio, (b4 & ~3u) + 2, (uint8_t *)&v, 1, false);
	CHECK_EQ(hits, before + 1);

	/* Capability list walk. */
	CHECK(conf_rd(slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	uint8_t p = (uint8_t)conf_rd(slot, PCI_CAPABILITY_LIST, 1);
	uint8_t ids[4];
	int n = 0;
	while (p && n < 4) {
		ids[n++] = (uint8_t)conf_rd(slot, p, 1);
		p = (uint8_t)conf_rd(slot, p + 1, 1);
	}
	CHECK_EQ(n, 2);
	CHECK_EQ(ids[0], PCI_CAP_ID_VNDR);
	CHECK_EQ(ids[1], PCI_CAP_ID_MSIX);
	CHECK_EQ(conf_rd(slot, c1 + 2, 4), 0x04030201);
	/* Capability bodies: only the wmask bits change. */
	conf_wr(slot, c1, 0xffffffff, 4);
	CHECK_EQ(conf_rd(slot, c1, 4), (uint32_t)(c2 << 8 | PCI_CAP_ID_VNDR) | 0x02010000);
	conf_wr(slot, c2 + 2, 0xffff, 2);
	CHECK_EQ(conf_rd(slot, c2 + 2, 2), 0xC007);

	/* Save, scramble, restore. */
	struct state_buf sb;
	sb_init(&sb);
	pci_device_save(&dev, &sb);
	conf_wr(slot, PCI_BAR0, 0xE9000000, 4);
	conf_wr(slot, c2 + 2, 0, 2);
	struct state_buf rd;
	sb_reader(&rd, sb.data, sb.len);
	CHECK_EQ(pci_device_restore(&dev, &rd), 0);
	CHECK_EQ(conf_rd(slot, PCI_BAR0, 4), 0xE8000000);
	CHECK_EQ(conf_rd(slot, c2 + 2, 2), 0xC007);
	CHECK(mmio_hits(0xE8000000));
	CHECK(!mmio_hits(0xE9000000));
	/* Malformed state: identity bytes are not taken from it. */
	uint8_t bad[256];
	memset(bad, 0xff, sizeof(bad));
	sb_reader(&rd, bad, sizeof(bad));
	CHECK_EQ(pci_device_restore(&dev, &rd), 0);
	CHECK_EQ(conf_rd(slot, 0, 4), 0x56781234);
	sb_reader(&rd, bad, 100);
	CHECK_EQ(pci_device_restore(&dev, &rd), -1);
	sb_free(&sb);
	UNIT_MAIN_END();
}
