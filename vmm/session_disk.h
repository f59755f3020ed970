/* Guest disk deltas in session generations: the clusters written since the
 * previous generation, committed together with the memory they belong to.
 *
 * Invariant (what makes a pull at any moment safe): the committed
 * generations form a chain oldest..newest, each naming its parent, and each
 * writable base disk holds the state of the oldest one's parent, possibly
 * with part of the oldest one's delta already applied. Generation G's disk
 * is therefore base + the deltas of every committed ancestor of G, oldest
 * first, + G's own delta; applying a delta twice is harmless. */
#ifndef TABI_SESSION_DISK_H
#define TABI_SESSION_DISK_H
#include <stdint.h>
#include "snapshot.h"

struct vm;

/* Stores each writable disk's fresh clusters into the generation. */
int session_disk_save(struct vm *vm, struct snap_writer *w, char err[512]);
/* Bytes the fresh clusters will take (for the space check). */
uint64_t session_disk_fresh_bytes(struct vm *vm);

/* Where a generation's delta clusters go: into the overlays (resume) or
 * straight into the base images (folding). */
enum delta_target { DELTA_TO_OVERLAY, DELTA_TO_BASE };
int session_disk_apply(struct vm *vm, struct snap_reader *r,
		       enum delta_target to, char err[512]);
/* Same for a session whose VM does not exist (finishing an ended session):
 * writes the deltas of r into the disk files named by its config. */
int session_disk_apply_files(struct snap_reader *r, const char *dir, char err[512]);
#endif
