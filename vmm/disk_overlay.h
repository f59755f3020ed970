/* Copy-on-write overlay that keeps a disk's writes apart from its base image
 * until they are committed with a session generation, so a stick pulled
 * between freezes resumes the last generation with exactly the disk it had.
 * Writes land in a scratch file (unlinked, on the session's filesystem) in
 * whole clusters; reads take a cluster from the overlay when present, else
 * from the base. */
#ifndef TABI_DISK_OVERLAY_H
#define TABI_DISK_OVERLAY_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define OVL_CLUSTER (64u * 1024)

struct disk_overlay {
	int base_fd;          /* not owned */
	int ovl_fd;
	uint64_t size, nclusters;
	uint64_t *present;    /* cluster lives in the overlay */
	uint64_t *fresh;      /* written since the last generation */
	uint8_t *bounce;      /* one cluster */
};

/* Scratch file goes in scratch_dir. NULL with err on failure. */
struct disk_overlay *ovl_open(int base_fd, uint64_t size, const char *scratch_dir,
			      char err[256]);
void ovl_close(struct disk_overlay *o);
/* Guest I/O of iov at byte offset off; 0 or -1 (errno set). */
int ovl_rw(struct disk_overlay *o, const struct iovec *iov, int n, uint64_t off,
	   bool write);
/* Bytes of cluster c (the last one may be short). */
uint32_t ovl_cluster_len(const struct disk_overlay *o, uint64_t c);
/* Current content of cluster c into buf (OVL_CLUSTER bytes, zero padded). */
int ovl_read_cluster(struct disk_overlay *o, uint64_t c, void *buf);
/* Puts committed content into the overlay (present, not fresh). */
int ovl_load_cluster(struct disk_overlay *o, uint64_t c, const void *buf);
bool ovl_is_fresh(const struct disk_overlay *o, uint64_t c);
uint64_t ovl_fresh_count(const struct disk_overlay *o);
/* After a generation is committed: nothing is fresh any more. */
void ovl_clear_fresh(struct disk_overlay *o);
/* Writes every overlay cluster into the base and syncs it (session end). */
int ovl_fold_into_base(struct disk_overlay *o);
#endif
