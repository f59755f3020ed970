/* ACPI table builder (acpi.h). Hardware-reduced ACPI (FADT flag) means no
 * PM1 event/control blocks and no SCI: power-off goes through the sleep
 * control register, reboot through the reset register. */
#include <string.h>
#include "acpi.h"

struct tbl { uint8_t *buf; size_t cap, len; uint64_t base; bool overflow; };

static size_t put(struct tbl *t, const void *p, size_t n)
{
	size_t at = t->len;
	if (t->len + n > t->cap) {
		t->overflow = true;
		return at;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	return at;
}
static void put8(struct tbl *t, uint8_t v) { put(t, &v, 1); }
static void put16(struct tbl *t, uint16_t v) { uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; put(t, b, 2); }
static void put32(struct tbl *t, uint32_t v) { put16(t, (uint16_t)v); put16(t, (uint16_t)(v >> 16)); }
static void put64(struct tbl *t, uint64_t v) { put32(t, (uint32_t)v); put32(t, (uint32_t)(v >> 32)); }
static void set32(struct tbl *t, size_t at, uint32_t v)
{
	if (t->overflow) return;
	for (int i = 0; i < 4; i++) t->buf[at + i] = (uint8_t)(v >> (8 * i));
}
static void set64(struct tbl *t, size_t at, uint64_t v)
{
	set32(t, at, (uint32_t)v);
	set32(t, at + 4, (uint32_t)(v >> 32));
}
static void align(struct tbl *t, size_t a) { while (t->len % a && !t->overflow) put8(t, 0); }

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++) s = (uint8_t)(s + p[i]);
	return (uint8_t)(0 - s);
}

/* Standard 36-byte header; length and checksum are fixed up by end_table. */
static size_t begin_table(struct tbl *t, const char sig[4], uint8_t rev)
{
	align(t, 16);
	size_t at = put(t, sig, 4);
	put32(t, 0);            /* length */
	put8(t, rev);
	put8(t, 0);             /* checksum */
	put(t, "TABI  ", 6);    /* OEM ID */
	put(t, "TABIVMM ", 8);  /* OEM table ID */
	put32(t, 1);            /* OEM revision */
	put(t, "TABI", 4);      /* creator ID */
	put32(t, 1);            /* creator revision */
	return at;
}
static void end_table(struct tbl *t, size_t at)
{
	if (t->overflow) return;
	set32(t, at + 4, (uint32_t)(t->len - at));
	t->buf[at + 9] = checksum(t->buf + at, t->len - at);
}

/* Generic Address Structure for a one-byte I/O port register. */
static void put_gas_io8(struct tbl *t, uint16_t port)
{
	put8(t, 1); put8(t, 8); put8(t, 0); put8(t, 1); put64(t, port);
}

/* ---- AML, just enough for names, packages, devices and buffers ---- */
/* PkgLength counts itself; encode for a body of `body` bytes. */
static void aml_pkglen(struct tbl *t, size_t body)
{
	if (body + 1 < 0x40) {
		put8(t, (uint8_t)(body + 1));
	} else if (body + 2 < 0x1000) {
		size_t n = body + 2;
		put8(t, (uint8_t)(0x40 | (n & 0xf)));
		put8(t, (uint8_t)(n >> 4));
	} else {
		size_t n = body + 3;
		put8(t, (uint8_t)(0x80 | (n & 0xf)));
		put8(t, (uint8_t)(n >> 4));
		put8(t, (uint8_t)(n >> 12));
	}
}
/* Emits `op` PkgLength `body` (body built in a scratch buffer). */
static void aml_wrap(struct tbl *t, const uint8_t *op, size_t oplen,
		     const uint8_t *body, size_t blen)
{
	put(t, op, oplen);
	aml_pkglen(t, blen);
	put(t, body, blen);
}
static void aml_name_dword(struct tbl *t, const char name[4], uint32_t v)
{
	put8(t, 0x08); put(t, name, 4); put8(t, 0x0C); put32(t, v);
}
static void aml_name_zero(struct tbl *t, const char name[4])
{
	put8(t, 0x08); put(t, name, 4); put8(t, 0x00);
}

/* Word/DWord/QWord address space descriptors for the root bridge's _CRS. */
static void res_word(struct tbl *t, uint8_t type, uint16_t min, uint16_t max)
{
	put8(t, 0x88); put16(t, 13); put8(t, type); put8(t, 0x0C); put8(t, 0);
	put16(t, 0); put16(t, min); put16(t, max); put16(t, 0);
	put16(t, (uint16_t)(max - min + 1));
}
static void res_dword_mem(struct tbl *t, uint32_t min, uint32_t max)
{
	put8(t, 0x87); put16(t, 23); put8(t, 0); put8(t, 0x0C); put8(t, 0x01);
	put32(t, 0); put32(t, min); put32(t, max); put32(t, 0);
	put32(t, max - min + 1);
}

/* Device (NAME) { _HID, _UID, _CRS } with crs being a resource template
 * body (without the end tag). Extra named zero objects come from `zeros`. */
static void aml_device(struct tbl *t, const char name[4], uint32_t hid,
		       const uint8_t *crs, size_t crslen, const char *zeros)
{
	uint8_t devbuf[512];
	struct tbl dev = { devbuf, sizeof(devbuf), 0, 0, false };
	put(&dev, name, 4);
	aml_name_dword(&dev, "_HID", hid);
	aml_name_zero(&dev, "_UID");
	for (const char *z = zeros; z && *z; z += 4)
		aml_name_zero(&dev, z);
	put8(&dev, 0x08); put(&dev, "_CRS", 4);
	uint8_t bufbody[300];
	size_t n = crslen + 2;                              /* + end tag */
	bufbody[0] = 0x0B;                                 /* WordPrefix: size */
	bufbody[1] = (uint8_t)n;
	bufbody[2] = (uint8_t)(n >> 8);
	if (crslen + 5 > sizeof(bufbody)) {
		t->overflow = true;
		return;
	}
	memcpy(bufbody + 3, crs, crslen);
	bufbody[3 + crslen] = 0x79;                        /* end tag */
	bufbody[4 + crslen] = 0x00;
	uint8_t bufop = 0x11;
	aml_wrap(&dev, &bufop, 1, bufbody, n + 3);
	uint8_t devop[] = { 0x5B, 0x82 };
	if (dev.overflow)
		t->overflow = true;
	else
		aml_wrap(t, devop, 2, devbuf, dev.len);
}

/* ISA devices with fixed ports and an edge-triggered IRQ. Hardware-reduced
 * Linux sets up no legacy IRQs by itself: without these PNP devices the
 * UART's IRQ 4 would never be mapped to the IOAPIC. */
static void aml_isa_device(struct tbl *t, const char name[4], uint32_t hid,
			   uint16_t port, uint8_t len, uint8_t irq)
{
	uint8_t crs[] = {
		0x47, 0x01, (uint8_t)port, (uint8_t)(port >> 8), (uint8_t)port,
		(uint8_t)(port >> 8), 0x01, len,                 /* IO (Decode16) */
		0x22, (uint8_t)(1u << irq), (uint8_t)((1u << irq) >> 8), /* IRQNoFlags */
	};
	aml_device(t, name, hid, crs, sizeof(crs), NULL);
}

static size_t build_dsdt(struct tbl *t, uint64_t mmio_base, uint64_t mmio_size)
{
	size_t at = begin_table(t, "DSDT", 2);
	/* Name (_S5, Package (4) { 5, 0, 0, 0 }) */
	uint8_t s5[] = { 0x04, 0x0A, ACPI_S5_SLP_TYP, 0x00, 0x00, 0x00 };
	put8(t, 0x08); put(t, "_S5_", 4);
	uint8_t pkg = 0x12;
	aml_wrap(t, &pkg, 1, s5, sizeof(s5));

	/* Resource template of the PCI root bridge. */
	uint8_t crsbuf[256];
	struct tbl crs = { crsbuf, sizeof(crsbuf), 0, 0, false };
	res_word(&crs, 2, 0x00, 0xff);                   /* bus numbers */
	uint8_t cf8[] = { 0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08 };
	put(&crs, cf8, sizeof(cf8));                      /* conf1 ports */
	res_word(&crs, 1, 0x0000, 0x0CF7);                /* I/O below conf1 */
	res_word(&crs, 1, 0x0D00, 0xFFFF);                /* I/O above conf1 */
	res_dword_mem(&crs, (uint32_t)mmio_base, (uint32_t)(mmio_base + mmio_size - 1));

	uint8_t scopebuf[1024];
	struct tbl scope = { scopebuf, sizeof(scopebuf), 0, 0, false };
	put(&scope, "_SB_", 4);
	aml_device(&scope, "PCI0", 0x030AD041, crsbuf, crs.len, "_ADR_SEG_BBN"); /* PNP0A03 */
	aml_isa_device(&scope, "COM1", 0x0105D041, 0x3F8, 8, 4);                 /* PNP0501 */
	aml_isa_device(&scope, "RTC_", 0x000BD041, 0x70, 2, 8);                  /* PNP0B00 */
	uint8_t scopeop = 0x10;
	aml_wrap(t, &scopeop, 1, scopebuf, scope.len);
	if (crs.overflow || scope.overflow)
		t->overflow = true;
	end_table(t, at);
	return at;
}

static size_t build_fadt(struct tbl *t, uint64_t dsdt)
{
	size_t at = begin_table(t, "FACP", 6);
	put32(t, 0);                     /* FIRMWARE_CTRL: no FACS (HW-reduced) */
	put32(t, (uint32_t)dsdt);
	put8(t, 0);                      /* reserved */
	put8(t, 0);                      /* preferred PM profile: unspecified */
	put16(t, 0);                     /* SCI_INT: none */
	put32(t, 0);                     /* SMI_CMD: ACPI mode is always on */
	for (int i = 0; i < 4; i++) put8(t, 0);
	for (int i = 0; i < 8; i++) put32(t, 0);   /* legacy PM blocks: none */
	for (int i = 0; i < 8; i++) put8(t, 0);
	put16(t, 0); put16(t, 0); put16(t, 0); put16(t, 0);
	put8(t, 0); put8(t, 0); put8(t, 0); put8(t, 0); put8(t, 0);
	/* IAPC_BOOT_ARCH: legacy devices, no VGA; no 8042 so the guest does
	 * not probe a keyboard controller that only knows reset. */
	put16(t, (1 << 0) | (1 << 2));
	put8(t, 0);
	/* Flags: power/sleep buttons absent, reset register, HW-reduced. */
	put32(t, (1u << 4) | (1u << 5) | (1u << 10) | (1u << 20));
	put_gas_io8(t, ACPI_RESET_PORT);
	put8(t, ACPI_RESET_VALUE);
	put16(t, 0);                     /* ARM boot arch */
	put8(t, 0);                      /* FADT minor version */
	put64(t, 0);                     /* X_FIRMWARE_CTRL */
	put64(t, dsdt);                  /* X_DSDT */
	for (int i = 0; i < 8 * 12; i++) put8(t, 0); /* X_ PM blocks */
	put_gas_io8(t, ACPI_SLEEP_CTL_PORT);
	put_gas_io8(t, ACPI_SLEEP_STS_PORT);
	put(t, "TABIVMM\0", 8);          /* hypervisor vendor identity */
	end_table(t, at);
	return at;
}

static size_t build_madt(struct tbl *t, int ncpus)
{
	size_t at = begin_table(t, "APIC", 4);
	put32(t, LAPIC_ADDR);
	put32(t, 0);                     /* no dual 8259 setup to honour */
	for (int i = 0; i < ncpus; i++) {
		put8(t, 0); put8(t, 8); put8(t, (uint8_t)i); put8(t, (uint8_t)i);
		put32(t, 1);             /* enabled */
	}
	put8(t, 1); put8(t, 12); put8(t, (uint8_t)ncpus); put8(t, 0);
	put32(t, IOAPIC_ADDR); put32(t, 0);
	end_table(t, at);
	return at;
}

uint64_t acpi_build(uint8_t *buf, size_t cap, uint64_t base, int ncpus,
		    uint64_t pci_mmio_base, uint64_t pci_mmio_size)
{
	struct tbl t = { buf, cap, 0, base, false };
	memset(buf, 0, cap);
	/* RSDP first: 36 bytes, fixed up once the XSDT is placed. */
	size_t rsdp = put(&t, "RSD PTR ", 8);
	for (int i = 0; i < 28; i++) put8(&t, 0);
	size_t dsdt = build_dsdt(&t, pci_mmio_base, pci_mmio_size);
	size_t fadt = build_fadt(&t, base + dsdt);
	size_t madt = build_madt(&t, ncpus);
	size_t xsdt = begin_table(&t, "XSDT", 1);
	put64(&t, base + fadt);
	put64(&t, base + madt);
	end_table(&t, xsdt);
	if (t.overflow)
		return 0;
	memcpy(buf + rsdp + 9, "TABI  ", 6);
	buf[rsdp + 15] = 2;                         /* revision: ACPI 2.0+ */
	set32(&t, rsdp + 20, 36);                   /* length */
	set64(&t, rsdp + 24, base + xsdt);
	buf[rsdp + 8] = checksum(buf + rsdp, 20);
	buf[rsdp + 32] = checksum(buf + rsdp, 36);
	return base + rsdp;
}

uint64_t acpi_install(struct guest_memory *m, int ncpus,
		      uint64_t pci_mmio_base, uint64_t pci_mmio_size)
{
	uint8_t *p = gm_ptr_write(m, ACPI_TABLES_ADDR, ACPI_TABLES_MAX);
	if (!p)
		return 0;
	return acpi_build(p, ACPI_TABLES_MAX, ACPI_TABLES_ADDR, ncpus,
			  pci_mmio_base, pci_mmio_size);
}
