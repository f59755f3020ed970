/* virtio-rng (virtio_rng.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif
#include "virtio_rng.h"

/* Non-blocking: early in the host's boot the pool may not be ready, and a
 * vCPU must not sleep on it; the guest just asks again. */
static uint32_t handle(struct virtio_pci *vp, struct vq_chain *c)
{
	(void)vp;
	uint32_t done = 0;
	for (int i = c->nr; i < c->nr + c->nw && done < VIRTIO_RNG_MAX_REQ; i++) {
		size_t want = c->iov[i].iov_len, got = 0;
		if (want > VIRTIO_RNG_MAX_REQ - done)
			want = VIRTIO_RNG_MAX_REQ - done;
		while (got < want) {
			ssize_t n = getrandom((uint8_t *)c->iov[i].iov_base + got,
					      want - got, GRND_NONBLOCK);
			/* Early in the host's boot its pool may not be ready;
			 * the guest waits for an answer, so give it the
			 * host's best effort rather than nothing. */
			if (n < 0 && errno == EAGAIN)
				n = getrandom((uint8_t *)c->iov[i].iov_base + got,
					      want - got, GRND_INSECURE);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done + (uint32_t)got;
			got += (size_t)n;
		}
		done += (uint32_t)got;
	}
	return done;
}

static void notify(struct virtio_pci *vp, uint16_t q)
{
	struct virtio_rng *r = vp->dev;
	virtio_pci_process(vp, q, &r->chain, handle);
}

static const struct virtio_device_ops rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0xff0000, /* unclassified device */
	.num_queues = 1,
	.max_queue_size = VIRTIO_RNG_QUEUE_SIZE,
	.notify = notify,
};

struct virtio_rng *virtio_rng_create(struct guest_memory *gm, const struct irq_sink *irq)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	uint64_t feat = 1ULL << VIRTIO_RING_F_INDIRECT_DESC | 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (virtio_pci_init(&r->vp, &rng_ops, r, feat, gm, irq) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

int virtio_rng_attach(struct virtio_rng *r, struct pci_bus *bus)
{
	return virtio_pci_attach(&r->vp, bus) < 0 ? -1 : 0;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_pci_destroy(&r->vp);
	free(r);
}

void virtio_rng_quiesce(struct virtio_rng *r) { virtio_pci_quiesce(&r->vp); }
void virtio_rng_save(struct virtio_rng *r, struct state_buf *sb) { virtio_pci_save(&r->vp, sb); }
int virtio_rng_restore(struct virtio_rng *r, struct state_buf *sb) { return virtio_pci_restore(&r->vp, sb); }
