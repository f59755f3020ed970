/* ACPI tables for a hardware-reduced platform: RSDP, XSDT, FADT (sleep and
 * reset registers so a stock kernel can power off and reboot), MADT (one
 * LAPIC per vCPU, the IOAPIC) and a DSDT with \_S5 and the PCI root bridge. */
#ifndef TABI_ACPI_H
#define TABI_ACPI_H
#include <stddef.h>
#include <stdint.h>
#include "guest_memory.h"

#define ACPI_TABLES_ADDR   0xE0000  /* inside the reserved BIOS area */
#define ACPI_TABLES_MAX    0x10000
#define ACPI_SLEEP_CTL_PORT 0x600   /* FADT sleep control register */
#define ACPI_SLEEP_STS_PORT 0x601   /* FADT sleep status register */
#define ACPI_RESET_PORT    0x602    /* FADT reset register */
#define ACPI_RESET_VALUE   0x01
#define ACPI_S5_SLP_TYP    5        /* SLP_TYP the DSDT's \_S5 names */
#define IOAPIC_ADDR        0xFEC00000u
#define LAPIC_ADDR         0xFEE00000u

/* Builds all tables into buf (as if placed at guest address base); returns
 * the RSDP's guest address or 0 if they do not fit. */
uint64_t acpi_build(uint8_t *buf, size_t cap, uint64_t base, int ncpus,
		    uint64_t pci_mmio_base, uint64_t pci_mmio_size);
/* Builds and copies the tables into guest memory; returns the RSDP address. */
uint64_t acpi_install(struct guest_memory *m, int ncpus,
		      uint64_t pci_mmio_base, uint64_t pci_mmio_size);
#endif
