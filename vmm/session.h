/* A session on disk: freezing a stopped VM into a new generation and
 * rebuilding a VM from the newest good one. */
#ifndef TABI_SESSION_H
#define TABI_SESSION_H
#include "vm.h"

/* The VM's vCPUs must be parked. Drains devices, writes and commits a new
 * generation. 0, or -1 with a one-line err (nothing committed). */
int session_freeze(struct vm *vm, const char *dir, char err[512]);
/* Creates *vm from the newest good generation in dir, restoring all state
 * but not starting the vCPUs. -1 with err; dir is never modified, except
 * that an ended session is finished: then SESSION_NOTHING. */
#define SESSION_NOTHING (-2)
int session_resume(struct vm *vm, const char *dir, char err[512]);
/* 1 when dir holds a frozen session (good or damaged), 0 when none; an
 * ended session left half-finished by a pull is finished first (-1 with err
 * if that fails). */
int session_live(const char *dir, char err[512]);
/* After the guest shut down: commits its last disk writes, folds them into
 * the disk images and drops every generation, so the next start is a cold
 * boot on the final disk. Pull-safe at every step. */
int session_end(struct vm *vm, const char *dir, char err[512]);
/* Drops the record of folded disk deltas (a new session starts). */
void session_forget_base(const char *dir);
/* Text of the config section for a VM (exposed for tests). */
int session_config_text(const struct vm_config *cfg, const char *dir,
			char *out, size_t cap);
int session_config_parse(const char *text, size_t len, const char *dir,
			 struct vm_config *cfg, char err[512]);
#endif
