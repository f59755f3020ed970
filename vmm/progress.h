/* Progress line for long work on the PC's screen: bytes, rate, time left. */
#ifndef TABI_PROGRESS_H
#define TABI_PROGRESS_H
#include <stdint.h>

struct progress {
	const char *what;      /* "freezing", "resuming" */
	uint64_t start_ns, last_ns;
	int shown;
};

void progress_begin(struct progress *p, const char *what);
/* snap_progress_fn-compatible. */
void progress_update(void *ctx, uint64_t done, uint64_t total);
void progress_end(struct progress *p, uint64_t total, uint64_t stored);
#endif
