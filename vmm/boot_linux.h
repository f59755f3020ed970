/* Linux x86 boot protocol: loads a bzImage and initrd into guest RAM and
 * builds the zero page (boot_params) with the command line and e820 map. */
#ifndef TABI_BOOT_LINUX_H
#define TABI_BOOT_LINUX_H
#include <stddef.h>
#include <stdint.h>
#include "guest_memory.h"

/* Guest-physical addresses of what the loader places below 1 MiB. */
#define BOOT_GDT_ADDR       0x500
#define BOOT_PARAMS_ADDR    0x7000
#define BOOT_PML4_ADDR      0x9000
#define BOOT_PDPT_ADDR      0xA000
#define BOOT_PD_ADDR        0xB000  /* four page directories: 4 GiB identity */
#define BOOT_CMDLINE_ADDR   0x20000
#define BOOT_CMDLINE_MAX    0x10000
#define BOOT_EBDA_START     0x9FC00 /* reserved from here to 1 MiB */
#define BOOT_KERNEL_ADDR    0x100000

struct boot_info {
	uint64_t entry;        /* 64-bit entry point */
	uint64_t boot_params;  /* zero page address, passed in RSI */
};

/* Loads kernel (and initrd when initrd_path is non-NULL). rsdp is the ACPI
 * RSDP address for the zero page (0 for none). On failure returns -1 with a
 * one-line reason in err. */
int boot_linux_load(struct guest_memory *m, const char *kernel_path,
		    const char *initrd_path, const char *cmdline,
		    uint64_t rsdp, struct boot_info *out, char err[256]);

/* Where a PC's CPU starts after reset. Linux on hardware-reduced ACPI
 * without EFI reboots by jumping here in real mode; tabi puts a stub
 * there that writes the ACPI reset register. */
#define BOOT_RESET_VECTOR   0xFFFF0
int boot_linux_reset_stub(struct guest_memory *m);

/* Pure parsing/building helpers, exposed for unit tests. */
/* Checks a bzImage header; returns setup size in bytes or -1 with err set. */
long boot_linux_check_header(const uint8_t *img, size_t len, char err[256]);
/* Fills the e820 table of boot_params from the memory layout; returns count. */
int boot_linux_e820(const struct guest_memory *m, void *boot_params);
/* Writes GDT and identity page tables for the 64-bit entry. */
int boot_linux_page_tables(struct guest_memory *m);
#endif
