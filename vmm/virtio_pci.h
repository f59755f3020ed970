/* Modern virtio-pci transport (virtio 1.x, section 4.1), no legacy interface.
 * One 64-bit memory BAR 0 holds the common config, ISR, device config,
 * notify area and the MSI-X table and PBA, each described by a vendor
 * capability. Interrupts are MSI-X only (interrupt pin 0).
 *
 * Locking: every BAR access and config-space hook takes vp->lock, so device
 * callbacks (config_read/write, notify, reset, save/restore) run with it held
 * and never concurrently. Queue processing happens inside notify, on the
 * vCPU thread that kicked: when all vCPUs are stopped no request is in
 * flight. An I/O thread could instead take vp->lock and call the same code. */
#ifndef TABI_VIRTIO_PCI_H
#define TABI_VIRTIO_PCI_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "guest_memory.h"
#include "irq.h"
#include "msix.h"
#include "pci.h"
#include "state_buf.h"
#include "virtqueue.h"

#define VIRTIO_PCI_MAX_QUEUES 8

/* Device status bits (spec 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* BAR 0 layout. */
#define VIRTIO_PCI_BAR_SIZE    0x8000
#define VIRTIO_PCI_COMMON_OFF  0x0000
#define VIRTIO_PCI_COMMON_LEN  0x38
#define VIRTIO_PCI_ISR_OFF     0x1000
#define VIRTIO_PCI_DEVCFG_OFF  0x2000
#define VIRTIO_PCI_DEVCFG_MAX  0x1000
#define VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_OFF    0x4000
#define VIRTIO_PCI_PBA_OFF     0x5000

/* Common configuration register offsets (struct virtio_pci_common_cfg). */
#define VIRTIO_PCI_DFSELECT    0x00
#define VIRTIO_PCI_DF          0x04
#define VIRTIO_PCI_GFSELECT    0x08
#define VIRTIO_PCI_GF          0x0C
#define VIRTIO_PCI_MSIX_CONFIG 0x10
#define VIRTIO_PCI_NUM_QUEUES  0x12
#define VIRTIO_PCI_STATUS      0x14
#define VIRTIO_PCI_CFG_GEN     0x15
#define VIRTIO_PCI_Q_SELECT    0x16
#define VIRTIO_PCI_Q_SIZE      0x18
#define VIRTIO_PCI_Q_MSIX      0x1A
#define VIRTIO_PCI_Q_ENABLE    0x1C
#define VIRTIO_PCI_Q_NOFF      0x1E
#define VIRTIO_PCI_Q_DESC      0x20
#define VIRTIO_PCI_Q_AVAIL     0x28
#define VIRTIO_PCI_Q_USED      0x30

struct virtio_pci;

/* What a device model supplies. All callbacks run under vp->lock. */
struct virtio_device_ops {
	uint16_t device_id;        /* virtio device type: 2 blk, 4 rng */
	uint32_t pci_class;        /* 24-bit class code */
	uint16_t num_queues;       /* <= VIRTIO_PCI_MAX_QUEUES */
	uint16_t max_queue_size;   /* power of two */
	uint32_t config_len;       /* bytes of device config; 0 = none */
	/* Device config access, [off, off+len) already inside config_len. */
	void (*config_read)(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_pci *vp, uint32_t off, const uint8_t *data, uint32_t len);
	/* Driver kicked queue q (enabled, not broken, DRIVER_OK set). */
	void (*notify)(struct virtio_pci *vp, uint16_t q);
	void (*reset)(struct virtio_pci *vp);                  /* may be NULL */
	void (*save)(struct virtio_pci *vp, struct state_buf *b);    /* may be NULL */
	int (*restore)(struct virtio_pci *vp, struct state_buf *b);  /* may be NULL */
};

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	const struct virtio_device_ops *ops;
	void *dev;                 /* the device model (container) */
	struct guest_memory *gm;
	pthread_mutex_t lock;
	uint64_t host_features, guest_features;
	uint32_t dfselect, gfselect;
	uint8_t status, config_gen, isr;
	uint16_t queue_sel, config_vector;
	struct virtqueue vq[VIRTIO_PCI_MAX_QUEUES];
	uint16_t vq_vector[VIRTIO_PCI_MAX_QUEUES];
};

/* Fills in config space, capabilities and BAR 0. features: what the device
 * offers (VIRTIO_F_VERSION_1 is always added). -1 on a bad ops table. */
int virtio_pci_init(struct virtio_pci *vp, const struct virtio_device_ops *ops,
		    void *dev, uint64_t features, struct guest_memory *gm,
		    const struct irq_sink *irq);
void virtio_pci_destroy(struct virtio_pci *vp);
/* Places the function on the bus (a slot, BAR address). Slot or -1. */
int virtio_pci_attach(struct virtio_pci *vp, struct pci_bus *bus);
/* BAR 0 handler (registered by init; exposed for tests). */
void virtio_pci_bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* For device models, under vp->lock: */
/* After pushing to queue q: interrupts the driver if it asked for one. */
void virtio_pci_queue_done(struct virtio_pci *vp, uint16_t q);
/* A queue or request was malformed: set DEVICE_NEEDS_RESET and raise a
 * configuration-change interrupt (spec 2.1.2). */
void virtio_pci_set_needs_reset(struct virtio_pci *vp);
/* Device config changed (e.g. capacity): bump generation, interrupt. */
void virtio_pci_config_changed(struct virtio_pci *vp);
/* Runs the queue loop for q: pops every chain, calls fn for it, pushes the
 * byte count fn returns, interrupts as the driver asked; a broken queue
 * marks the device as needing reset. */
void virtio_pci_process(struct virtio_pci *vp, uint16_t q, struct vq_chain *c,
			uint32_t (*fn)(struct virtio_pci *vp, struct vq_chain *c));

/* Waits until no handler runs (processing is synchronous: nothing else
 * is ever in flight). Call with vCPUs stopped, before saving. */
void virtio_pci_quiesce(struct virtio_pci *vp);
/* Transport + MSI-X + PCI config + device state (ops->save). */
void virtio_pci_save(struct virtio_pci *vp, struct state_buf *b);
/* -1 on malformed or mismatching state (another device type, other
 * features offered, bad queue layout). */
int virtio_pci_restore(struct virtio_pci *vp, struct state_buf *b);
#endif
