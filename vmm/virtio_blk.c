/* virtio-blk over a raw image (virtio_blk.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "virtio_blk.h"

#define CONFIG_LEN 64
#define SECTOR 512ULL

struct blk_req_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static void config_read(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = vp->dev;
	uint8_t cfg[CONFIG_LEN] = { 0 };
	uint32_t seg_max = VIRTIO_BLK_QUEUE_SIZE - 2, blk_size = SECTOR;
	memcpy(cfg + 0, &b->capacity, 8);   /* capacity */
	memcpy(cfg + 12, &seg_max, 4);      /* seg_max */
	memcpy(cfg + 20, &blk_size, 4);     /* blk_size */
	memcpy(data, cfg + off, len);
}

/* preadv/pwritev until done; short transfers continue where they stopped. */
static int rw_full(int fd, struct iovec *iov, int n, uint64_t off, bool wr)
{
	while (n > 0) {
		ssize_t r = wr ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int disk_io(struct virtio_blk *b, int n, uint64_t off, bool wr)
{
	if (b->ovl)
		return ovl_rw(b->ovl, b->data, n, off, wr);
	return rw_full(b->fd, b->data, n, off, wr);
}

static bool in_range(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t n = (bytes + SECTOR - 1) / SECTOR;
	return sector <= b->capacity && n <= b->capacity - sector;
}

/* Serves one request; returns bytes written into its writable part. The
 * layout (header | data | status byte) is taken by byte offsets, not by
 * descriptor boundaries, as the spec asks. */
static uint32_t handle(struct virtio_pci *vp, struct vq_chain *c)
{
	struct virtio_blk *b = vp->dev;
	const struct iovec *r = c->iov, *w = c->iov + c->nr;
	if (c->w_len == 0)
		return 0; /* no room for a status byte: nothing to report */
	uint64_t din = c->w_len - 1;  /* data bytes the driver can receive */
	uint32_t written = 1;
	uint8_t status = VIRTIO_BLK_S_OK;
	struct blk_req_hdr h;
	if (iov_to_buf(r, c->nr, 0, &h, sizeof(h)) < sizeof(h)) {
		status = VIRTIO_BLK_S_IOERR;
		goto out;
	}
	switch (h.type) {
	case VIRTIO_BLK_T_IN: {
		if (!in_range(b, h.sector, din)) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		int n = iov_slice(w, c->nw, 0, din, b->data, VQ_MAX_IOV);
		if (disk_io(b, n, h.sector * SECTOR, false) < 0)
			status = VIRTIO_BLK_S_IOERR;
		else
			written += (uint32_t)din;
		break;
	}
	case VIRTIO_BLK_T_OUT: {
		uint64_t dout = c->r_len - sizeof(h);
		if (b->read_only || !in_range(b, h.sector, dout)) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		int n = iov_slice(r, c->nr, sizeof(h), dout, b->data, VQ_MAX_IOV);
		if (disk_io(b, n, h.sector * SECTOR, true) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (!b->read_only && !b->ovl && fdatasync(b->fd) < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = din < VIRTIO_BLK_ID_BYTES ? din : VIRTIO_BLK_ID_BYTES;
		written += (uint32_t)iov_from_buf(w, c->nw, 0, b->serial, n);
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
	}
out:
	iov_from_buf(w, c->nw, din, &status, 1);
	return written;
}

static void notify(struct virtio_pci *vp, uint16_t q)
{
	struct virtio_blk *b = vp->dev;
	virtio_pci_process(vp, q, &b->chain, handle);
}

static void save(struct virtio_pci *vp, struct state_buf *sb)
{
	struct virtio_blk *b = vp->dev;
	sb_put_u64(sb, b->capacity);
	sb_put_u8(sb, b->read_only);
}

static int restore(struct virtio_pci *vp, struct state_buf *sb)
{
	struct virtio_blk *b = vp->dev;
	uint64_t cap = sb_get_u64(sb);
	uint8_t ro = sb_get_u8(sb);
	return sb->error || cap != b->capacity || ro != b->read_only ? -1 : 0;
}

static const struct virtio_device_ops blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x010000, /* mass storage (as QEMU) */
	.num_queues = 1,
	.max_queue_size = VIRTIO_BLK_QUEUE_SIZE,
	.config_len = CONFIG_LEN,
	.config_read = config_read,
	.notify = notify,
	.save = save,
	.restore = restore,
};

static const char *open_hint(int e)
{
	switch (e) {
	case ENOENT: case ENOTDIR: return " — check the path given to --disk";
	case EACCES: case EPERM: case EROFS: return " — make it writable or attach it read-only";
	default: return "";
	}
}

struct virtio_blk *virtio_blk_create(const char *path, bool read_only,
				     struct guest_memory *gm,
				     const struct irq_sink *irq, char err[256])
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, 256, "disk %s: %s%s", path, strerror(e), open_hint(e));
		return NULL;
	}
	struct stat st;
	uint64_t size = 0;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (S_ISREG(st.st_mode))
		size = (uint64_t)st.st_size;
	else if (!S_ISBLK(st.st_mode) || ioctl(fd, BLKGETSIZE64, &size) < 0)
		why = "not a regular file or block device — give an image file to --disk";
	if (!why && size < SECTOR)
		why = "smaller than one 512-byte sector — is this the right image?";
	/* Two VMMs writing one disk would corrupt it. */
	if (!why && flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		why = "in use by another tabi — stop it first";
	struct virtio_blk *b = why ? NULL : calloc(1, sizeof(*b));
	if (!why && !b)
		why = "out of memory";
	if (why) {
		snprintf(err, 256, "disk %s: %s", path, why);
		close(fd);
		return NULL;
	}
	b->fd = fd;
	b->read_only = read_only;
	b->capacity = size / SECTOR;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	/* Zero-padded, unterminated at 20 bytes: as the spec wants. */
	size_t sl = strlen(base);
	memcpy(b->serial, base, sl < VIRTIO_BLK_ID_BYTES ? sl : VIRTIO_BLK_ID_BYTES);
	uint64_t feat = 1ULL << VIRTIO_RING_F_INDIRECT_DESC | 1ULL << VIRTIO_RING_F_EVENT_IDX |
			1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
			1ULL << VIRTIO_BLK_F_FLUSH;
	if (read_only)
		feat |= 1ULL << VIRTIO_BLK_F_RO;
	if (virtio_pci_init(&b->vp, &blk_ops, b, feat, gm, irq) < 0) {
		snprintf(err, 256, "disk %s: internal error setting up virtio-pci", path);
		close(fd);
		free(b);
		return NULL;
	}
	return b;
}

void virtio_blk_set_overlay(struct virtio_blk *b, struct disk_overlay *ovl)
{
	b->ovl = ovl;
}

int virtio_blk_fd(const struct virtio_blk *b)
{
	return b->fd;
}

uint64_t virtio_blk_size(const struct virtio_blk *b)
{
	return b->capacity * SECTOR;
}

int virtio_blk_attach(struct virtio_blk *b, struct pci_bus *bus)
{
	return virtio_pci_attach(&b->vp, bus) < 0 ? -1 : 0;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_pci_destroy(&b->vp);
	close(b->fd);
	free(b);
}

void virtio_blk_quiesce(struct virtio_blk *b)
{
	virtio_pci_quiesce(&b->vp);
}

int virtio_blk_flush(struct virtio_blk *b)
{
	return b->read_only ? 0 : fdatasync(b->fd);
}

void virtio_blk_save(struct virtio_blk *b, struct state_buf *sb)
{
	virtio_pci_save(&b->vp, sb);
}

int virtio_blk_restore(struct virtio_blk *b, struct state_buf *sb)
{
	return virtio_pci_restore(&b->vp, sb);
}
