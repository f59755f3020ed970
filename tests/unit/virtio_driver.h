/* Test-side stand-ins for a guest: RAM from the heap, a driver that builds
 * split rings in it, and an irq_sink that records MSIs. Shared by the
 * virtqueue / virtio-pci / blk / rng tests and the fuzzer. */
#ifndef TABI_TEST_VIRTIO_DRIVER_H
#define TABI_TEST_VIRTIO_DRIVER_H
#include <stdlib.h>
#include <string.h>
#include "guest_memory.h"
#include "irq.h"
#include "virtio_pci.h"
#include "virtqueue.h"

#define T_MEM_SIZE (1u << 20)
#define T_DESC  0x1000
#define T_AVAIL 0x2000
#define T_USED  0x3000
#define T_BUF   0x10000

static inline void tmem_init(struct guest_memory *gm, uint64_t size)
{
	uint8_t *host = aligned_alloc(4096, size);
	memset(host, 0, size);
	gm_layout(gm, host, size);
}

struct tring {
	struct guest_memory *gm;
	uint16_t size, avail_idx;
	uint64_t desc, avail, used;
};

static inline void tr_init(struct tring *t, struct guest_memory *gm, uint16_t size)
{
	*t = (struct tring){ gm, size, 0, T_DESC, T_AVAIL, T_USED };
}

static inline void tr_desc_at(struct tring *t, uint64_t table, uint16_t i,
			      uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = gm_ptr(t->gm, table + 16ULL * i, 16);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static inline void tr_desc(struct tring *t, uint16_t i, uint64_t addr,
			   uint32_t len, uint16_t flags, uint16_t next)
{
	tr_desc_at(t, t->desc, i, addr, len, flags, next);
}

static inline uint16_t *tr_u16(struct tring *t, uint64_t gpa)
{
	return gm_ptr(t->gm, gpa, 2);
}

/* Publishes head in the avail ring. */
static inline void tr_kick(struct tring *t, uint16_t head)
{
	*tr_u16(t, t->avail + 4 + 2ULL * (t->avail_idx % t->size)) = head;
	t->avail_idx++;
	*tr_u16(t, t->avail + 2) = t->avail_idx;
}

static inline uint16_t tr_used_idx(struct tring *t) { return *tr_u16(t, t->used + 2); }

static inline void tr_used_elem(struct tring *t, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint8_t *e = gm_ptr(t->gm, t->used + 4 + 8ULL * (i % t->size), 8);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

static inline void tr_set_used_event(struct tring *t, uint16_t v)
{
	*tr_u16(t, t->avail + 4 + 2ULL * t->size) = v;
}

static inline uint16_t tr_avail_event(struct tring *t)
{
	return *tr_u16(t, t->used + 4 + 8ULL * t->size);
}

/* Records MSIs. */
struct rec_irq {
	int n;
	uint64_t addr[64];
	uint32_t data[64];
};

static inline void rec_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct rec_irq *r = ctx;
	if (r->n < 64) {
		r->addr[r->n] = addr;
		r->data[r->n] = data;
	}
	r->n++;
}

static inline void rec_line(void *ctx, uint32_t gsi, int level)
{
	(void)ctx; (void)gsi; (void)level;
}

/* ---- a virtio-pci driver speaking through the BAR handler ---- */

static inline uint64_t vp_rd(struct virtio_pci *vp, uint64_t off, uint32_t len)
{
	uint64_t v = 0;
	virtio_pci_bar_io(vp, off, (uint8_t *)&v, len, false);
	return v;
}

static inline void vp_wr(struct virtio_pci *vp, uint64_t off, uint64_t v, uint32_t len)
{
	virtio_pci_bar_io(vp, off, (uint8_t *)&v, len, true);
}

/* Programs MSI-X vector v to send data = 0x40 + v, and enables MSI-X. */
static inline void drv_msix_setup(struct virtio_pci *vp)
{
	for (uint16_t v = 0; v < vp->msix.nvec; v++) {
		uint64_t e = VIRTIO_PCI_MSIX_OFF + 16ULL * v;
		vp_wr(vp, e, 0xFEE00000u, 4);
		vp_wr(vp, e + 4, 0, 4);
		vp_wr(vp, e + 8, 0x40 + v, 4);
		vp_wr(vp, e + 12, 0, 4);
	}
	uint32_t ctl = pci_cfg_read(&vp->pci, vp->msix.cap + 2, 2);
	pci_cfg_write(&vp->pci, vp->msix.cap + 2, ctl | MSIX_CTRL_ENABLE, 2);
}

/* The Linux sequence: reset, ACK, DRIVER, features, FEATURES_OK, queue 0
 * at the tring's addresses with vector 1, config vector 0, DRIVER_OK. */
static inline int drv_bringup(struct virtio_pci *vp, struct tring *t, uint64_t features)
{
	vp_wr(vp, VIRTIO_PCI_STATUS, 0, 1);
	vp_wr(vp, VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 1);
	vp_wr(vp, VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	vp_wr(vp, VIRTIO_PCI_GFSELECT, 0, 4);
	vp_wr(vp, VIRTIO_PCI_GF, (uint32_t)features, 4);
	vp_wr(vp, VIRTIO_PCI_GFSELECT, 1, 4);
	vp_wr(vp, VIRTIO_PCI_GF, (uint32_t)(features >> 32), 4);
	vp_wr(vp, VIRTIO_PCI_STATUS, 0x0b, 1);
	if (!(vp_rd(vp, VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK))
		return -1;
	drv_msix_setup(vp);
	vp_wr(vp, VIRTIO_PCI_MSIX_CONFIG, 0, 2);
	vp_wr(vp, VIRTIO_PCI_Q_SELECT, 0, 2);
	vp_wr(vp, VIRTIO_PCI_Q_SIZE, t->size, 2);
	vp_wr(vp, VIRTIO_PCI_Q_MSIX, 1, 2);
	vp_wr(vp, VIRTIO_PCI_Q_DESC, (uint32_t)t->desc, 4);
	vp_wr(vp, VIRTIO_PCI_Q_DESC + 4, t->desc >> 32, 4);
	vp_wr(vp, VIRTIO_PCI_Q_AVAIL, t->avail, 8);
	vp_wr(vp, VIRTIO_PCI_Q_USED, t->used, 8);
	vp_wr(vp, VIRTIO_PCI_Q_ENABLE, 1, 2);
	vp_wr(vp, VIRTIO_PCI_STATUS, 0x0f, 1);
	return vp_rd(vp, VIRTIO_PCI_Q_ENABLE, 2) == 1 ? 0 : -1;
}

static inline void drv_notify(struct virtio_pci *vp, uint16_t q)
{
	vp_wr(vp, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, q, 2);
}
#endif
