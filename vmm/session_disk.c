/* Disk deltas (session_disk.h). Per writable disk K a generation holds:
 *   section "disk.K.map"    u32 cluster size, u64 disk bytes, u64 count,
 *                           count x u64 cluster numbers (ascending)
 *   images  "disk.K.data.J" clusters J*BATCH.. of the map, each padded to
 *                           the cluster size */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "session.h"
#include "session_disk.h"
#include "state_buf.h"
#include "virtio_blk.h"
#include "vm.h"

#define BATCH 256  /* clusters per data image: 16 MiB */

uint64_t session_disk_fresh_bytes(struct vm *vm)
{
	uint64_t n = 0;
	for (int k = 0; k < vm->cfg.ndisks; k++)
		if (vm->ovl[k])
			n += ovl_fresh_count(vm->ovl[k]) * OVL_CLUSTER;
	return n;
}

int session_disk_save(struct vm *vm, struct snap_writer *w, char err[512])
{
	uint8_t *buf = malloc((size_t)BATCH * OVL_CLUSTER);
	if (!buf) {
		snprintf(err, 512, "out of memory saving disk changes");
		return -1;
	}
	for (int k = 0; k < vm->cfg.ndisks; k++) {
		struct disk_overlay *o = vm->ovl[k];
		if (!o)
			continue;
		struct state_buf map;
		sb_init(&map);
		sb_put_u32(&map, OVL_CLUSTER);
		sb_put_u64(&map, o->size);
		sb_put_u64(&map, ovl_fresh_count(o));
		for (uint64_t c = 0; c < o->nclusters; c++)
			if (ovl_is_fresh(o, c))
				sb_put_u64(&map, c);
		char name[64];
		snprintf(name, sizeof(name), "disk.%d.map", k);
		if (map.error || snap_put_section(w, name, map.data, map.len) < 0) {
			sb_free(&map);
			goto fail;
		}
		sb_free(&map);
		uint64_t in_batch = 0, batch = 0;
		for (uint64_t c = 0; c <= o->nclusters; c++) {
			bool last = c == o->nclusters;
			if (!last && ovl_is_fresh(o, c)) {
				if (ovl_read_cluster(o, c, buf + in_batch * OVL_CLUSTER) < 0)
					goto fail;
				in_batch++;
			}
			if (in_batch == BATCH || (last && in_batch)) {
				snprintf(name, sizeof(name), "disk.%d.data.%llu", k,
					 (unsigned long long)batch++);
				if (snap_put_memory(w, name, buf, in_batch * OVL_CLUSTER, 0,
						    NULL, NULL) < 0)
					goto fail;
				in_batch = 0;
			}
		}
	}
	free(buf);
	return 0;
fail:
	snprintf(err, 512, "saving the disk changes failed: %s — check the stick "
		 "has room and is still attached", strerror(errno));
	free(buf);
	return -1;
}

/* Walks disk k's delta in r, calling put for each cluster. */
typedef int (*put_fn)(void *ctx, uint64_t c, const uint8_t *data, uint64_t disk_bytes);

static int walk_delta(struct snap_reader *r, int k, put_fn put, void *ctx,
		      char err[512])
{
	char name[64];
	size_t len;
	snprintf(name, sizeof(name), "disk.%d.map", k);
	const void *m = snap_get_section(r, name, &len);
	if (!m)
		return 0;  /* read-only disk, or a generation without changes */
	struct state_buf map;
	sb_reader(&map, m, len);
	uint32_t cs = sb_get_u32(&map);
	uint64_t disk_bytes = sb_get_u64(&map), count = sb_get_u64(&map);
	if (map.error || cs != OVL_CLUSTER || count > (len - 20) / 8) {
		snprintf(err, 512, "the saved changes of disk %d are malformed", k);
		return -1;
	}
	uint8_t *buf = malloc((size_t)BATCH * OVL_CLUSTER);
	char serr[SNAP_ERR_LEN];
	if (!buf)
		return -1;
	for (uint64_t i = 0; i < count; i += BATCH) {
		uint64_t n = count - i < BATCH ? count - i : BATCH;
		snprintf(name, sizeof(name), "disk.%d.data.%llu", k, (unsigned long long)(i / BATCH));
		if (snap_memory_len(r, name) != (int64_t)(n * OVL_CLUSTER) ||
		    snap_get_memory(r, name, buf, n * OVL_CLUSTER, 0, false, NULL, NULL, serr) < 0) {
			snprintf(err, 512, "the saved changes of disk %d are unreadable", k);
			free(buf);
			return -1;
		}
		for (uint64_t j = 0; j < n; j++) {
			uint64_t c = sb_get_u64(&map);
			if (map.error || c * (uint64_t)OVL_CLUSTER >= disk_bytes ||
			    put(ctx, c, buf + j * OVL_CLUSTER, disk_bytes) < 0) {
				snprintf(err, 512, "applying the saved changes of disk %d failed: %s",
					 k, map.error ? "malformed map" : strerror(errno));
				free(buf);
				return -1;
			}
		}
	}
	free(buf);
	return 0;
}

static int put_overlay(void *ctx, uint64_t c, const uint8_t *data, uint64_t disk_bytes)
{
	struct disk_overlay *o = ctx;
	if (disk_bytes != o->size) {
		errno = EINVAL;
		return -1;
	}
	return ovl_load_cluster(o, c, data);
}

static int put_base(void *ctx, uint64_t c, const uint8_t *data, uint64_t disk_bytes)
{
	int fd = *(int *)ctx;
	uint64_t off = c * OVL_CLUSTER;
	size_t len = disk_bytes - off < OVL_CLUSTER ? (size_t)(disk_bytes - off) : OVL_CLUSTER;
	while (len) {
		ssize_t n = pwrite(fd, data, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int session_disk_apply(struct vm *vm, struct snap_reader *r,
		       enum delta_target to, char err[512])
{
	for (int k = 0; k < vm->cfg.ndisks; k++) {
		if (!vm->ovl[k])
			continue;
		int fd = virtio_blk_fd(vm->disk[k]);
		int rc = to == DELTA_TO_OVERLAY ? walk_delta(r, k, put_overlay, vm->ovl[k], err)
						: walk_delta(r, k, put_base, &fd, err);
		if (rc < 0)
			return -1;
		if (to == DELTA_TO_BASE && fdatasync(fd) < 0) {
			snprintf(err, 512, "cannot sync disk %s: %s", vm->cfg.disk[k].path,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

int session_disk_apply_files(struct snap_reader *r, const char *dir, char err[512])
{
	size_t len;
	const char *text = snap_get_section(r, "config", &len);
	struct vm_config cfg;
	if (!text || session_config_parse(text, len, dir, &cfg, err) < 0)
		return -1;
	for (int k = 0; k < cfg.ndisks; k++) {
		if (cfg.disk[k].read_only)
			continue;
		int fd = open(cfg.disk[k].path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, 512, "disk %s: %s — the session's disk must stay where it was",
				 cfg.disk[k].path, strerror(errno));
			return -1;
		}
		int rc = walk_delta(r, k, put_base, &fd, err);
		if (rc == 0 && fdatasync(fd) < 0)
			rc = -1;
		close(fd);
		if (rc < 0)
			return -1;
	}
	return 0;
}
