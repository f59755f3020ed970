/* PCI MSI-X (PCI Local Bus 3.0, 6.8.2): the capability in config space, the
 * vector table and pending-bit array inside a memory BAR. Masked vectors
 * latch a pending bit and fire when unmasked. The owner serialises calls
 * (virtio_pci holds its device lock around every one). */
#ifndef TABI_MSIX_H
#define TABI_MSIX_H
#include <stdbool.h>
#include <stdint.h>
#include "irq.h"
#include "pci.h"
#include "state_buf.h"

#define MSIX_MAX_VECTORS 64
#define MSIX_ENTRY_SIZE 16
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FMASK  0x4000
#define MSIX_NO_VECTOR   0xffff

struct msix {
	struct pci_device *pci;
	const struct irq_sink *irq;
	uint16_t nvec;
	uint8_t cap;            /* config offset of the capability */
	bool enabled, fmask;    /* cached from the message control word */
	uint8_t table[MSIX_MAX_VECTORS * MSIX_ENTRY_SIZE];
	uint64_t pba;           /* one pending bit per vector */
};

/* Adds the capability to pci: table at table_off, PBA at pba_off, both in
 * BAR `bar`. Every entry starts masked. -1 if nvec is too large or the
 * capability does not fit. */
int msix_init(struct msix *m, struct pci_device *pci, const struct irq_sink *irq,
	      uint16_t nvec, int bar, uint32_t table_off, uint32_t pba_off);
/* BAR accesses at offsets relative to the table / PBA. */
void msix_table_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void msix_pba_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Re-reads enable/function mask from config space (after a config write or
 * restore) and delivers vectors that became unmasked while pending. */
void msix_sync_cfg(struct msix *m);
/* Raises vector v (MSIX_NO_VECTOR or out of range: nothing). Returns false
 * when MSI-X is disabled, so the caller may fall back or drop. */
bool msix_notify(struct msix *m, uint16_t v);
/* Table + PBA (the capability's control word lives in config space). */
void msix_save(const struct msix *m, struct state_buf *b);
int msix_restore(struct msix *m, struct state_buf *b);
#endif
