/* Modern virtio-pci transport with a toy device: identity and capabilities,
 * feature negotiation, queue setup, reset, MSI-X delivery and masking,
 * DEVICE_NEEDS_RESET on a bad ring, save/restore. */
#include "unit.h"
#include "virtio_driver.h"

static struct guest_memory gm;
static struct rec_irq rec;
static const struct irq_sink sink = { rec_msi, rec_line, &rec };
static int notifies, resets;

static uint32_t echo(struct virtio_pci *vp, struct vq_chain *c)
{
	(void)vp;
	uint8_t x = 0x5a;
	for (uint64_t i = 0; i < c->w_len; i++)
		iov_from_buf(c->iov + c->nr, c->nw, i, &x, 1);
	return (uint32_t)c->w_len;
}

static struct vq_chain chain;
static void toy_notify(struct virtio_pci *vp, uint16_t q)
{
	notifies++;
	virtio_pci_process(vp, q, &chain, echo);
}
static void toy_reset(struct virtio_pci *vp) { (void)vp; resets++; }
static void toy_cfg_read(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)vp;
	static const uint8_t cfg[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	memcpy(data, cfg + off, len);
}

static const struct virtio_device_ops toy = {
	.device_id = 9, .pci_class = 0xff0000, .num_queues = 2,
	.max_queue_size = 16, .config_len = 8,
	.config_read = toy_cfg_read, .notify = toy_notify, .reset = toy_reset,
};

#define FEAT_OK (1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_INDIRECT_DESC | 1ULL << 3)

static void one_request(struct tring *t, struct virtio_pci *vp)
{
	tr_desc(t, 0, T_BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	tr_kick(t, 0);
	drv_notify(vp, 0);
}

static uint8_t find_vcap(struct virtio_pci *vp, uint8_t type)
{
	for (uint8_t p = vp->pci.cfg[PCI_CAPABILITY_LIST]; p; p = vp->pci.cfg[p + 1])
		if (vp->pci.cfg[p] == PCI_CAP_ID_VNDR && vp->pci.cfg[p + 3] == type)
			return p;
	return 0;
}

static void test_identity(struct virtio_pci *vp)
{
	CHECK_EQ(pci_cfg_read(&vp->pci, 0, 4), 0x10491af4);
	CHECK_EQ(pci_cfg_read(&vp->pci, PCI_REVISION_ID, 1), 1);
	CHECK_EQ(pci_cfg_read(&vp->pci, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	CHECK(pci_cfg_read(&vp->pci, PCI_SUBSYSTEM_ID, 2) >= 0x40);
	CHECK_EQ(pci_cfg_read(&vp->pci, PCI_INTERRUPT_PIN, 1), 0);
	CHECK_EQ(pci_cfg_read(&vp->pci, PCI_BAR0, 4) & 0xf, 4);
	const uint32_t want_off[5] = { 0, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_NOTIFY_OFF,
				       VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_DEVCFG_OFF };
	for (uint8_t type = 1; type <= 4; type++) {
		uint8_t p = find_vcap(vp, type);
		CHECK(p != 0);
		CHECK_EQ(pci_cfg_read(&vp->pci, p + 4, 1), 0); /* BAR 0 */
		CHECK_EQ(pci_cfg_read(&vp->pci, p + 8, 4), want_off[type]);
	}
	uint8_t n = find_vcap(vp, 2);
	CHECK_EQ(pci_cfg_read(&vp->pci, n + 2, 1), 20);
	CHECK_EQ(pci_cfg_read(&vp->pci, n + 16, 4), VIRTIO_PCI_NOTIFY_MULT);
	CHECK_EQ(pci_cfg_read(&vp->pci, vp->msix.cap, 1), PCI_CAP_ID_MSIX);
	CHECK_EQ(pci_cfg_read(&vp->pci, vp->msix.cap + 2, 2) & 0x7ff, 2); /* 3 vectors */
	CHECK_EQ(pci_cfg_read(&vp->pci, vp->msix.cap + 4, 4), VIRTIO_PCI_MSIX_OFF);
	CHECK_EQ(pci_cfg_read(&vp->pci, vp->msix.cap + 8, 4), VIRTIO_PCI_PBA_OFF);
	/* Device config, clipped reads of what is outside. */
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_DEVCFG_OFF + 4, 4), 0x08070605);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_DEVCFG_OFF + 6, 4), 0);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_NUM_QUEUES, 2), 2);
}

static void test_features(struct virtio_pci *vp)
{
	vp_wr(vp, VIRTIO_PCI_DFSELECT, 1, 4);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_DF, 4), 1); /* VERSION_1 */
	vp_wr(vp, VIRTIO_PCI_DFSELECT, 0, 4);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_DF, 4), 1u << 28 | 1u << 3);
	vp_wr(vp, VIRTIO_PCI_DFSELECT, 7, 4);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_DF, 4), 0);
	struct tring t;
	tr_init(&t, &gm, 8);
	/* Not offered: EVENT_IDX (bit 29). */
	CHECK_EQ(drv_bringup(vp, &t, FEAT_OK | 1ULL << 29), -1);
	/* Legacy-only driver (no VERSION_1). */
	CHECK_EQ(drv_bringup(vp, &t, 1ULL << 3), -1);
	CHECK_EQ(drv_bringup(vp, &t, FEAT_OK), 0);
	CHECK_EQ(vp->guest_features, FEAT_OK);
	/* Features are frozen after FEATURES_OK. */
	vp_wr(vp, VIRTIO_PCI_GFSELECT, 0, 4);
	vp_wr(vp, VIRTIO_PCI_GF, 0, 4);
	CHECK_EQ(vp->guest_features, FEAT_OK);
	CHECK(vp->vq[0].indirect);
	CHECK(!vp->vq[0].event_idx);
}

static void test_queues(struct virtio_pci *vp)
{
	vp_wr(vp, VIRTIO_PCI_STATUS, 0, 1);
	vp_wr(vp, VIRTIO_PCI_Q_SELECT, 1, 2);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_SIZE, 2), 16);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_NOFF, 2), 1);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_MSIX, 2), 0xffff);
	vp_wr(vp, VIRTIO_PCI_Q_MSIX, 2, 2);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_MSIX, 2), 2);
	vp_wr(vp, VIRTIO_PCI_Q_MSIX, 3, 2);          /* no such vector */
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_MSIX, 2), 0xffff);
	vp_wr(vp, VIRTIO_PCI_Q_DESC, 0x123456789ULL, 8);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_DESC, 4), 0x23456789);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_DESC + 4, 4), 1);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_DESC, 8), 0x123456789ULL);
	/* Enabling with a table outside RAM fails and flags the device. */
	vp_wr(vp, VIRTIO_PCI_Q_ENABLE, 1, 2);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_ENABLE, 2), 0);
	CHECK(vp_rd(vp, VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	/* A queue past num_queues reads as absent and ignores writes. */
	vp_wr(vp, VIRTIO_PCI_Q_SELECT, 5, 2);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_SIZE, 2), 0);
	vp_wr(vp, VIRTIO_PCI_Q_ENABLE, 1, 2);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_ENABLE, 2), 0);
	/* Reset clears everything, and calls the device. */
	int r0 = resets;
	vp_wr(vp, VIRTIO_PCI_STATUS, 0, 1);
	CHECK_EQ(resets, r0 + 1);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_STATUS, 1), 0);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_SELECT, 2), 0);
	vp_wr(vp, VIRTIO_PCI_Q_SELECT, 1, 2);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_DESC, 8), 0);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_Q_MSIX, 2), 0xffff);
	CHECK_EQ(vp->guest_features, 0);
}

static void test_irq(struct virtio_pci *vp)
{
	struct tring t;
	tr_init(&t, &gm, 8);
	memset(gm.host, 0, gm.size);
	CHECK_EQ(drv_bringup(vp, &t, FEAT_OK), 0);
	rec.n = 0;
	one_request(&t, vp);
	CHECK_EQ(tr_used_idx(&t), 1);
	CHECK_EQ(rec.n, 1);
	CHECK_EQ(rec.addr[0], 0xFEE00000u);
	CHECK_EQ(rec.data[0], 0x41);            /* queue 0 -> vector 1 */
	CHECK_EQ(gm.host[T_BUF + 3], 0x5a);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_ISR_OFF, 1), 1);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_ISR_OFF, 1), 0); /* read clears */
	/* Masked entry: pending bit, delivered on unmask. */
	vp_wr(vp, VIRTIO_PCI_MSIX_OFF + 16 + 12, 1, 4);
	one_request(&t, vp);
	CHECK_EQ(rec.n, 1);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_PBA_OFF, 8), 2);
	vp_wr(vp, VIRTIO_PCI_MSIX_OFF + 16 + 12, 0, 4);
	CHECK_EQ(rec.n, 2);
	CHECK_EQ(rec.data[1], 0x41);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_PBA_OFF, 8), 0);
	/* Function mask in config space, same story. */
	uint8_t ctl = vp->msix.cap + 2;
	pci_cfg_write(&vp->pci, ctl, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK, 2);
	one_request(&t, vp);
	CHECK_EQ(rec.n, 2);
	pci_cfg_write(&vp->pci, ctl, MSIX_CTRL_ENABLE, 2);
	CHECK_EQ(rec.n, 3);
	/* MSI-X disabled: no message. No vector: no message. */
	pci_cfg_write(&vp->pci, ctl, 0, 2);
	one_request(&t, vp);
	CHECK_EQ(rec.n, 3);
	pci_cfg_write(&vp->pci, ctl, MSIX_CTRL_ENABLE, 2);
	vp_wr(vp, VIRTIO_PCI_Q_SELECT, 0, 2);
	vp_wr(vp, VIRTIO_PCI_Q_MSIX, 0xffff, 2);
	one_request(&t, vp);
	CHECK_EQ(rec.n, 3);
	CHECK_EQ(tr_used_idx(&t), 5);
	vp_wr(vp, VIRTIO_PCI_Q_MSIX, 1, 2);
	/* Notify for a disabled queue or out of the area: nothing. */
	int n0 = notifies;
	drv_notify(vp, 1);
	vp_wr(vp, VIRTIO_PCI_NOTIFY_OFF + 8, 0, 2);
	CHECK_EQ(notifies, n0);
	/* A malformed chain: NEEDS_RESET + config interrupt (vector 0). */
	tr_desc(&t, 0, T_BUF, 4, VIRTQ_DESC_F_NEXT, 0);
	tr_kick(&t, 0);
	drv_notify(vp, 0);
	CHECK(vp_rd(vp, VIRTIO_PCI_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(rec.n, 4);
	CHECK_EQ(rec.data[3], 0x40);
	CHECK(vp_rd(vp, VIRTIO_PCI_ISR_OFF, 1) & 2);
	tr_desc(&t, 0, T_BUF, 4, 0, 0);
	tr_kick(&t, 0);
	drv_notify(vp, 0);
	CHECK_EQ(tr_used_idx(&t), 5);           /* nothing more processed */
	CHECK_EQ(rec.n, 4);
	/* After reset a kick is ignored until the driver is back. */
	vp_wr(vp, VIRTIO_PCI_STATUS, 0, 1);
	n0 = notifies;
	drv_notify(vp, 0);
	CHECK_EQ(notifies, n0);
	/* Reset revives it. */
	CHECK_EQ(drv_bringup(vp, &t, FEAT_OK), 0);
	CHECK_EQ(vp_rd(vp, VIRTIO_PCI_STATUS, 1), 0x0f);
}

static void test_save_restore(struct virtio_pci *vp)
{
	struct tring t;
	tr_init(&t, &gm, 8);
	memset(gm.host, 0, gm.size);
	CHECK_EQ(drv_bringup(vp, &t, FEAT_OK), 0);
	one_request(&t, vp);
	vp_wr(vp, VIRTIO_PCI_MSIX_OFF + 16 + 12, 1, 4); /* leave vector 1 masked+pending */
	one_request(&t, vp);
	struct state_buf b;
	sb_init(&b);
	virtio_pci_save(vp, &b);
	CHECK(!b.error);

	struct virtio_pci *r = calloc(1, sizeof(*r));
	CHECK_EQ(virtio_pci_init(r, &toy, NULL, 1ULL << 28 | 1ULL << 3, &gm, &sink), 0);
	struct state_buf rd;
	sb_reader(&rd, b.data, b.len);
	CHECK_EQ(virtio_pci_restore(r, &rd), 0);
	CHECK(sb_done(&rd));
	CHECK_EQ(r->status, 0x0f);
	CHECK_EQ(r->guest_features, FEAT_OK);
	CHECK(r->vq[0].ready && r->vq[0].indirect);
	CHECK_EQ(r->vq[0].used_idx, 2);
	CHECK_EQ(r->vq_vector[0], 1);
	CHECK_EQ(r->config_vector, 0);
	CHECK(r->msix.enabled);
	CHECK_EQ(r->msix.pba, 2);
	CHECK_EQ(pci_cfg_read(&r->pci, PCI_COMMAND, 2), pci_cfg_read(&vp->pci, PCI_COMMAND, 2));
	/* The restored device carries on: unmask delivers the pending MSI. */
	int n0 = rec.n;
	vp_wr(r, VIRTIO_PCI_MSIX_OFF + 16 + 12, 0, 4);
	CHECK_EQ(rec.n, n0 + 1);
	one_request(&t, r);
	CHECK_EQ(tr_used_idx(&t), 3);
	CHECK_EQ(rec.n, n0 + 2);

	/* Every truncation is refused, never crashes. */
	int bad = 0;
	for (size_t len = 0; len < b.len; len++) {
		sb_reader(&rd, b.data, len);
		if (virtio_pci_restore(r, &rd) != -1)
			bad++;
	}
	CHECK_EQ(bad, 0);
	/* Random corruption: must not crash; invalid values refused. */
	uint8_t *copy = malloc(b.len);
	srand(1);
	for (int i = 0; i < 2000; i++) {
		memcpy(copy, b.data, b.len);
		for (int k = 0; k < 4; k++)
			copy[(size_t)rand() % b.len] = (uint8_t)rand();
		sb_reader(&rd, copy, b.len);
		(void)virtio_pci_restore(r, &rd);
	}
	/* Specific refusals: other features offered, other device. */
	struct virtio_pci *o = calloc(1, sizeof(*o));
	CHECK_EQ(virtio_pci_init(o, &toy, NULL, 1ULL << 28, &gm, &sink), 0);
	sb_reader(&rd, b.data, b.len);
	CHECK_EQ(virtio_pci_restore(o, &rd), -1);
	free(copy);
	virtio_pci_destroy(o);
	virtio_pci_destroy(r);
	free(o);
	free(r);
	sb_free(&b);
}

int main(void)
{
	tmem_init(&gm, T_MEM_SIZE);
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	CHECK_EQ(virtio_pci_init(vp, &toy, NULL, 1ULL << 28 | 1ULL << 3, &gm, &sink), 0);
	struct virtio_device_ops bad = toy;
	bad.max_queue_size = 12;
	struct virtio_pci *x = calloc(1, sizeof(*x));
	CHECK_EQ(virtio_pci_init(x, &bad, NULL, 0, &gm, &sink), -1);
	free(x);
	test_identity(vp);
	test_features(vp);
	test_queues(vp);
	test_irq(vp);
	test_save_restore(vp);
	virtio_pci_destroy(vp);
	free(vp);
	free(gm.host);
	UNIT_MAIN_END();
}
