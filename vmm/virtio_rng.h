/* virtio-rng (virtio 1.x, section 5.4): fills the guest's buffers from
 * getrandom(2). */
#ifndef TABI_VIRTIO_RNG_H
#define TABI_VIRTIO_RNG_H
#include "virtio_pci.h"

#define VIRTIO_ID_RNG 4
#define VIRTIO_RNG_QUEUE_SIZE 64
#define VIRTIO_RNG_MAX_REQ 65536   /* bytes served per request */

struct virtio_rng {
	struct virtio_pci vp;
	struct vq_chain chain;
};

/* NULL only when out of memory. */
struct virtio_rng *virtio_rng_create(struct guest_memory *gm, const struct irq_sink *irq);
int virtio_rng_attach(struct virtio_rng *r, struct pci_bus *bus); /* 0 or -1 */
void virtio_rng_destroy(struct virtio_rng *r);
void virtio_rng_quiesce(struct virtio_rng *r);
void virtio_rng_save(struct virtio_rng *r, struct state_buf *sb);
int virtio_rng_restore(struct virtio_rng *r, struct state_buf *sb);
#endif
