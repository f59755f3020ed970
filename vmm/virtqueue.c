/* Split virtqueue, device side (virtqueue.h). vCPUs run while we read the
 * rings, so indices use acquire/release atomics and descriptors are copied
 * to the stack before they are checked and used (no double fetch). */
#include <string.h>
#include "virtqueue.h"

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static uint64_t avail_bytes(uint16_t size) { return 6 + 2ULL * size; }
static uint64_t used_bytes(uint16_t size) { return 6 + 8ULL * size; }

void vq_reset(struct virtqueue *vq, struct guest_memory *gm, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->gm = gm;
	vq->size = max_size;
}

static bool layout_ok(const struct virtqueue *vq, uint16_t max_size)
{
	uint16_t n = vq->size;
	if (n == 0 || n > max_size || (n & (n - 1)))
		return false;
	/* Alignment from the spec; also makes the atomic u16 accesses legal. */
	if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3))
		return false;
	return gm_ptr(vq->gm, vq->desc, 16ULL * n) &&
	       gm_ptr(vq->gm, vq->avail, avail_bytes(n)) &&
	       gm_ptr(vq->gm, vq->used, used_bytes(n));
}

int vq_enable(struct virtqueue *vq, uint16_t max_size)
{
	if (!layout_ok(vq, max_size))
		return -1;
	vq->ready = true;
	vq->broken = false;
	vq->last_avail = vq->used_idx = 0;
	vq->signalled_valid = false;
	return 0;
}

static int fail(struct virtqueue *vq)
{
	vq->broken = true;
	return -1;
}

/* Ring field pointers, re-checked on every use: guest RAM does not move, but
 * the check is cheap and keeps every access provably inside RAM. */
static uint16_t *avail_field(struct virtqueue *vq, uint64_t off)
{
	if (off + 2 > avail_bytes(vq->size))
		return NULL;
	return gm_ptr(vq->gm, vq->avail + off, 2);
}

static bool read_desc(struct virtqueue *vq, uint64_t table, uint32_t i,
		      struct vring_desc *d)
{
	const void *p = gm_ptr(vq->gm, table + 16ULL * i, 16);
	if (!p)
		return false;
	memcpy(d, p, sizeof(*d));
	return true;
}

static bool add_buf(struct virtqueue *vq, struct vq_chain *c,
		    const struct vring_desc *d)
{
	bool wr = d->flags & VIRTQ_DESC_F_WRITE;
	if (!wr && c->nw)
		return false; /* readable after writable is a spec violation */
	if ((uint64_t)d->len > VQ_MAX_CHAIN_BYTES - c->r_len - c->w_len)
		return false;
	if (d->len == 0)
		return true;
	if (c->nr + c->nw >= VQ_MAX_IOV)
		return false;
	void *p = wr ? gm_ptr_write(vq->gm, d->addr, d->len)
		     : gm_ptr(vq->gm, d->addr, d->len);
	if (!p)
		return false;
	c->iov[c->nr + c->nw] = (struct iovec){ p, d->len };
	if (wr) {
		c->nw++;
		c->w_len += d->len;
	} else {
		c->nr++;
		c->r_len += d->len;
	}
	return true;
}

/* Walks the chain at head. Loops are caught by counting: a chain can visit
 * at most as many descriptors as its table holds. */
static bool walk(struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	uint64_t table = vq->desc;
	uint32_t tsize = vq->size, idx = head, count = 0;
	bool in_indirect = false;
	c->head = head;
	c->nr = c->nw = 0;
	c->r_len = c->w_len = 0;
	for (;;) {
		struct vring_desc d;
		if (count++ >= tsize || !read_desc(vq, table, idx, &d))
			return false;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* Only the head of the main table may point to a table,
			 * and that table may not nest another (spec 2.7.5.3). */
			if (!vq->indirect || in_indirect || count != 1 ||
			    (d.flags & VIRTQ_DESC_F_NEXT) || d.len == 0 ||
			    d.len % 16 || d.len / 16 > VQ_MAX_INDIRECT ||
			    !gm_ptr(vq->gm, d.addr, d.len))
				return false;
			table = d.addr;
			tsize = d.len / 16;
			idx = 0;
			count = 0;
			in_indirect = true;
			continue;
		}
		if (!add_buf(vq, c, &d))
			return false;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return true;
		idx = d.next;
		if (idx >= tsize)
			return false;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
	if (vq->broken)
		return -1;
	if (!vq->ready)
		return 0;
	uint16_t *idxp = avail_field(vq, 2);
	if (!idxp)
		return fail(vq);
	uint16_t avail = __atomic_load_n(idxp, __ATOMIC_ACQUIRE);
	if (avail == vq->last_avail && vq->event_idx) {
		/* Ask to be kicked for the next entry, then look again: the
		 * driver may have added one before it saw avail_event. */
		uint16_t *ev = gm_ptr_write(vq->gm, vq->used + 4 + 8ULL * vq->size, 2);
		if (!ev)
			return fail(vq);
		__atomic_store_n(ev, vq->last_avail, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail = __atomic_load_n(idxp, __ATOMIC_ACQUIRE);
	}
	uint16_t pending = (uint16_t)(avail - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return fail(vq); /* avail idx jumped further than the ring */
	uint16_t *slot = avail_field(vq, 4 + 2ULL * (vq->last_avail % vq->size));
	if (!slot)
		return fail(vq);
	uint16_t head = __atomic_load_n(slot, __ATOMIC_RELAXED);
	if (head >= vq->size || !walk(vq, head, c))
		return fail(vq);
	vq->last_avail++;
	return 1;
}

int vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	if (!vq->ready)
		return -1;
	uint8_t *u = gm_ptr_write(vq->gm, vq->used, used_bytes(vq->size));
	if (!u)
		return fail(vq);
	uint32_t elem[2] = { head, written };
	memcpy(u + 4 + 8 * (vq->used_idx % vq->size), elem, 8);
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)(u + 2), vq->used_idx, __ATOMIC_RELEASE);
	return 0;
}

bool vq_should_notify(struct virtqueue *vq)
{
	if (!vq->ready)
		return false;
	/* Order our used idx store before reading the driver's suppression
	 * state (the driver does the mirror image). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t old = vq->signalled_used, new = vq->used_idx;
		bool valid = vq->signalled_valid;
		vq->signalled_used = new;
		vq->signalled_valid = true;
		uint16_t *evp = avail_field(vq, 4 + 2ULL * vq->size);
		if (!valid || !evp)
			return true;
		uint16_t ev = __atomic_load_n(evp, __ATOMIC_RELAXED);
		/* vring_need_event: did new pass ev since old? */
		return (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
	}
	uint16_t *flags = avail_field(vq, 0);
	if (!flags)
		return true;
	return !(__atomic_load_n(flags, __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

void vq_save(const struct virtqueue *vq, struct state_buf *b)
{
	sb_put_u16(b, vq->size);
	sb_put_u8(b, (uint8_t)(vq->ready | vq->broken << 1 | vq->signalled_valid << 2));
	sb_put_u64(b, vq->desc);
	sb_put_u64(b, vq->avail);
	sb_put_u64(b, vq->used);
	sb_put_u16(b, vq->last_avail);
	sb_put_u16(b, vq->used_idx);
	sb_put_u16(b, vq->signalled_used);
}

int vq_restore(struct virtqueue *vq, struct state_buf *b, uint16_t max_size)
{
	struct virtqueue t = { .gm = vq->gm };
	t.size = sb_get_u16(b);
	uint8_t fl = sb_get_u8(b);
	t.ready = fl & 1;
	t.broken = fl & 2;
	t.signalled_valid = fl & 4;
	t.desc = sb_get_u64(b);
	t.avail = sb_get_u64(b);
	t.used = sb_get_u64(b);
	t.last_avail = sb_get_u16(b);
	t.used_idx = sb_get_u16(b);
	t.signalled_used = sb_get_u16(b);
	if (b->error || (fl & ~7) || t.size > max_size)
		return -1;
	if (t.ready && !layout_ok(&t, max_size))
		return -1;
	t.event_idx = vq->event_idx;
	t.indirect = vq->indirect;
	*vq = t;
	return 0;
}

/* Copies between an iovec (from byte skip on) and a flat buffer. */
static size_t iov_copy(const struct iovec *iov, int n, size_t skip, uint8_t *buf,
		       size_t len, bool to_buf)
{
	size_t done = 0;
	for (int i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - skip;
		if (k > len - done)
			k = len - done;
		uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
		if (to_buf)
			memcpy(buf + done, p, k);
		else
			memcpy(p, buf + done, k);
		done += k;
		skip = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, int n, size_t skip, void *buf, size_t len)
{
	return iov_copy(iov, n, skip, buf, len, true);
}

size_t iov_from_buf(const struct iovec *iov, int n, size_t skip, const void *buf, size_t len)
{
	return iov_copy(iov, n, skip, (uint8_t *)buf, len, false);
}

int iov_slice(const struct iovec *iov, int n, size_t skip, size_t len,
	      struct iovec *out, int max_out)
{
	int m = 0;
	for (int i = 0; i < n && len && m < max_out; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - skip;
		if (k > len)
			k = len;
		out[m++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, k };
		len -= k;
		skip = 0;
	}
	return m;
}
