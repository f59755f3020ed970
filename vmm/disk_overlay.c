/* Disk overlay (disk_overlay.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "disk_overlay.h"
#include "virtqueue.h"

static bool bit(const uint64_t *m, uint64_t c) { return m[c / 64] >> (c % 64) & 1; }
static void set_bit(uint64_t *m, uint64_t c) { m[c / 64] |= 1ULL << (c % 64); }

static int full_io(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t r = write ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			if (write) {
				errno = EIO;
				return -1;
			}
			memset(p, 0, len);  /* past the end of a short base file */
			return 0;
		}
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

struct disk_overlay *ovl_open(int base_fd, uint64_t size, const char *scratch_dir,
			      char err[256])
{
	struct disk_overlay *o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, 256, "out of memory for a disk overlay");
		return NULL;
	}
	o->base_fd = base_fd;
	o->size = size;
	o->nclusters = (size + OVL_CLUSTER - 1) / OVL_CLUSTER;
	size_t words = (size_t)(o->nclusters + 63) / 64;
	o->present = calloc(words ? words : 1, 8);
	o->fresh = calloc(words ? words : 1, 8);
	o->bounce = malloc(OVL_CLUSTER);
	/* Unlinked from the start: a pulled stick leaves nothing behind. */
	o->ovl_fd = open(scratch_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (o->ovl_fd < 0) {
		char tmpl[4200];
		snprintf(tmpl, sizeof(tmpl), "%s/.overlay-XXXXXX", scratch_dir);
		o->ovl_fd = mkostemp(tmpl, O_CLOEXEC);
		if (o->ovl_fd >= 0)
			unlink(tmpl);
	}
	if (o->ovl_fd < 0 || !o->present || !o->fresh || !o->bounce) {
		snprintf(err, 256, "cannot create the disk overlay in %s: %s — check the "
			 "session directory is writable", scratch_dir, strerror(errno));
		ovl_close(o);
		return NULL;
	}
	return o;
}

void ovl_close(struct disk_overlay *o)
{
	if (!o)
		return;
	if (o->ovl_fd >= 0)
		close(o->ovl_fd);
	free(o->present);
	free(o->fresh);
	free(o->bounce);
	free(o);
}

uint32_t ovl_cluster_len(const struct disk_overlay *o, uint64_t c)
{
	uint64_t start = c * OVL_CLUSTER;
	return (uint32_t)(o->size - start < OVL_CLUSTER ? o->size - start : OVL_CLUSTER);
}

int ovl_read_cluster(struct disk_overlay *o, uint64_t c, void *buf)
{
	uint32_t len = ovl_cluster_len(o, c);
	memset((uint8_t *)buf + len, 0, OVL_CLUSTER - len);
	int fd = bit(o->present, c) ? o->ovl_fd : o->base_fd;
	return full_io(fd, buf, len, c * OVL_CLUSTER, false);
}

int ovl_load_cluster(struct disk_overlay *o, uint64_t c, const void *buf)
{
	if (c >= o->nclusters)
		return -1;
	if (full_io(o->ovl_fd, (void *)buf, ovl_cluster_len(o, c), c * OVL_CLUSTER, true) < 0)
		return -1;
	set_bit(o->present, c);
	return 0;
}

int ovl_rw(struct disk_overlay *o, const struct iovec *iov, int n, uint64_t off,
	   bool write)
{
	uint64_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (off > o->size || total > o->size - off) {
		errno = EINVAL;
		return -1;
	}
	uint64_t done = 0;
	while (done < total) {
		uint64_t pos = off + done, c = pos / OVL_CLUSTER;
		uint32_t in = (uint32_t)(pos % OVL_CLUSTER);
		size_t k = OVL_CLUSTER - in;
		if (k > total - done)
			k = (size_t)(total - done);
		if (!write) {
			int fd = bit(o->present, c) ? o->ovl_fd : o->base_fd;
			if (full_io(fd, o->bounce, k, pos, false) < 0)
				return -1;
			iov_from_buf(iov, n, done, o->bounce, k);
		} else {
			/* First write to a cluster copies the rest of it up. */
			if (!bit(o->present, c) && k < ovl_cluster_len(o, c)) {
				if (ovl_read_cluster(o, c, o->bounce) < 0 ||
				    full_io(o->ovl_fd, o->bounce, ovl_cluster_len(o, c),
					    c * OVL_CLUSTER, true) < 0)
					return -1;
			}
			iov_to_buf(iov, n, done, o->bounce, k);
			if (full_io(o->ovl_fd, o->bounce, k, pos, true) < 0)
				return -1;
			set_bit(o->present, c);
			set_bit(o->fresh, c);
		}
		done += k;
	}
	return 0;
}

bool ovl_is_fresh(const struct disk_overlay *o, uint64_t c)
{
	return c < o->nclusters && bit(o->fresh, c);
}

uint64_t ovl_fresh_count(const struct disk_overlay *o)
{
	uint64_t n = 0;
	for (uint64_t w = 0; w < (o->nclusters + 63) / 64; w++)
		n += (uint64_t)__builtin_popcountll(o->fresh[w]);
	return n;
}

void ovl_clear_fresh(struct disk_overlay *o)
{
	memset(o->fresh, 0, (size_t)((o->nclusters + 63) / 64) * 8);
}

int ovl_fold_into_base(struct disk_overlay *o)
{
	for (uint64_t c = 0; c < o->nclusters; c++) {
		if (!bit(o->present, c))
			continue;
		uint32_t len = ovl_cluster_len(o, c);
		if (full_io(o->ovl_fd, o->bounce, len, c * OVL_CLUSTER, false) < 0 ||
		    full_io(o->base_fd, o->bounce, len, c * OVL_CLUSTER, true) < 0)
			return -1;
	}
	return fdatasync(o->base_fd);
}
