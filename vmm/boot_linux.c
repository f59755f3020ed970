/* bzImage loader following Documentation/x86/boot.rst (protocol >= 2.12,
 * 64-bit entry at the protected-mode kernel's start + 0x200). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <asm/bootparam.h>
#include "boot_linux.h"

#define SETUP_HDR_OFF 0x1f1
#define HDRS_MAGIC 0x53726448 /* "HdrS" */

long boot_linux_check_header(const uint8_t *img, size_t len, char err[256])
{
	struct setup_header h;
	if (len < SETUP_HDR_OFF + sizeof(h)) {
		snprintf(err, 256, "is too small to be a Linux bzImage");
		return -1;
	}
	memcpy(&h, img + SETUP_HDR_OFF, sizeof(h));
	if (h.header != HDRS_MAGIC || h.boot_flag != 0xAA55) {
		snprintf(err, 256, "is not a Linux bzImage (no boot header)");
		return -1;
	}
	if (h.version < 0x020c || !(h.xloadflags & XLF_KERNEL_64)) {
		snprintf(err, 256, "is a Linux kernel too old for 64-bit boot "
			 "(protocol %x.%02x, need 2.12)", h.version >> 8, h.version & 0xff);
		return -1;
	}
	if (!(h.loadflags & LOADED_HIGH)) {
		snprintf(err, 256, "is a zImage, not a bzImage");
		return -1;
	}
	unsigned setup_sects = h.setup_sects ? h.setup_sects : 4;
	long setup = (long)(setup_sects + 1) * 512;
	if ((size_t)setup >= len) {
		snprintf(err, 256, "is truncated (setup code runs past the end)");
		return -1;
	}
	return setup;
}

static void e820_add(struct boot_params *bp, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	if (bp->e820_entries >= E820_MAX_ENTRIES_ZEROPAGE || size == 0)
		return;
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];
	e->addr = addr;
	e->size = size;
	e->type = type;
}

int boot_linux_e820(const struct guest_memory *m, void *boot_params)
{
	struct boot_params *bp = boot_params;
	bp->e820_entries = 0;
	e820_add(bp, 0, BOOT_EBDA_START, 1);
	/* EBDA, ACPI tables and the BIOS area stay reserved. */
	e820_add(bp, BOOT_EBDA_START, 0x100000 - BOOT_EBDA_START, 2);
	e820_add(bp, 0x100000, m->low_size - 0x100000, 1);
	if (m->high_size)
		e820_add(bp, GM_HIGH_START, m->high_size, 1);
	return bp->e820_entries;
}

int boot_linux_page_tables(struct guest_memory *m)
{
	uint64_t *gdt = gm_ptr_write(m, BOOT_GDT_ADDR, 4 * 8);
	uint64_t *pml4 = gm_ptr_write(m, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = gm_ptr_write(m, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = gm_ptr_write(m, BOOT_PD_ADDR, 4 * 4096);
	if (!gdt || !pml4 || !pdpt || !pd)
		return -1;
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffULL; /* __BOOT_CS: 64-bit code */
	gdt[3] = 0x00cf93000000ffffULL; /* __BOOT_DS: flat data */
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | 0x3;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + 4096ULL * i) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
	return 0;
}

int boot_linux_reset_stub(struct guest_memory *m)
{
	/* mov al, ACPI_RESET_VALUE; mov dx, ACPI_RESET_PORT; out dx, al;
	 * cli; hlt; jmp $-2 */
	static const uint8_t stub[] = { 0xB0, 0x01, 0xBA, 0x02, 0x06, 0xEE,
					0xFA, 0xF4, 0xEB, 0xFD };
	uint8_t *p = gm_ptr_write(m, BOOT_RESET_VECTOR, sizeof(stub));
	if (!p)
		return -1;
	memcpy(p, stub, sizeof(stub));
	return 0;
}

static uint8_t *read_file(const char *path, size_t *len, char err[256])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, 256, "%s", strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, 256, "is not a regular file");
		close(fd);
		return NULL;
	}
	uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0) {
			snprintf(err, 256, "read failed: %s", n ? strerror(errno) : "short file");
			free(buf);
			buf = NULL;
			break;
		}
		got += (size_t)n;
	}
	if (!buf && !err[0])
		snprintf(err, 256, "out of memory");
	close(fd);
	*len = got;
	return buf;
}

int boot_linux_load(struct guest_memory *m, const char *kernel_path,
		    const char *initrd_path, const char *cmdline,
		    uint64_t rsdp, struct boot_info *out, char err[256])
{
	char why[256] = "";
	size_t klen;
	uint8_t *k = read_file(kernel_path, &klen, why);
	if (!k) {
		snprintf(err, 256, "kernel %s: %s — give a Linux bzImage with --kernel",
			 kernel_path, why);
		return -1;
	}
	long setup = boot_linux_check_header(k, klen, why);
	if (setup < 0) {
		snprintf(err, 256, "kernel %s %s — give a Linux bzImage with --kernel",
			 kernel_path, why);
		free(k);
		return -1;
	}
	struct boot_params *bp = gm_ptr_write(m, BOOT_PARAMS_ADDR, sizeof(*bp));
	size_t hdr_len = 0x202 + k[0x201] - SETUP_HDR_OFF;
	if (hdr_len > sizeof(bp->hdr))
		hdr_len = sizeof(bp->hdr);
	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, k + SETUP_HDR_OFF, hdr_len);

	size_t pm_len = klen - (size_t)setup;
	uint64_t init_size = bp->hdr.init_size > pm_len ? bp->hdr.init_size : pm_len;
	if (BOOT_KERNEL_ADDR + init_size > m->low_size) {
		snprintf(err, 256, "kernel %s needs %llu MiB to unpack but the guest has "
			 "%llu MiB — raise --mem", kernel_path,
			 (unsigned long long)((BOOT_KERNEL_ADDR + init_size) >> 20) + 1,
			 (unsigned long long)(m->size >> 20));
		free(k);
		return -1;
	}
	memcpy(gm_ptr_write(m, BOOT_KERNEL_ADDR, pm_len), k + setup, pm_len);
	free(k);

	size_t cl = strlen(cmdline);
	if (cl + 1 > BOOT_CMDLINE_MAX || (bp->hdr.cmdline_size && cl > bp->hdr.cmdline_size)) {
		snprintf(err, 256, "command line is %zu bytes, the kernel takes at most %u — shorten --cmdline",
			 cl, bp->hdr.cmdline_size);
		return -1;
	}
	memcpy(gm_ptr_write(m, BOOT_CMDLINE_ADDR, cl + 1), cmdline, cl + 1);

	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.loadflags &= (uint8_t)~KEEP_SEGMENTS;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.cmd_line_ptr = BOOT_CMDLINE_ADDR;
	bp->hdr.code32_start = BOOT_KERNEL_ADDR;
	bp->hdr.vid_mode = 0xffff;
	bp->acpi_rsdp_addr = rsdp;

	if (initrd_path) {
		size_t ilen;
		uint8_t *ird = read_file(initrd_path, &ilen, why);
		if (!ird) {
			snprintf(err, 256, "initrd %s: %s — check the path given to --initrd",
				 initrd_path, why);
			return -1;
		}
		uint64_t max = bp->hdr.initrd_addr_max ? bp->hdr.initrd_addr_max : 0x37ffffff;
		uint64_t top = m->low_size < max + 1 ? m->low_size : max + 1;
		uint64_t addr = (top - ilen) & ~0xfffULL;
		if (ilen > top || addr < BOOT_KERNEL_ADDR + init_size) {
			snprintf(err, 256, "initrd %s (%zu MiB) does not fit beside the kernel "
				 "in %llu MiB of guest memory — raise --mem", initrd_path,
				 ilen >> 20, (unsigned long long)(m->size >> 20));
			free(ird);
			return -1;
		}
		memcpy(gm_ptr_write(m, addr, ilen), ird, ilen);
		free(ird);
		bp->hdr.ramdisk_image = (uint32_t)addr;
		bp->hdr.ramdisk_size = (uint32_t)ilen;
	}
	boot_linux_e820(m, bp);
	if (boot_linux_page_tables(m) < 0 || boot_linux_reset_stub(m) < 0) {
		snprintf(err, 256, "guest memory too small for boot page tables");
		return -1;
	}
	out->entry = BOOT_KERNEL_ADDR + 0x200;
	out->boot_params = BOOT_PARAMS_ADDR;
	return 0;
}
