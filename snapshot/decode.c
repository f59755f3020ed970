/* Chunks back to memory, on several threads: each worker reads a chunk's
 * stored bytes, checks their XXH3 before zstd sees them, and decompresses
 * straight into the destination (zstd also checks its frame checksum). The
 * same loop verifies chunks without a destination for snap_open/verify. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "reader.h"

struct dec_worker {
	ZSTD_DCtx *dctx;
	uint8_t *scratch;      /* stored bytes read from a file */
	uint8_t *out;          /* decompressed chunk when verifying only */
};

struct dec {
	struct snap_reader *r;
	const struct rimage *im;
	uint8_t *dst;          /* NULL: verify only */
	bool dst_is_zeroed, deep;
	struct dec_worker *w;
	atomic_int why_taken;
	char *why;
};

static int dec_fail(struct dec *d, const char *what, uint64_t k)
{
	int zero = 0;
	if (atomic_compare_exchange_strong(&d->why_taken, &zero, 1))
		snap_errf(d->why, "image '%s' chunk %llu %s", d->im->img->name,
			  (unsigned long long)k, what);
	return -1;
}

static int dec_chunk(void *arg, int wi, uint64_t k)
{
	struct dec *d = arg;
	struct dec_worker *w = &d->w[wi];
	const struct snap_disk_chunk *c = &d->im->chunks[k];
	uint64_t n = snap_chunk_len(d->im->img, k);
	uint8_t *out = d->dst ? d->dst + k * d->im->img->chunk_size : w->out;
	if (c->kind == SNAP_CHUNK_ZERO) {
		if (d->dst && !d->dst_is_zeroed)
			memset(out, 0, n);
		return 0;
	}
	/* Raw chunks from a file land in place; nothing else to do. */
	void *into = c->kind == SNAP_CHUNK_RAW && d->dst ? out : w->scratch;
	const uint8_t *p = snap_src_view(&d->r->src, c->offset, c->stored_len,
					 into);
	if (!p)
		return dec_fail(d, "cannot be read (truncated or I/O error)", k);
	if (snap_hash(p, c->stored_len) != c->checksum)
		return dec_fail(d, "checksum mismatch", k);
	if (c->kind == SNAP_CHUNK_RAW) {
		if (d->dst && p != out)
			memcpy(out, p, n);
		return 0;
	}
	if (!d->dst && !d->deep)
		return 0;
	size_t got = ZSTD_decompressDCtx(w->dctx, out, n, p, c->stored_len);
	if (ZSTD_isError(got) || got != n)
		return dec_fail(d, "does not decompress", k);
	return 0;
}

static int run_image(struct snap_reader *r, const struct rimage *im,
		     uint8_t *dst, bool zeroed, bool deep, int threads,
		     snap_progress_fn progress, void *ctx, char *why)
{
	if (threads < 1)
		threads = 1;
	if (threads > 64)
		threads = 64;
	struct dec d = { .r = r, .im = im, .dst = dst, .dst_is_zeroed = zeroed,
			 .deep = deep, .why = why };
	atomic_init(&d.why_taken, 0);
	size_t cs = im->img->chunk_size;
	d.w = calloc((size_t)threads, sizeof(*d.w));
	bool ok = d.w != NULL;
	for (int i = 0; ok && i < threads; i++) {
		struct dec_worker *w = &d.w[i];
		w->dctx = ZSTD_createDCtx();
		if (!r->src.buf)
			w->scratch = malloc(ZSTD_compressBound(cs));
		if (!dst)
			w->out = malloc(cs);
		ok = w->dctx && (r->src.buf || w->scratch) && (dst || w->out);
	}
	int rc = -1;
	if (!ok)
		snap_errf(why, "out of memory for decompression buffers");
	else
		rc = snap_par_run(threads, im->img->n_chunks, dec_chunk, &d,
				  cs, im->img->len, progress, ctx);
	for (int i = 0; d.w && i < threads; i++) {
		ZSTD_freeDCtx(d.w[i].dctx);
		free(d.w[i].scratch);
		free(d.w[i].out);
	}
	free(d.w);
	return rc ? -1 : 0;
}

int snap_verify_chunks(struct snap_reader *r, int threads, bool deep,
		       char why[SNAP_ERR_LEN])
{
	for (uint32_t i = 0; i < r->n_images; i++)
		if (run_image(r, &r->images[i], NULL, false, deep, threads,
			      NULL, NULL, why))
			return -1;
	return 0;
}

int snap_get_memory(struct snap_reader *r, const char *name, void *dst,
		    uint64_t len, int threads, bool dst_is_zeroed,
		    snap_progress_fn progress, void *ctx,
		    char err[SNAP_ERR_LEN])
{
	const struct rimage *im = NULL;
	for (uint32_t i = 0; i < r->n_images && !im; i++)
		if (!strcmp(r->images[i].img->name, name))
			im = &r->images[i];
	if (!im) {
		snap_errf(err, "generation %llu has no memory image '%s': the "
			  "session was frozen by an incompatible tabi",
			  (unsigned long long)r->hdr.generation, name);
		return -1;
	}
	if (im->img->len != len) {
		snap_errf(err, "memory image '%s' holds %llu bytes, not %llu: "
			  "resume with the memory size the session was frozen "
			  "with", name, (unsigned long long)im->img->len,
			  (unsigned long long)len);
		return -1;
	}
	if (threads <= 0)
		threads = snap_default_threads();
	char why[SNAP_ERR_LEN] = "";
	if (run_image(r, im, dst, dst_is_zeroed, false, threads, progress, ctx,
		      why)) {
		snap_errf(err, "generation %llu: %s: check the stick and resume "
			  "again",
			  (unsigned long long)r->hdr.generation, why);
		return -1;
	}
	return 0;
}
