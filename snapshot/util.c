/* Small helpers shared by the snapshot writer, reader and CLI. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include "format.h"

uint64_t snap_hash(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

/* A zero chunk costs nothing on disk, so this runs over all guest memory:
 * test the first word, then compare the buffer with itself shifted by one
 * word; glibc's vectorised memcmp does the rest at memory bandwidth. */
bool snap_is_zero(const void *p, size_t len)
{
	const unsigned char *b = p;
	if (len < 16) {
		for (size_t i = 0; i < len; i++)
			if (b[i])
				return false;
		return true;
	}
	uint64_t w0, w1;
	memcpy(&w0, b, 8);
	memcpy(&w1, b + 8, 8);
	if (w0 | w1)
		return false;
	return memcmp(b, b + 8, len - 8) == 0;
}

void snap_errf(char err[SNAP_ERR_LEN], const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, SNAP_ERR_LEN, fmt, ap);
	va_end(ap);
}

int snap_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > 16 ? 16 : (int)n;
}

uint64_t snap_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int snap_write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = write(fd, c, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

struct par {
	snap_par_fn fn;
	void *arg;
	uint64_t n;
	atomic_uint_fast64_t next, done;
	atomic_int rc;
};

static void par_loop(struct par *p, int worker, uint64_t unit, uint64_t total,
		     snap_progress_fn progress, void *ctx)
{
	uint64_t last = snap_now_ms();
	while (atomic_load(&p->rc) == 0) {
		uint64_t k = atomic_fetch_add(&p->next, 1);
		if (k >= p->n)
			break;
		int rc = p->fn(p->arg, worker, k);
		if (rc) {
			int zero = 0;
			atomic_compare_exchange_strong(&p->rc, &zero, rc);
			break;
		}
		uint64_t d = atomic_fetch_add(&p->done, 1) + 1;
		if (progress) {
			uint64_t now = snap_now_ms();
			if (now - last >= 100) {
				last = now;
				uint64_t b = d * unit;
				progress(ctx, b > total ? total : b, total);
			}
		}
	}
}

struct par_thread {
	pthread_t t;
	struct par *p;
	int worker;
};

static void *par_main(void *a)
{
	struct par_thread *pt = a;
	par_loop(pt->p, pt->worker, 0, 0, NULL, NULL);
	return NULL;
}

int snap_par_run(int threads, uint64_t n, snap_par_fn fn, void *arg,
		 uint64_t unit, uint64_t total, snap_progress_fn progress,
		 void *ctx)
{
	struct par p = { .fn = fn, .arg = arg, .n = n };
	atomic_init(&p.next, 0);
	atomic_init(&p.done, 0);
	atomic_init(&p.rc, 0);
	if (threads < 1)
		threads = 1;
	if ((uint64_t)threads > n)
		threads = n ? (int)n : 1;
	struct par_thread *pt = calloc((size_t)threads, sizeof(*pt));
	int started = 0;
	/* If a thread cannot start, the ones that did (and the caller) still
	 * finish the work: only speed is lost. */
	for (int i = 1; pt && i < threads; i++) {
		pt[i].p = &p;
		pt[i].worker = i;
		if (pthread_create(&pt[i].t, NULL, par_main, &pt[i]))
			break;
		started = i;
	}
	par_loop(&p, 0, unit, total, progress, ctx);
	for (int i = 1; i <= started; i++)
		pthread_join(pt[i].t, NULL);
	free(pt);
	int rc = atomic_load(&p.rc);
	if (!rc && progress)
		progress(ctx, total, total);
	return rc;
}
