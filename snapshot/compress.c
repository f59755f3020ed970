/* Memory image -> chunks on disk. Worker threads take chunks in order, skip
 * zero ones, compress the rest (one ZSTD_CCtx each) into a bounded window of
 * slots; the caller's thread appends finished slots strictly in order, so
 * a 16 GiB guest never needs more than window x chunk bytes of buffers. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>
#include "format.h"

struct slot {
	uint64_t ready;        /* chunk index + 1 once filled, 0 when free */
	uint8_t *buf;
	const uint8_t *data;   /* bytes to write: buf or the guest memory */
	uint32_t len;
	uint8_t kind;
	uint64_t hash;
};

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t filled, freed;
	const uint8_t *mem;
	uint64_t len, n;       /* bytes and chunks of the image */
	const uint64_t *list;  /* chunks to store, ascending; NULL: all */
	uint64_t m;            /* how many to store */
	uint32_t cs;
	int level;
	uint64_t next;         /* next list position a worker takes */
	uint64_t written;      /* list positions the writer has appended */
	uint32_t window;
	struct slot *slots;
	size_t cap;
	int failed;            /* a worker could not compress */
};

static void fill_slot(struct pipe *p, ZSTD_CCtx *cc, struct slot *s,
		      uint64_t k)
{
	const uint8_t *src = p->mem + k * p->cs;
	size_t n = (size_t)(k + 1 == p->n ? p->len - k * p->cs : p->cs);
	if (snap_is_zero(src, n)) {
		s->kind = SNAP_CHUNK_ZERO;
		s->len = 0;
		s->data = NULL;
		s->hash = 0;
		return;
	}
	size_t c = ZSTD_compress2(cc, s->buf, p->cap, src, n);
	if (ZSTD_isError(c) || c >= n) {
		/* Random-looking data: storing it raw is smaller and reading
		 * it back needs no decompression. */
		s->kind = SNAP_CHUNK_RAW;
		s->data = src;
		s->len = (uint32_t)n;
	} else {
		s->kind = SNAP_CHUNK_ZSTD;
		s->data = s->buf;
		s->len = (uint32_t)c;
	}
	s->hash = snap_hash(s->data, s->len);
}

static uint64_t chunk_at(const struct pipe *p, uint64_t i)
{
	return p->list ? p->list[i] : i;
}

/* Guest bytes handled once list position i is reached: scaled over the
 * stored chunks so that it reaches len at the end. */
static uint64_t done_at(const struct pipe *p, uint64_t i)
{
	if (!p->list)
		return i * p->cs;
	return (uint64_t)((unsigned __int128)p->len * i / p->m);
}

static void *worker(void *arg)
{
	struct pipe *p = arg;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	if (cc) {
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, p->level);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 1);
	}
	pthread_mutex_lock(&p->mu);
	if (!cc) {
		p->failed = 1;
		pthread_cond_broadcast(&p->filled);
	}
	while (cc && !p->failed && p->next < p->m) {
		if (p->next >= p->written + p->window) {
			pthread_cond_wait(&p->freed, &p->mu);
			continue;
		}
		uint64_t i = p->next++;
		struct slot *s = &p->slots[i % p->window];
		pthread_mutex_unlock(&p->mu);
		fill_slot(p, cc, s, chunk_at(p, i));
		pthread_mutex_lock(&p->mu);
		s->ready = i + 1;
		pthread_cond_broadcast(&p->filled);
	}
	pthread_mutex_unlock(&p->mu);
	ZSTD_freeCCtx(cc);
	return NULL;
}

/* Waits for list position k, reporting progress about every 100 ms meanwhile. */
static struct slot *wait_slot(struct pipe *p, uint64_t k,
			      snap_progress_fn progress, void *ctx,
			      uint64_t *last)
{
	struct slot *s = &p->slots[k % p->window];
	pthread_mutex_lock(&p->mu);
	while (s->ready != k + 1 && !p->failed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->filled, &p->mu, &ts);
		uint64_t now = snap_now_ms();
		if (progress && now - *last >= 100) {
			*last = now;
			pthread_mutex_unlock(&p->mu);
			progress(ctx, done_at(p, k), p->len);
			pthread_mutex_lock(&p->mu);
		}
	}
	bool ok = s->ready == k + 1;
	pthread_mutex_unlock(&p->mu);
	return ok ? s : NULL;
}

static int run_pipe(struct pipe *p, struct snap_out *o, int threads,
		    struct snap_disk_chunk *chunks, snap_progress_fn progress,
		    void *ctx)
{
	pthread_t *t = calloc((size_t)threads, sizeof(*t));
	int started = 0, rc = 0;
	for (int i = 0; t && i < threads; i++) {
		if (pthread_create(&t[i], NULL, worker, p))
			break;
		started++;
	}
	if (!started) {
		snap_errf(o->err, "cannot start compression threads (%s): "
			  "free memory and freeze again", strerror(errno));
		o->failed = true;
		free(t);
		return -1;
	}
	uint64_t last = snap_now_ms();
	for (uint64_t k = 0; k < p->m; k++) {
		struct slot *s = wait_slot(p, k, progress, ctx, &last);
		if (!s) {
			snap_errf(o->err, "out of memory compressing guest "
				  "memory: free memory and freeze again");
			o->failed = true;
			rc = -1;
			break;
		}
		struct snap_disk_chunk *c = &chunks[chunk_at(p, k)];
		memset(c, 0, sizeof(*c));
		c->kind = s->kind;
		c->stored_len = s->len;
		c->checksum = s->hash;
		c->offset = s->len ? o->off : 0;
		if (s->len && snap_out_write(o, s->data, s->len)) {
			rc = -1;
			break;
		}
		pthread_mutex_lock(&p->mu);
		s->ready = 0;
		p->written = k + 1;
		pthread_cond_broadcast(&p->freed);
		pthread_mutex_unlock(&p->mu);
	}
	pthread_mutex_lock(&p->mu);
	if (rc)
		p->failed = 1;   /* stop the workers */
	pthread_cond_broadcast(&p->freed);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
	return rc;
}

int snap_compress_image(struct snap_out *o, const uint8_t *mem, uint64_t len,
			uint32_t chunk_size, int level, int threads,
			const uint64_t *list, uint64_t m,
			struct snap_disk_chunk *chunks,
			snap_progress_fn progress, void *ctx)
{
	if (threads < 1)
		threads = 1;
	if (threads > 64)
		threads = 64;
	struct pipe p = {
		.mem = mem, .len = len, .cs = chunk_size, .level = level,
		.n = (len + chunk_size - 1) / chunk_size,
		.list = list,
		.window = (uint32_t)threads * 4,
		.cap = ZSTD_compressBound(chunk_size),
	};
	p.m = list ? m : p.n;
	if (p.m == 0) {
		if (progress)
			progress(ctx, len, len);
		return 0;
	}
	p.slots = calloc(p.window, sizeof(*p.slots));
	bool ok = p.slots != NULL;
	for (uint32_t i = 0; ok && i < p.window; i++)
		ok = (p.slots[i].buf = malloc(p.cap)) != NULL;
	int rc = -1;
	if (!ok) {
		snap_errf(o->err, "out of memory for compression buffers: "
			  "free memory or use fewer threads");
		o->failed = true;
	} else {
		pthread_mutex_init(&p.mu, NULL);
		pthread_cond_init(&p.filled, NULL);
		pthread_cond_init(&p.freed, NULL);
		rc = run_pipe(&p, o, threads, chunks, progress, ctx);
		pthread_mutex_destroy(&p.mu);
		pthread_cond_destroy(&p.filled);
		pthread_cond_destroy(&p.freed);
	}
	for (uint32_t i = 0; p.slots && i < p.window; i++)
		free(p.slots[i].buf);
	free(p.slots);
	if (!rc && progress)
		progress(ctx, len, len);
	return rc;
}
