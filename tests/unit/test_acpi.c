/* ACPI tables: RSDP/XSDT links and checksums, FADT (hardware-reduced, reset
 * and sleep registers), MADT (one LAPIC per vCPU, IOAPIC), the DSDT's AML,
 * overflow handling; iasl disassembles every table when it is installed. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "acpi.h"

#define BASE 0xE0000ULL
#define MMIO_BASE 0xC0000000ULL
#define MMIO_SIZE 0x20000000ULL

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* Table at guest address addr: checks bounds, signature and checksum. */
static const uint8_t *table(const uint8_t *buf, size_t cap, uint64_t addr,
			    const char *sig)
{
	if (addr < BASE || addr - BASE + 36 > cap) {
		CHECK(!"table address outside the buffer");
		return NULL;
	}
	const uint8_t *t = buf + (addr - BASE);
	uint32_t len = le32(t + 4);
	CHECK(len >= 36);
	CHECK(addr - BASE + len <= cap);
	if (addr - BASE + len > cap)
		return NULL;
	CHECK(!memcmp(t, sig, 4));
	CHECK_EQ(sum(t, len), 0);
	CHECK(!memcmp(t + 10, "TABI  ", 6));
	return t;
}

static const uint8_t *memfind(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return hay + i;
	return NULL;
}

/* Decodes an AML PkgLength; returns the encoded value, *nbytes its size. */
static size_t pkglen(const uint8_t *p, int *nbytes)
{
	int extra = p[0] >> 6;
	*nbytes = 1 + extra;
	if (!extra)
		return p[0] & 0x3f;
	size_t v = p[0] & 0x0f;
	for (int i = 0; i < extra; i++)
		v |= (size_t)p[1 + i] << (4 + 8 * i);
	return v;
}

static void check_gas_io8(const uint8_t *g, uint16_t port)
{
	CHECK_EQ(g[0], 1);      /* system I/O space */
	CHECK_EQ(g[1], 8);      /* bit width */
	CHECK_EQ(g[2], 0);      /* bit offset */
	CHECK_EQ(g[3], 1);      /* byte access */
	CHECK_EQ(le64(g + 4), port);
}

static int have_iasl(void)
{
	return system("command -v iasl >/dev/null 2>&1") == 0;
}

/* iasl -d on one table: must succeed and report no errors. */
static void iasl_check(const uint8_t *t, const char *name)
{
	char dir[] = "/tmp/tabi-acpi-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	char path[128], cmd[512], dsl[128];
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	snprintf(dsl, sizeof(dsl), "%s/%s.dsl", dir, name);
	FILE *f = fopen(path, "wb");
	fwrite(t, 1, le32(t + 4), f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat >%s/log 2>&1", dir, name, dir);
	int rc = system(cmd);
	CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	snprintf(cmd, sizeof(cmd), "grep -qiE '(^|[^a-z])error' %s/log %s", dir, dsl);
	rc = system(cmd);
	CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);   /* no "error" anywhere */
	CHECK_EQ(access(dsl, R_OK), 0);
	if (!strcmp(name, "dsdt")) {
		/* The disassembly names what the test looks for in bytes. */
		snprintf(cmd, sizeof(cmd), "grep -q '_S5' %s && grep -q 'PNP0A03' %s && "
			 "grep -q 'PNP0501' %s && grep -q 'PNP0B00' %s", dsl, dsl, dsl, dsl);
		rc = system(cmd);
		CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "note: could not remove %s\n", dir);
}

static void check_build(int ncpus, int run_iasl)
{
	size_t cap = ACPI_TABLES_MAX;
	uint8_t *buf = malloc(cap);
	memset(buf, 0xEE, cap);
	uint64_t rsdp_addr = acpi_build(buf, cap, BASE, ncpus, MMIO_BASE, MMIO_SIZE);
	CHECK_EQ(rsdp_addr, BASE);
	const uint8_t *rsdp = buf + (rsdp_addr - BASE);
	CHECK(!memcmp(rsdp, "RSD PTR ", 8));
	CHECK_EQ(sum(rsdp, 20), 0);
	CHECK_EQ(sum(rsdp, 36), 0);
	CHECK_EQ(rsdp[15], 2);
	CHECK_EQ(le32(rsdp + 20), 36);
	CHECK(!memcmp(rsdp + 9, "TABI  ", 6));
	CHECK_EQ(le32(rsdp + 16), 0);          /* no RSDT: XSDT only */

	const uint8_t *xsdt = table(buf, cap, le64(rsdp + 24), "XSDT");
	if (!xsdt)
		goto out;
	CHECK_EQ(le32(xsdt + 4), 36 + 2 * 8);
	CHECK_EQ(xsdt[8], 1);
	const uint8_t *fadt = table(buf, cap, le64(xsdt + 36), "FACP");
	const uint8_t *madt = table(buf, cap, le64(xsdt + 44), "APIC");
	if (!fadt || !madt)
		goto out;

	/* FADT, ACPI 6.x layout. */
	CHECK_EQ(fadt[8], 6);
	CHECK_EQ(le32(fadt + 4), 276);
	uint32_t flags = le32(fadt + 112);
	CHECK(flags >> 20 & 1);                /* HW_REDUCED_ACPI */
	CHECK(flags >> 10 & 1);                /* RESET_REG_SUP */
	CHECK(flags >> 4 & 1);                 /* no power button */
	CHECK_EQ(le16(fadt + 46), 0);          /* no SCI */
	check_gas_io8(fadt + 116, ACPI_RESET_PORT);
	CHECK_EQ(fadt[128], ACPI_RESET_VALUE);
	check_gas_io8(fadt + 244, ACPI_SLEEP_CTL_PORT);
	check_gas_io8(fadt + 256, ACPI_SLEEP_STS_PORT);
	CHECK_EQ(le32(fadt + 36), 0);          /* no FACS */
	CHECK_EQ(le64(fadt + 132), 0);
	uint64_t dsdt_addr = le64(fadt + 140);
	CHECK_EQ(le32(fadt + 40), dsdt_addr);  /* 32-bit DSDT agrees */
	CHECK(!(le16(fadt + 109) & (1 << 1))); /* no 8042 advertised */
	int zero = 1;
	for (int i = 148; i < 244; i++)        /* no legacy PM blocks */
		zero &= fadt[i] == 0;
	CHECK(zero);

	/* MADT. */
	CHECK_EQ(le32(madt + 36), LAPIC_ADDR);
	uint32_t mlen = le32(madt + 4);
	int lapics = 0, ioapics = 0, enabled = 0, ids_ok = 1;
	for (uint32_t off = 44; off < mlen;) {
		const uint8_t *e = madt + off;
		CHECK(e[1] >= 2 && off + e[1] <= mlen);
		if (e[1] < 2 || off + e[1] > mlen)
			break;
		if (e[0] == 0) {
			CHECK_EQ(e[1], 8);
			ids_ok &= e[2] == lapics && e[3] == lapics;
			enabled += le32(e + 4) & 1;
			lapics++;
		} else if (e[0] == 1) {
			CHECK_EQ(e[1], 12);
			CHECK_EQ(le32(e + 4), IOAPIC_ADDR);
			CHECK_EQ(le32(e + 8), 0);         /* GSI base */
			CHECK(e[2] >= ncpus);             /* id distinct from the LAPICs */
			ioapics++;
		}
		off += e[1];
	}
	CHECK_EQ(lapics, ncpus);
	CHECK_EQ(enabled, ncpus);
	CHECK(ids_ok);
	CHECK_EQ(ioapics, 1);

	/* DSDT. */
	const uint8_t *dsdt = table(buf, cap, dsdt_addr, "DSDT");
	if (!dsdt)
		goto out;
	uint32_t dlen = le32(dsdt + 4);
	CHECK_EQ(dsdt[8], 2);
	/* Name (_S5_, Package (4) { ACPI_S5_SLP_TYP, 0, 0, 0 }) */
	const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04,
			       0x0A, ACPI_S5_SLP_TYP, 0x00, 0x00, 0x00 };
	CHECK(memfind(dsdt, dlen, s5, sizeof(s5)) != NULL);
	const uint8_t pci[] = { 0x0C, 0x41, 0xD0, 0x0A, 0x03 };   /* EISAID PNP0A03 */
	const uint8_t com[] = { 0x0C, 0x41, 0xD0, 0x05, 0x01 };   /* PNP0501 */
	const uint8_t rtc[] = { 0x0C, 0x41, 0xD0, 0x0B, 0x00 };   /* PNP0B00 */
	CHECK(memfind(dsdt, dlen, pci, sizeof(pci)) != NULL);
	CHECK(memfind(dsdt, dlen, com, sizeof(com)) != NULL);
	CHECK(memfind(dsdt, dlen, rtc, sizeof(rtc)) != NULL);
	CHECK(memfind(dsdt, dlen, "PCI0", 4) != NULL);
	CHECK(memfind(dsdt, dlen, "COM1", 4) != NULL);
	/* COM1 decodes 0x3F8..0x3FF and IRQ 4. */
	const uint8_t com_io[] = { 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08,
				   0x22, 0x10, 0x00 };
	CHECK(memfind(dsdt, dlen, com_io, sizeof(com_io)) != NULL);
	/* Root bridge memory window. */
	const uint8_t *mem = memfind(dsdt, dlen, "\x87\x17\x00", 3);
	CHECK(mem != NULL);
	if (mem) {
		CHECK_EQ(le32(mem + 10), MMIO_BASE);
		CHECK_EQ(le32(mem + 14), MMIO_BASE + MMIO_SIZE - 1);
		CHECK_EQ(le32(mem + 22), MMIO_SIZE);
	}
	/* Structure: the _S5_ package, then one Scope (\_SB) whose PkgLength
	 * runs exactly to the end of the table. */
	const uint8_t *p = dsdt + 36;
	CHECK_EQ(p[0], 0x08);
	int nb;
	size_t l = pkglen(p + 6, &nb);
	p += 6 + l;
	CHECK_EQ(p[0], 0x10);
	l = pkglen(p + 1, &nb);
	CHECK_EQ((size_t)(p + 1 - dsdt) + l, dlen);
	CHECK(!memcmp(p + 1 + nb, "_SB_", 4));

	/* Tables do not overlap each other or the RSDP. */
	size_t offs[] = { 0, (size_t)(dsdt - buf), (size_t)(fadt - buf),
			  (size_t)(madt - buf), (size_t)(xsdt - buf) };
	size_t lens[] = { 36, dlen, 276, mlen, le32(xsdt + 4) };
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			CHECK(offs[i] + lens[i] <= offs[j] || offs[j] + lens[j] <= offs[i]);

	if (run_iasl) {
		iasl_check(dsdt, "dsdt");
		iasl_check(fadt, "facp");
		iasl_check(madt, "apic");
		iasl_check(xsdt, "xsdt");
	}
out:
	free(buf);
}

/* Every capacity short of what the tables need is refused, without writing
 * past the buffer (ASan watches the exact-size allocation). */
static void check_overflow(int ncpus)
{
	size_t need = 0;
	for (size_t cap = 1; cap <= 4096 && !need; cap++) {
		uint8_t *b = malloc(cap);
		if (acpi_build(b, cap, BASE, ncpus, MMIO_BASE, MMIO_SIZE))
			need = cap;
		free(b);
	}
	CHECK(need > 36 + 36 + 276);
	uint8_t dummy[1];
	CHECK_EQ(acpi_build(dummy, 0, BASE, ncpus, MMIO_BASE, MMIO_SIZE), 0);
	/* With exactly `need` bytes the tables are whole. */
	uint8_t *b = malloc(need);
	CHECK_EQ(acpi_build(b, need, BASE, ncpus, MMIO_BASE, MMIO_SIZE), BASE);
	CHECK_EQ(sum(b, 36), 0);
	free(b);
	/* And fit the area acpi_install reserves, even at the maximum. */
	CHECK(need <= ACPI_TABLES_MAX);
}

static void test_install(void)
{
	size_t sz = 2 << 20;
	uint8_t *mem = calloc(1, sz);
	struct guest_memory m;
	gm_layout(&m, mem, sz);
	uint64_t rsdp = acpi_install(&m, 4, MMIO_BASE, MMIO_SIZE);
	CHECK_EQ(rsdp, ACPI_TABLES_ADDR);
	CHECK(!memcmp(mem + ACPI_TABLES_ADDR, "RSD PTR ", 8));
	/* Linux scans 0xE0000-0xFFFFF for the RSDP on 16-byte boundaries. */
	CHECK(ACPI_TABLES_ADDR % 16 == 0);
	CHECK(ACPI_TABLES_ADDR + ACPI_TABLES_MAX <= 0x100000);
	CHECK(ACPI_TABLES_ADDR >= 0x9FC00);
	struct guest_memory tiny;
	gm_layout(&tiny, mem, 0xE8000);
	CHECK_EQ(acpi_install(&tiny, 1, MMIO_BASE, MMIO_SIZE), 0);
	free(mem);
}

int main(void)
{
	int iasl = have_iasl();
	if (!iasl)
		printf("test_acpi: iasl not installed, skipping disassembly checks\n");
	check_build(1, iasl);
	check_build(2, 0);
	check_build(64, iasl);
	check_overflow(1);
	check_overflow(64);
	test_install();
	UNIT_MAIN_END();
}
