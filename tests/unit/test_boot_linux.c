/* Linux boot protocol: header checks, e820 around the PCI hole, identity
 * page tables and GDT, the reset stub, and boot_linux_load end to end with a
 * synthetic bzImage and initrd (plus every documented failure). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <asm/bootparam.h>
#include "unit.h"
#include "acpi.h"
#include "boot_linux.h"

#define SETUP_SECTS 4
#define SETUP_LEN   ((SETUP_SECTS + 1) * 512)
#define PM_LEN      (96 * 1024 + 123)

static char tmpdir[64];

/* A minimal bzImage: boot sector + setup, then a recognisable payload. */
static uint8_t *make_bzimage(size_t *len)
{
	*len = SETUP_LEN + PM_LEN;
	uint8_t *k = calloc(1, *len);
	struct setup_header h;
	memset(&h, 0, sizeof(h));
	h.setup_sects = SETUP_SECTS;
	h.boot_flag = 0xAA55;
	h.jump = 0x6AEB;         /* jmp to 0x26c: end of the 2.15 header */
	h.header = 0x53726448;
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH | KEEP_SEGMENTS;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = 1;
	h.init_size = 4 << 20;
	h.type_of_loader = 0x12;  /* the loader must overwrite this */
	memcpy(k + 0x1f1, &h, sizeof(h));
	for (size_t i = 0; i < PM_LEN; i++)
		k[SETUP_LEN + i] = (uint8_t)(i * 7 + 3);
	return k;
}

static struct setup_header *hdr(uint8_t *k) { return (struct setup_header *)(k + 0x1f1); }

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, p, n), n);
	close(fd);
}

static void sparse_file(const char *path, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, size), 0);
	close(fd);
}

static int one_line(const char *err)
{
	return err[0] && !strchr(err, '\n') && strlen(err) < 256;
}

static void test_check_header(void)
{
	size_t len;
	uint8_t *k = make_bzimage(&len);
	char err[256] = "";
	CHECK_EQ(boot_linux_check_header(k, len, err), SETUP_LEN);
	/* setup_sects 0 means 4. */
	hdr(k)->setup_sects = 0;
	CHECK_EQ(boot_linux_check_header(k, len, err), 5 * 512);
	hdr(k)->setup_sects = SETUP_SECTS;

	/* Wrong magic. */
	hdr(k)->header = 0x53726449;
	err[0] = 0;
	CHECK_EQ(boot_linux_check_header(k, len, err), -1);
	CHECK(strstr(err, "not a Linux bzImage") != NULL);
	hdr(k)->header = 0x53726448;
	hdr(k)->boot_flag = 0xAA56;
	err[0] = 0;
	CHECK_EQ(boot_linux_check_header(k, len, err), -1);
	CHECK(one_line(err));
	hdr(k)->boot_flag = 0xAA55;

	/* Protocol older than 2.12. */
	hdr(k)->version = 0x020b;
	err[0] = 0;
	CHECK_EQ(boot_linux_check_header(k, len, err), -1);
	CHECK(strstr(err, "2.0b") != NULL || strstr(err, "2.12") != NULL);
	CHECK(one_line(err));
	hdr(k)->version = 0x020c;
	CHECK_EQ(boot_linux_check_header(k, len, err), SETUP_LEN);
	hdr(k)->version = 0x020f;

	/* No 64-bit entry. */
	hdr(k)->xloadflags = 0;
	err[0] = 0;
	CHECK_EQ(boot_linux_check_header(k, len, err), -1);
	CHECK(one_line(err));
	hdr(k)->xloadflags = XLF_KERNEL_64;

	/* zImage (not loaded high). */
	hdr(k)->loadflags = 0;
	err[0] = 0;
	CHECK_EQ(boot_linux_check_header(k, len, err), -1);
	CHECK(strstr(err, "zImage") != NULL);
	hdr(k)->loadflags = LOADED_HIGH;

	/* Truncated: every length short of the header refuses, and so does a
	 * file that ends inside the setup code. */
	int refused = 0, n = 0;
	for (size_t l = 0; l < 0x1f1 + sizeof(struct setup_header); l += 7, n++) {
		err[0] = 0;
		refused += boot_linux_check_header(k, l, err) == -1 && one_line(err);
	}
	CHECK_EQ(refused, n);
	err[0] = 0;
	CHECK_EQ(boot_linux_check_header(k, 0x1f1 + sizeof(struct setup_header), err), -1);
	CHECK(strstr(err, "truncated") != NULL);
	CHECK_EQ(boot_linux_check_header(k, SETUP_LEN, err), -1);
	CHECK_EQ(boot_linux_check_header(k, SETUP_LEN + 1, err), SETUP_LEN);
	/* A huge setup_sects on a small file. */
	hdr(k)->setup_sects = 255;
	CHECK_EQ(boot_linux_check_header(k, len, err), -1);
	free(k);
}

static void check_e820(uint64_t size)
{
	struct guest_memory m;
	gm_layout(&m, (uint8_t *)(uintptr_t)0x100000000000ULL, size);  /* never dereferenced */
	struct boot_params *bp = calloc(1, sizeof(*bp));
	bp->e820_entries = 77;   /* stale count is replaced */
	int n = boot_linux_e820(&m, bp);
	uint64_t high = size > 0xC0000000ULL ? size - 0xC0000000ULL : 0;
	CHECK_EQ(n, high ? 4 : 3);
	CHECK_EQ(bp->e820_entries, n);
	struct boot_e820_entry *e = bp->e820_table;
	CHECK_EQ(e[0].addr, 0);
	CHECK_EQ(e[0].size, 0x9FC00);
	CHECK_EQ(e[0].type, 1);
	CHECK_EQ(e[1].addr, 0x9FC00);
	CHECK_EQ(e[1].size, 0x100000 - 0x9FC00);
	CHECK_EQ(e[1].type, 2);
	CHECK_EQ(e[2].addr, 0x100000);
	CHECK_EQ(e[2].addr + e[2].size, size < 0xC0000000ULL ? size : 0xC0000000ULL);
	CHECK_EQ(e[2].type, 1);
	if (high) {
		CHECK_EQ(e[3].addr, 0x100000000ULL);
		CHECK_EQ(e[3].size, high);
		CHECK_EQ(e[3].type, 1);
	}
	/* Usable RAM adds up to the guest's size less the reserved hole. */
	uint64_t ram = 0;
	for (int i = 0; i < n; i++)
		if (e[i].type == 1)
			ram += e[i].size;
	CHECK_EQ(ram, size - (0x100000 - 0x9FC00));
	/* Entries are sorted and do not overlap. */
	for (int i = 1; i < n; i++)
		CHECK(e[i].addr >= e[i - 1].addr + e[i - 1].size);
	free(bp);
}

static void test_e820(void)
{
	check_e820(64ULL << 20);
	check_e820(3ULL << 30);
	check_e820(5ULL << 30);
	check_e820((3ULL << 30) + 4096);
}

static void test_page_tables(void)
{
	size_t sz = 2 << 20;
	uint8_t *mem = calloc(1, sz);
	memset(mem, 0xCC, sz);
	struct guest_memory m;
	gm_layout(&m, mem, sz);
	CHECK_EQ(boot_linux_page_tables(&m), 0);
	uint64_t *gdt = (uint64_t *)(mem + BOOT_GDT_ADDR);
	CHECK_EQ(gdt[0], 0);
	CHECK_EQ(gdt[1], 0);
	/* 0x10: 64-bit code (L=1, D=0, P=1, DPL 0, execute/read). */
	CHECK_EQ(gdt[2], 0x00af9b000000ffffULL);
	CHECK_EQ(gdt[2] >> 53 & 1, 1);   /* L */
	CHECK_EQ(gdt[2] >> 54 & 1, 0);   /* D */
	CHECK_EQ(gdt[2] >> 47 & 1, 1);   /* P */
	/* 0x18: flat read/write data, 4 GiB. */
	CHECK_EQ(gdt[3], 0x00cf93000000ffffULL);
	uint64_t *pml4 = (uint64_t *)(mem + BOOT_PML4_ADDR);
	uint64_t *pdpt = (uint64_t *)(mem + BOOT_PDPT_ADDR);
	uint64_t *pd = (uint64_t *)(mem + BOOT_PD_ADDR);
	CHECK_EQ(pml4[0], BOOT_PDPT_ADDR | 3);
	int zero = 1;
	for (int i = 1; i < 512; i++)
		zero &= pml4[i] == 0;
	CHECK(zero);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pdpt[i], (BOOT_PD_ADDR + 4096ULL * i) | 3);
	zero = 1;
	for (int i = 4; i < 512; i++)
		zero &= pdpt[i] == 0;
	CHECK(zero);
	/* Walk a few addresses through the tables: identity over 4 GiB. */
	uint64_t probes[] = { 0, 0x1234567, 0x7fffffff, 0xBFFFFFFF, 0xFEE00000, 0xFFFFFFFF };
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint64_t va = probes[i];
		uint64_t e4 = pml4[va >> 39 & 511];
		CHECK(e4 & 1);
		uint64_t *p3 = (uint64_t *)(mem + (e4 & ~0xfffULL));
		uint64_t e3 = p3[va >> 30 & 511];
		CHECK(e3 & 1);
		uint64_t *p2 = (uint64_t *)(mem + (e3 & ~0xfffULL));
		uint64_t e2 = p2[va >> 21 & 511];
		CHECK_EQ(e2 & 0x83, 0x83);       /* present, writable, 2 MiB */
		CHECK_EQ((e2 & ~0x1fffffULL) | (va & 0x1fffff), va);
	}
	int ok = 1;
	for (uint64_t i = 0; i < 2048; i++)
		ok &= pd[i] == ((i << 21) | 0x83);
	CHECK(ok);
	/* Tables stay clear of the zero page and the command line. */
	CHECK(BOOT_PD_ADDR + 4 * 4096 <= BOOT_CMDLINE_ADDR);
	CHECK(BOOT_GDT_ADDR + 32 <= BOOT_PARAMS_ADDR);
	CHECK(BOOT_PARAMS_ADDR + sizeof(struct boot_params) <= BOOT_PML4_ADDR);
	/* Memory too small for the tables: refused, not written out of bounds. */
	struct guest_memory tiny;
	gm_layout(&tiny, mem, 0xA000);
	CHECK_EQ(boot_linux_page_tables(&tiny), -1);
	free(mem);
}

static void test_reset_stub(void)
{
	size_t sz = 2 << 20;
	uint8_t *mem = calloc(1, sz);
	struct guest_memory m;
	gm_layout(&m, mem, sz);
	CHECK_EQ(boot_linux_reset_stub(&m), 0);
	const uint8_t *p = mem + BOOT_RESET_VECTOR;
	CHECK_EQ(p[0], 0xB0);                       /* mov al, imm8 */
	CHECK_EQ(p[1], ACPI_RESET_VALUE);
	CHECK_EQ(p[2], 0xBA);                       /* mov dx, imm16 */
	CHECK_EQ(p[3] | p[4] << 8, ACPI_RESET_PORT);
	CHECK_EQ(p[5], 0xEE);                       /* out dx, al */
	CHECK_EQ(p[6], 0xFA);                       /* cli */
	CHECK_EQ(p[7], 0xF4);                       /* hlt */
	CHECK_EQ(p[8], 0xEB);                       /* jmp back to hlt */
	CHECK_EQ((int8_t)p[9], -3);
	CHECK(BOOT_RESET_VECTOR + 10 <= 0x100000);  /* fits below 1 MiB */
	CHECK_EQ(mem[BOOT_RESET_VECTOR - 1], 0);
	CHECK_EQ(mem[BOOT_RESET_VECTOR + 10], 0);
	struct guest_memory tiny;
	gm_layout(&tiny, mem, 0x80000);
	CHECK_EQ(boot_linux_reset_stub(&tiny), -1);
	free(mem);
}

static void test_load(void)
{
	size_t klen;
	uint8_t *k = make_bzimage(&klen);
	char kpath[128], ipath[128], bad[128], big[128], huge[128], kbig[128];
	snprintf(kpath, sizeof(kpath), "%s/bzImage", tmpdir);
	snprintf(ipath, sizeof(ipath), "%s/initrd", tmpdir);
	snprintf(bad, sizeof(bad), "%s/notakernel", tmpdir);
	snprintf(big, sizeof(big), "%s/initrd.big", tmpdir);
	snprintf(huge, sizeof(huge), "%s/initrd.huge", tmpdir);
	snprintf(kbig, sizeof(kbig), "%s/bzImage.big", tmpdir);
	write_file(kpath, k, klen);
	size_t ilen = 300 * 1024 + 17;
	uint8_t *ird = malloc(ilen);
	for (size_t i = 0; i < ilen; i++)
		ird[i] = (uint8_t)(i * 13 + 5);
	write_file(ipath, ird, ilen);

	uint64_t size = 64ULL << 20;
	uint8_t *mem = calloc(1, size);
	struct guest_memory m;
	gm_layout(&m, mem, size);
	uint64_t dirty[(64 << 20) / 4096 / 64] = { 0 };
	m.vmm_dirty = dirty;
	struct boot_info bi = { 0, 0 };
	char err[256] = "";
	const char *cmdline = "console=ttyS0 root=/dev/vda rw quiet";
	CHECK_EQ(boot_linux_load(&m, kpath, ipath, cmdline, 0xE0000, &bi, err), 0);
	CHECK_EQ(err[0], 0);
	CHECK_EQ(bi.entry, 0x100200);
	CHECK_EQ(bi.boot_params, BOOT_PARAMS_ADDR);
	struct boot_params *bp = (struct boot_params *)(mem + BOOT_PARAMS_ADDR);
	CHECK_EQ(bp->hdr.header, 0x53726448);
	CHECK_EQ(bp->hdr.version, 0x020f);
	CHECK_EQ(bp->hdr.type_of_loader, 0xff);
	CHECK_EQ(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	CHECK(!strcmp((char *)mem + BOOT_CMDLINE_ADDR, cmdline));
	CHECK_EQ(bp->hdr.code32_start, 0x100000);
	CHECK_EQ(bp->acpi_rsdp_addr, 0xE0000);
	CHECK(bp->hdr.loadflags & LOADED_HIGH);
	CHECK(bp->hdr.loadflags & CAN_USE_HEAP);
	CHECK(!(bp->hdr.loadflags & KEEP_SEGMENTS));
	CHECK_EQ(bp->hdr.vid_mode, 0xffff);
	CHECK_EQ(bp->hdr.init_size, 4 << 20);
	/* Kernel's protected-mode part at 1 MiB, byte for byte. */
	CHECK(!memcmp(mem + 0x100000, k + SETUP_LEN, PM_LEN));
	CHECK_EQ(mem[0x100000 + PM_LEN], 0);
	/* Initrd: page aligned, inside RAM, above the unpacked kernel, intact. */
	uint32_t ia = bp->hdr.ramdisk_image;
	CHECK_EQ(bp->hdr.ramdisk_size, ilen);
	CHECK_EQ(ia & 0xfff, 0);
	CHECK(ia >= 0x100000 + (4 << 20));
	CHECK(ia + ilen <= size);
	CHECK(size - (ia + ilen) < 4096);    /* as high as it can go */
	CHECK(!memcmp(mem + ia, ird, ilen));
	/* e820, page tables and reset stub were installed too. */
	CHECK_EQ(bp->e820_entries, 3);
	CHECK_EQ(bp->e820_table[2].addr + bp->e820_table[2].size, size);
	CHECK_EQ(*(uint64_t *)(mem + BOOT_PML4_ADDR), BOOT_PDPT_ADDR | 3);
	CHECK_EQ(mem[BOOT_RESET_VECTOR], 0xB0);
	/* What the loader wrote is in the VMM's dirty bitmap. */
	uint64_t kpg = 0x100000 / 4096, ipg = ia / 4096, zp = BOOT_PARAMS_ADDR / 4096;
	CHECK(dirty[kpg / 64] >> (kpg % 64) & 1);
	CHECK(dirty[ipg / 64] >> (ipg % 64) & 1);
	CHECK(dirty[zp / 64] >> (zp % 64) & 1);
	uint64_t untouched = (32ULL << 20) / 4096;
	CHECK_EQ(dirty[untouched / 64] >> (untouched % 64) & 1, 0);

	/* Without initrd: no ramdisk fields. */
	memset(mem, 0, size);
	m.vmm_dirty = NULL;
	CHECK_EQ(boot_linux_load(&m, kpath, NULL, "", 0, &bi, err), 0);
	CHECK_EQ(bp->hdr.ramdisk_image, 0);
	CHECK_EQ(bp->hdr.ramdisk_size, 0);
	CHECK_EQ(bp->acpi_rsdp_addr, 0);
	CHECK_EQ(mem[BOOT_CMDLINE_ADDR], 0);

	/* initrd_addr_max lower than RAM caps the placement. */
	hdr(k)->initrd_addr_max = (32 << 20) - 1;
	write_file(kpath, k, klen);
	CHECK_EQ(boot_linux_load(&m, kpath, ipath, "x", 0, &bi, err), 0);
	CHECK(bp->hdr.ramdisk_image + ilen <= (32u << 20));
	CHECK_EQ(bp->hdr.ramdisk_image & 0xfff, 0);
	hdr(k)->initrd_addr_max = 0x7fffffff;
	write_file(kpath, k, klen);

	/* Failures: -1, one line, no crash. */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/nope", tmpdir);
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, missing, NULL, "", 0, &bi, err), -1);
	CHECK(one_line(err));
	CHECK(strstr(err, "nope") != NULL);
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, tmpdir, NULL, "", 0, &bi, err), -1);  /* a directory */
	CHECK(one_line(err));

	write_file(bad, "#!/bin/sh\necho hello\n", 21);
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, bad, NULL, "", 0, &bi, err), -1);
	CHECK(one_line(err));
	CHECK(strstr(err, "bzImage") != NULL);
	uint8_t *junk = calloc(1, 8192);
	write_file(bad, junk, 8192);
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, bad, NULL, "", 0, &bi, err), -1);
	CHECK(one_line(err));
	write_file(bad, junk, 0);
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, bad, NULL, "", 0, &bi, err), -1);
	CHECK(one_line(err));
	free(junk);

	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, kpath, missing, "", 0, &bi, err), -1);
	CHECK(one_line(err));
	CHECK(strstr(err, "initrd") != NULL);

	/* Initrd larger than all of RAM. */
	sparse_file(huge, 80 << 20);
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, kpath, huge, "", 0, &bi, err), -1);
	CHECK(one_line(err));
	CHECK(strstr(err, "--mem") != NULL);
	/* Initrd that fits RAM but not beside the kernel. */
	sparse_file(big, 62 << 20);
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, kpath, big, "", 0, &bi, err), -1);
	CHECK(one_line(err));
	/* Kernel that needs more room to unpack than the guest has. */
	hdr(k)->init_size = 200 << 20;
	write_file(kbig, k, klen);
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, kbig, NULL, "", 0, &bi, err), -1);
	CHECK(one_line(err));
	CHECK(strstr(err, "--mem") != NULL);
	hdr(k)->init_size = 4 << 20;

	/* Command line longer than the kernel's cmdline_size... */
	char *cl = malloc(BOOT_CMDLINE_MAX + 10);
	memset(cl, 'a', 2048);
	cl[2048] = 0;
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, kpath, NULL, cl, 0, &bi, err), -1);
	CHECK(one_line(err));
	CHECK(strstr(err, "--cmdline") != NULL);
	cl[2047] = 0;      /* exactly cmdline_size: accepted */
	CHECK_EQ(boot_linux_load(&m, kpath, NULL, cl, 0, &bi, err), 0);
	CHECK_EQ(strlen((char *)mem + BOOT_CMDLINE_ADDR), 2047);
	/* ...and, for a kernel with no limit, longer than tabi's area. */
	hdr(k)->cmdline_size = 0;
	write_file(kbig, k, klen);
	memset(cl, 'b', BOOT_CMDLINE_MAX + 5);
	cl[BOOT_CMDLINE_MAX] = 0;
	err[0] = 0;
	CHECK_EQ(boot_linux_load(&m, kbig, NULL, cl, 0, &bi, err), -1);
	CHECK(one_line(err));
	cl[BOOT_CMDLINE_MAX - 1] = 0;
	CHECK_EQ(boot_linux_load(&m, kbig, NULL, cl, 0, &bi, err), 0);
	free(cl);

	unlink(kpath); unlink(ipath); unlink(bad); unlink(big); unlink(huge); unlink(kbig);
	free(ird);
	free(k);
	free(mem);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tabi-boot-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_check_header();
	test_e820();
	test_page_tables();
	test_reset_stub();
	test_load();
	rmdir(tmpdir);
	UNIT_MAIN_END();
}
