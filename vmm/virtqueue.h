/* Split virtqueues (virtio 1.x, section 2.7) seen from the device side.
 * The guest owns the rings and may change them at any moment, maliciously:
 * every ring and buffer address goes through gm_ptr on each use, every
 * descriptor is copied once before it is trusted, and any malformed chain
 * makes the queue "broken" (vq_pop returns -1 from then on). */
#ifndef TABI_VIRTQUEUE_H
#define TABI_VIRTQUEUE_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include "guest_memory.h"
#include "state_buf.h"

/* Feature bits that concern the ring itself. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

#define VQ_MAX_SIZE   32768         /* spec maximum queue size */
#define VQ_MAX_IOV    1024          /* = IOV_MAX, so preadv takes a whole chain */
#define VQ_MAX_INDIRECT 1024        /* entries in one indirect table */
#define VQ_MAX_CHAIN_BYTES (1ULL << 30) /* sum of buffer lengths in one chain */

struct virtqueue {
	struct guest_memory *gm;
	uint16_t size;          /* as written by the driver; valid when ready */
	bool ready;             /* queue_enable was accepted */
	bool broken;            /* malformed ring seen: process nothing more */
	bool event_idx;         /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;          /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint64_t desc, avail, used;     /* guest physical ring addresses */
	uint16_t last_avail;    /* next avail ring entry the device consumes */
	uint16_t used_idx;      /* device's copy of used->idx */
	uint16_t signalled_used;/* used_idx when the guest was last interrupted */
	bool signalled_valid;   /* signalled_used means something */
};

/* One popped request: readable buffers first (nr of them), then writable
 * ones (nw). Pointers are host addresses inside guest RAM, already checked. */
struct vq_chain {
	uint16_t head;
	uint16_t nr, nw;
	uint64_t r_len, w_len;  /* total readable / writable bytes */
	struct iovec iov[VQ_MAX_IOV];
};

/* Device reset: forget rings and indices; size returns to max_size. */
void vq_reset(struct virtqueue *vq, struct guest_memory *gm, uint16_t max_size);
/* queue_enable: checks size (power of two, <= max) and ring placement
 * (aligned, inside RAM). 0 and ready, or -1 and left disabled. */
int vq_enable(struct virtqueue *vq, uint16_t max_size);
/* 1: a chain was popped into *c; 0: nothing available; -1: queue broken
 * (bad ring, bad chain; vq->broken is set and stays set). */
int vq_pop(struct virtqueue *vq, struct vq_chain *c);
/* Returns the chain `head` with `written` bytes written to its writable part.
 * 0, or -1 when the used ring is outside RAM (queue marked broken). */
int vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* After pushes: whether the driver wants an interrupt (event idx or the
 * NO_INTERRUPT flag). Records the used index as signalled. */
bool vq_should_notify(struct virtqueue *vq);

/* Snapshot of the device-side ring state (addresses, indices). */
void vq_save(const struct virtqueue *vq, struct state_buf *b);
/* -1 on malformed state (size, alignment, placement). Feature flags
 * (event_idx, indirect) are set by the caller from negotiated features. */
int vq_restore(struct virtqueue *vq, struct state_buf *b, uint16_t max_size);

/* Helpers over iovec arrays, used by devices to parse requests. */
/* Copies up to len bytes starting `skip` bytes into iov; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, int n, size_t skip, void *buf, size_t len);
/* Copies up to len bytes into iov starting `skip` bytes in; returns bytes. */
size_t iov_from_buf(const struct iovec *iov, int n, size_t skip, const void *buf, size_t len);
/* Makes out[] describe the bytes [skip, skip+len) of iov; returns its count. */
int iov_slice(const struct iovec *iov, int n, size_t skip, size_t len,
	      struct iovec *out, int max_out);
#endif
