/* Modern virtio-pci transport (virtio_pci.h). */
#include <string.h>
#include "virtio_pci.h"

#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR    3
#define VIRTIO_PCI_CAP_DEVICE 4
#define SAVE_MAGIC 0x314f4956u /* "VIO1" */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* struct virtio_pci_cap (+ notify_off_multiplier for the notify cap). */
static int add_vcap(struct pci_device *pci, uint8_t type, uint32_t off,
		    uint32_t len, bool notify)
{
	uint8_t body[18] = { 0 };
	uint8_t cap_len = notify ? 20 : 16;
	body[0] = cap_len;
	body[1] = type;
	body[2] = 0; /* BAR 0 */
	put32(body + 6, off);
	put32(body + 10, len);
	if (notify)
		put32(body + 14, VIRTIO_PCI_NOTIFY_MULT);
	return pci_device_add_cap(pci, PCI_CAP_ID_VNDR, body, NULL, cap_len) ? 0 : -1;
}

static void cfg_hook(struct pci_device *pci, uint32_t off, uint32_t len)
{
	struct virtio_pci *vp = pci->opaque;
	if (off < (uint32_t)vp->msix.cap + 12 && off + len > vp->msix.cap) {
		pthread_mutex_lock(&vp->lock);
		msix_sync_cfg(&vp->msix);
		pthread_mutex_unlock(&vp->lock);
	}
}

static void do_reset(struct virtio_pci *vp)
{
	vp->status = 0;
	vp->guest_features = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->queue_sel = 0;
	vp->isr = 0;
	vp->config_vector = MSIX_NO_VECTOR;
	for (int q = 0; q < vp->ops->num_queues; q++) {
		vq_reset(&vp->vq[q], vp->gm, vp->ops->max_queue_size);
		vp->vq_vector[q] = MSIX_NO_VECTOR;
	}
	if (vp->ops->reset)
		vp->ops->reset(vp);
}

int virtio_pci_init(struct virtio_pci *vp, const struct virtio_device_ops *ops,
		    void *dev, uint64_t features, struct guest_memory *gm,
		    const struct irq_sink *irq)
{
	uint16_t mq = ops->max_queue_size;
	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_PCI_MAX_QUEUES ||
	    mq == 0 || mq > VQ_MAX_SIZE || (mq & (mq - 1)) ||
	    ops->config_len > VIRTIO_PCI_DEVCFG_MAX || !ops->notify)
		return -1;
	memset(vp, 0, sizeof(*vp));
	vp->ops = ops;
	vp->dev = dev;
	vp->gm = gm;
	vp->host_features = features | 1ULL << VIRTIO_F_VERSION_1;
	pthread_mutex_init(&vp->lock, NULL);
	struct pci_device *pci = &vp->pci;
	pci_device_init(pci, 0x1AF4, (uint16_t)(0x1040 + ops->device_id),
			ops->pci_class, 1, 0x1AF4, 0x40);
	pci->opaque = vp;
	pci->cfg_write = cfg_hook;
	pci_device_set_bar(pci, 0, VIRTIO_PCI_BAR_SIZE, false, true,
			   virtio_pci_bar_io, vp);
	if (add_vcap(pci, VIRTIO_PCI_CAP_COMMON, VIRTIO_PCI_COMMON_OFF,
		     VIRTIO_PCI_COMMON_LEN, false) ||
	    add_vcap(pci, VIRTIO_PCI_CAP_ISR, VIRTIO_PCI_ISR_OFF, 4, false) ||
	    add_vcap(pci, VIRTIO_PCI_CAP_NOTIFY, VIRTIO_PCI_NOTIFY_OFF,
		     VIRTIO_PCI_NOTIFY_MULT * ops->num_queues, true) ||
	    (ops->config_len && add_vcap(pci, VIRTIO_PCI_CAP_DEVICE,
					 VIRTIO_PCI_DEVCFG_OFF, ops->config_len, false)) ||
	    msix_init(&vp->msix, pci, irq, (uint16_t)(ops->num_queues + 1), 0,
		      VIRTIO_PCI_MSIX_OFF, VIRTIO_PCI_PBA_OFF)) {
		pthread_mutex_destroy(&vp->lock);
		return -1;
	}
	do_reset(vp);
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	pthread_mutex_destroy(&vp->lock);
}

int virtio_pci_attach(struct virtio_pci *vp, struct pci_bus *bus)
{
	return pci_bus_add(bus, &vp->pci);
}

/* ---- interrupts ---- */

void virtio_pci_queue_done(struct virtio_pci *vp, uint16_t q)
{
	if (q >= vp->ops->num_queues || !vq_should_notify(&vp->vq[q]))
		return;
	vp->isr |= 1;
	msix_notify(&vp->msix, vp->vq_vector[q]);
}

void virtio_pci_config_changed(struct virtio_pci *vp)
{
	vp->config_gen++;
	vp->isr |= 2;
	msix_notify(&vp->msix, vp->config_vector);
}

void virtio_pci_set_needs_reset(struct virtio_pci *vp)
{
	if (vp->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	vp->status |= VIRTIO_STATUS_NEEDS_RESET;
	vp->isr |= 2;
	msix_notify(&vp->msix, vp->config_vector);
}

void virtio_pci_process(struct virtio_pci *vp, uint16_t q, struct vq_chain *c,
			uint32_t (*fn)(struct virtio_pci *vp, struct vq_chain *c))
{
	struct virtqueue *vq = &vp->vq[q];
	bool pushed = false;
	for (;;) {
		int r = vq_pop(vq, c);
		if (r == 0)
			break;
		if (r < 0) {
			virtio_pci_set_needs_reset(vp);
			break;
		}
		uint32_t n = fn(vp, c);
		if (vq_push(vq, c->head, n) < 0) {
			virtio_pci_set_needs_reset(vp);
			break;
		}
		pushed = true;
	}
	if (pushed)
		virtio_pci_queue_done(vp, q);
}

/* ---- common configuration ---- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The register file as the driver would read it now. */
static void common_image(struct virtio_pci *vp, uint8_t *img)
{
	memset(img, 0, VIRTIO_PCI_COMMON_LEN);
	put_le(img + VIRTIO_PCI_DFSELECT, vp->dfselect, 4);
	if (vp->dfselect < 2)
		put_le(img + VIRTIO_PCI_DF, vp->host_features >> (32 * vp->dfselect), 4);
	put_le(img + VIRTIO_PCI_GFSELECT, vp->gfselect, 4);
	if (vp->gfselect < 2)
		put_le(img + VIRTIO_PCI_GF, vp->guest_features >> (32 * vp->gfselect), 4);
	put_le(img + VIRTIO_PCI_MSIX_CONFIG, vp->config_vector, 2);
	put_le(img + VIRTIO_PCI_NUM_QUEUES, vp->ops->num_queues, 2);
	img[VIRTIO_PCI_STATUS] = vp->status;
	img[VIRTIO_PCI_CFG_GEN] = vp->config_gen;
	put_le(img + VIRTIO_PCI_Q_SELECT, vp->queue_sel, 2);
	uint16_t q = vp->queue_sel;
	if (q < vp->ops->num_queues) {
		const struct virtqueue *vq = &vp->vq[q];
		put_le(img + VIRTIO_PCI_Q_SIZE, vq->size, 2);
		put_le(img + VIRTIO_PCI_Q_MSIX, vp->vq_vector[q], 2);
		put_le(img + VIRTIO_PCI_Q_ENABLE, vq->ready, 2);
		put_le(img + VIRTIO_PCI_Q_NOFF, q, 2);
		put_le(img + VIRTIO_PCI_Q_DESC, vq->desc, 8);
		put_le(img + VIRTIO_PCI_Q_AVAIL, vq->avail, 8);
		put_le(img + VIRTIO_PCI_Q_USED, vq->used, 8);
	}
}

static bool features_ok(const struct virtio_pci *vp)
{
	return !(vp->guest_features & ~vp->host_features) &&
	       (vp->guest_features >> VIRTIO_F_VERSION_1 & 1);
}

static uint16_t checked_vector(const struct virtio_pci *vp, uint16_t v)
{
	return v < vp->msix.nvec ? v : MSIX_NO_VECTOR;
}

static void set_ring_features(struct virtio_pci *vp, struct virtqueue *vq)
{
	vq->event_idx = vp->guest_features >> VIRTIO_RING_F_EVENT_IDX & 1;
	vq->indirect = vp->guest_features >> VIRTIO_RING_F_INDIRECT_DESC & 1;
}

static void write_status(struct virtio_pci *vp, uint8_t val)
{
	if (val == 0) {
		do_reset(vp);
		return;
	}
	if ((val & VIRTIO_STATUS_FEATURES_OK) &&
	    !(vp->status & VIRTIO_STATUS_FEATURES_OK) && !features_ok(vp))
		val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	val |= vp->status & VIRTIO_STATUS_NEEDS_RESET;
	bool go = (val & VIRTIO_STATUS_DRIVER_OK) && !(vp->status & VIRTIO_STATUS_DRIVER_OK);
	vp->status = val;
	/* Buffers queued before DRIVER_OK were not processed; do them now. */
	if (go)
		for (uint16_t q = 0; q < vp->ops->num_queues; q++)
			if (vp->vq[q].ready && !vp->vq[q].broken)
				vp->ops->notify(vp, q);
}

static void write_field(struct virtio_pci *vp, uint32_t off, uint64_t v)
{
	uint16_t q = vp->queue_sel;
	struct virtqueue *vq = q < vp->ops->num_queues ? &vp->vq[q] : NULL;
	bool feat_locked = vp->status & VIRTIO_STATUS_FEATURES_OK;
	switch (off) {
	case VIRTIO_PCI_DFSELECT: vp->dfselect = (uint32_t)v; break;
	case VIRTIO_PCI_GFSELECT: vp->gfselect = (uint32_t)v; break;
	case VIRTIO_PCI_GF:
		if (vp->gfselect < 2 && !feat_locked) {
			int sh = 32 * (int)vp->gfselect;
			vp->guest_features = (vp->guest_features & ~(0xffffffffULL << sh)) |
					     (v & 0xffffffffULL) << sh;
		}
		break;
	case VIRTIO_PCI_MSIX_CONFIG: vp->config_vector = checked_vector(vp, (uint16_t)v); break;
	case VIRTIO_PCI_STATUS: write_status(vp, (uint8_t)v); break;
	case VIRTIO_PCI_Q_SELECT: vp->queue_sel = (uint16_t)v; break;
	case VIRTIO_PCI_Q_SIZE: if (vq && !vq->ready) vq->size = (uint16_t)v; break;
	case VIRTIO_PCI_Q_MSIX: if (vq) vp->vq_vector[q] = checked_vector(vp, (uint16_t)v); break;
	case VIRTIO_PCI_Q_ENABLE:
		if (vq && !vq->ready && v == 1) {
			set_ring_features(vp, vq);
			if (vq_enable(vq, vp->ops->max_queue_size) < 0)
				virtio_pci_set_needs_reset(vp);
		}
		break;
	case VIRTIO_PCI_Q_DESC: if (vq && !vq->ready) vq->desc = v; break;
	case VIRTIO_PCI_Q_AVAIL: if (vq && !vq->ready) vq->avail = v; break;
	case VIRTIO_PCI_Q_USED: if (vq && !vq->ready) vq->used = v; break;
	}
}

/* A write of any width lands in a copy of the register file; each register
 * it touched then takes its new value (so 32-bit halves of the 64-bit ring
 * addresses work, as do odd widths). */
static void common_write(struct virtio_pci *vp, uint32_t off, const uint8_t *data, uint32_t len)
{
	static const struct { uint8_t off, len; } regs[] = {
		{ VIRTIO_PCI_DFSELECT, 4 }, { VIRTIO_PCI_GFSELECT, 4 },
		{ VIRTIO_PCI_GF, 4 }, { VIRTIO_PCI_MSIX_CONFIG, 2 },
		{ VIRTIO_PCI_STATUS, 1 }, { VIRTIO_PCI_Q_SELECT, 2 },
		{ VIRTIO_PCI_Q_SIZE, 2 }, { VIRTIO_PCI_Q_MSIX, 2 },
		{ VIRTIO_PCI_Q_DESC, 8 }, { VIRTIO_PCI_Q_AVAIL, 8 },
		{ VIRTIO_PCI_Q_USED, 8 }, { VIRTIO_PCI_Q_ENABLE, 2 },
	};
	uint8_t img[VIRTIO_PCI_COMMON_LEN];
	common_image(vp, img);
	memcpy(img + off, data, len);
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (off < regs[i].off + regs[i].len && regs[i].off < off + len)
			write_field(vp, regs[i].off, get_le(img + regs[i].off, regs[i].len));
}

/* ---- BAR 0 ---- */

static bool within(uint64_t off, uint32_t len, uint64_t base, uint64_t size)
{
	return off >= base && off - base < size && len <= size - (off - base);
}

void virtio_pci_bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;
	if (len == 0 || len > 8)
		return;
	if (!is_write)
		memset(data, 0, len);
	pthread_mutex_lock(&vp->lock);
	if (within(off, len, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN)) {
		uint32_t o = (uint32_t)(off - VIRTIO_PCI_COMMON_OFF);
		if (is_write) {
			common_write(vp, o, data, len);
		} else {
			uint8_t img[VIRTIO_PCI_COMMON_LEN];
			common_image(vp, img);
			memcpy(data, img + o, len);
		}
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		if (!is_write) {
			data[0] = vp->isr; /* reading acknowledges */
			vp->isr = 0;
		}
	} else if (within(off, len, VIRTIO_PCI_DEVCFG_OFF, vp->ops->config_len)) {
		uint32_t o = (uint32_t)(off - VIRTIO_PCI_DEVCFG_OFF);
		if (!is_write)
			vp->ops->config_read(vp, o, data, len);
		else if (vp->ops->config_write)
			vp->ops->config_write(vp, o, data, len);
	} else if (within(off, len, VIRTIO_PCI_NOTIFY_OFF,
			  (uint64_t)VIRTIO_PCI_NOTIFY_MULT * vp->ops->num_queues)) {
		uint16_t q = (uint16_t)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT);
		if (is_write && (vp->status & VIRTIO_STATUS_DRIVER_OK) &&
		    vp->vq[q].ready && !vp->vq[q].broken)
			vp->ops->notify(vp, q);
	} else if (within(off, len, VIRTIO_PCI_MSIX_OFF, 0x1000)) {
		msix_table_io(&vp->msix, off - VIRTIO_PCI_MSIX_OFF, data, len, is_write);
	} else if (within(off, len, VIRTIO_PCI_PBA_OFF, 0x1000)) {
		msix_pba_io(&vp->msix, off - VIRTIO_PCI_PBA_OFF, data, len, is_write);
	}
	pthread_mutex_unlock(&vp->lock);
}

/* ---- snapshot ---- */

void virtio_pci_quiesce(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	pthread_mutex_unlock(&vp->lock);
}

void virtio_pci_save(struct virtio_pci *vp, struct state_buf *b)
{
	pthread_mutex_lock(&vp->lock);
	sb_put_u32(b, SAVE_MAGIC);
	sb_put_u16(b, vp->ops->device_id);
	sb_put_u16(b, vp->ops->num_queues);
	sb_put_u64(b, vp->host_features);
	pci_device_save(&vp->pci, b);
	msix_save(&vp->msix, b);
	sb_put_u64(b, vp->guest_features);
	sb_put_u32(b, vp->dfselect);
	sb_put_u32(b, vp->gfselect);
	sb_put_u8(b, vp->status);
	sb_put_u8(b, vp->config_gen);
	sb_put_u8(b, vp->isr);
	sb_put_u16(b, vp->queue_sel);
	sb_put_u16(b, vp->config_vector);
	for (int q = 0; q < vp->ops->num_queues; q++) {
		sb_put_u16(b, vp->vq_vector[q]);
		vq_save(&vp->vq[q], b);
	}
	if (vp->ops->save)
		vp->ops->save(vp, b);
	pthread_mutex_unlock(&vp->lock);
}

static bool vector_ok(const struct virtio_pci *vp, uint16_t v)
{
	return v == MSIX_NO_VECTOR || v < vp->msix.nvec;
}

static int restore_locked(struct virtio_pci *vp, struct state_buf *b)
{
	if (sb_get_u32(b) != SAVE_MAGIC || sb_get_u16(b) != vp->ops->device_id ||
	    sb_get_u16(b) != vp->ops->num_queues ||
	    sb_get_u64(b) != vp->host_features || b->error)
		return -1;
	if (pci_device_restore(&vp->pci, b) < 0 || msix_restore(&vp->msix, b) < 0)
		return -1;
	struct virtio_pci t = *vp; /* scratch copy: commit only when all is valid */
	t.guest_features = sb_get_u64(b);
	t.dfselect = sb_get_u32(b);
	t.gfselect = sb_get_u32(b);
	t.status = sb_get_u8(b);
	t.config_gen = sb_get_u8(b);
	t.isr = sb_get_u8(b) & 3;
	t.queue_sel = sb_get_u16(b);
	t.config_vector = sb_get_u16(b);
	if (b->error || (t.guest_features & ~t.host_features) ||
	    !vector_ok(vp, t.config_vector))
		return -1;
	for (int q = 0; q < vp->ops->num_queues; q++) {
		t.vq_vector[q] = sb_get_u16(b);
		set_ring_features(&t, &t.vq[q]);
		if (b->error || !vector_ok(vp, t.vq_vector[q]) ||
		    vq_restore(&t.vq[q], b, vp->ops->max_queue_size) < 0)
			return -1;
	}
	vp->guest_features = t.guest_features;
	vp->dfselect = t.dfselect;
	vp->gfselect = t.gfselect;
	vp->status = t.status;
	vp->config_gen = t.config_gen;
	vp->isr = t.isr;
	vp->queue_sel = t.queue_sel;
	vp->config_vector = t.config_vector;
	memcpy(vp->vq, t.vq, sizeof(vp->vq));
	memcpy(vp->vq_vector, t.vq_vector, sizeof(vp->vq_vector));
	if (vp->ops->restore && vp->ops->restore(vp, b) < 0)
		return -1;
	msix_sync_cfg(&vp->msix);
	return 0;
}

int virtio_pci_restore(struct virtio_pci *vp, struct state_buf *b)
{
	pthread_mutex_lock(&vp->lock);
	int r = restore_locked(vp, b);
	pthread_mutex_unlock(&vp->lock);
	return r;
}
