/* libFuzzer: guest memory contents and queue parameters from the input; the
 * descriptor walker, the virtio-blk request path (on a memfd disk) and the
 * virtio-rng path must never crash or touch memory outside guest RAM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../unit/virtio_driver.h"
#include "virtio_blk.h"
#include "virtio_rng.h"

#define FZ_MEM (64 * 1024)

static struct guest_memory gm;
static struct rec_irq rec;
static const struct irq_sink sink = { rec_msi, rec_line, &rec };
static struct virtio_blk *blk;
static struct virtio_rng *rng;
static struct vq_chain chain;
static volatile uint8_t sink_byte;

static void init_once(void)
{
	tmem_init(&gm, FZ_MEM);
	int fd = memfd_create("fuzzdisk", 0);
	if (fd < 0 || ftruncate(fd, 32 * 1024) < 0)
		abort();
	char path[64], err[256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	blk = virtio_blk_create(path, false, &gm, &sink, err);
	rng = virtio_rng_create(&gm, &sink);
	if (!blk || !rng)
		abort();
}

struct params {
	uint8_t mode;         /* 0: raw walker, 1: blk, 2: rng */
	uint8_t size_log2;    /* queue size 1 << (x % 9) */
	uint8_t flags;        /* bit 0 indirect, bit 1 event idx */
	uint8_t kicks;
	uint16_t desc, avail, used;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!blk)
		init_once();
	struct params p;
	if (size < sizeof(p))
		return 0;
	memcpy(&p, data, sizeof(p));
	data += sizeof(p);
	size -= sizeof(p);
	memset(gm.host, 0, FZ_MEM);
	memcpy(gm.host, data, size < FZ_MEM ? size : FZ_MEM);
	uint16_t qsize = (uint16_t)(1u << (p.size_log2 % 9));
	/* Ring addresses anywhere in (or just past) RAM, aligned or not. */
	struct tring t = { &gm, qsize, 0, p.desc * 2ULL, p.avail * 2ULL, p.used * 2ULL };
	uint64_t feat = 1ULL << VIRTIO_F_VERSION_1 |
			(uint64_t)(p.flags & 1) << VIRTIO_RING_F_INDIRECT_DESC |
			(uint64_t)(p.flags >> 1 & 1) << VIRTIO_RING_F_EVENT_IDX;
	int kicks = 1 + p.kicks % 4;
	if (p.mode % 3 == 0) {
		struct virtqueue vq;
		vq_reset(&vq, &gm, 256);
		vq.size = qsize;
		vq.desc = t.desc;
		vq.avail = t.avail;
		vq.used = t.used;
		vq.indirect = p.flags & 1;
		vq.event_idx = p.flags >> 1 & 1;
		if (vq_enable(&vq, 256) < 0)
			return 0;
		for (int i = 0; i < 4 * kicks; i++) {
			int r = vq_pop(&vq, &chain);
			if (r <= 0)
				break;
			/* Touch every byte the walker vouched for. */
			uint8_t sum = 0;
			for (int k = 0; k < chain.nr + chain.nw; k++)
				for (size_t j = 0; j < chain.iov[k].iov_len; j++)
					sum ^= ((uint8_t *)chain.iov[k].iov_base)[j];
			sink_byte = sum;
			if (chain.nw)
				memset(chain.iov[chain.nr].iov_base, 0xaa, chain.iov[chain.nr].iov_len);
			vq_push(&vq, chain.head, (uint32_t)chain.w_len);
			vq_should_notify(&vq);
		}
		return 0;
	}
	struct virtio_pci *vp = p.mode % 3 == 1 ? &blk->vp : &rng->vp;
	/* Bring-up resets the device, so each input starts clean. */
	if (drv_bringup(vp, &t, feat & (vp->host_features | 1ULL << VIRTIO_F_VERSION_1)) < 0)
		return 0;
	for (int i = 0; i < kicks; i++)
		drv_notify(vp, 0);
	return 0;
}
