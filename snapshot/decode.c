/* Chunks back to memory, on several threads: each worker reads a chunk's
 * stored bytes (from this generation's file, or for a PREV chunk from the
 * owner generation's), checks their XXH3 before zstd sees them, and
 * decompresses straight into the destination (zstd also checks its frame
 * checksum). The same loop verifies chunks without a destination for
 * snap_open/verify, and compares them with memory for the writer's
 * verify_clean. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "reader.h"

struct dec_worker {
	ZSTD_DCtx *dctx;
	uint8_t *scratch;      /* stored bytes read from a file */
	uint8_t *out;          /* decompressed chunk when not decoding */
};

struct dec {
	struct snap_reader *r;
	const struct rimage *im;
	uint8_t *dst;          /* NULL: verify (or compare) only */
	const uint8_t *cmp;    /* compare with this memory instead */
	const uint64_t *list;  /* chunks to visit; NULL: all */
	struct snap_verify_memo *memo;  /* verify only: skip chunks seen good */
	bool dst_is_zeroed, deep;
	struct dec_worker *w;
	atomic_int why_taken;
	atomic_uint_fast64_t bad;   /* lowest differing chunk seen */
	char *why;
};

static int dec_fail(struct dec *d, const char *what, uint64_t k,
		    uint64_t owner)
{
	int zero = 0;
	if (!atomic_compare_exchange_strong(&d->why_taken, &zero, 1))
		return -1;
	if (owner)
		snap_errf(d->why, "image '%s' chunk %llu (stored in generation "
			  "%llu) %s", d->im->img->name, (unsigned long long)k,
			  (unsigned long long)owner, what);
	else
		snap_errf(d->why, "image '%s' chunk %llu %s", d->im->img->name,
			  (unsigned long long)k, what);
	return -1;
}

static int differs(struct dec *d, uint64_t k)
{
	uint_fast64_t cur = atomic_load(&d->bad);
	while (k < cur && !atomic_compare_exchange_weak(&d->bad, &cur, k))
		;
	return 1;
}

static int dec_one(struct dec *d, struct dec_worker *w, uint64_t k)
{
	const struct snap_disk_chunk *c = &d->im->chunks[k];
	uint64_t n = snap_chunk_len(d->im->img, k);
	uint64_t at = k * d->im->img->chunk_size;
	uint8_t *out = d->dst ? d->dst + at : w->out;
	const uint8_t *cmp = d->cmp ? d->cmp + at : NULL;
	if (c->kind == SNAP_CHUNK_ZERO) {
		if (cmp && !snap_is_zero(cmp, n))
			return differs(d, k);
		if (d->dst && !d->dst_is_zeroed)
			memset(out, 0, n);
		return 0;
	}
	/* A PREV chunk's bytes lie in the owner generation's file; the
	 * entry's stored_len and checksum equal the owner's (checked when
	 * resolved), so they are verified exactly like our own. */
	const struct snap_src *src = &d->r->src;
	uint64_t off = c->offset, owner = 0;
	uint8_t kind = c->kind;
	if (kind == SNAP_CHUNK_PREV) {
		owner = c->offset;
		if (!d->im->prev || !d->im->prev[k].src)
			return dec_fail(d, "is not available here", k, owner);
		src = d->im->prev[k].src;
		off = d->im->prev[k].offset;
		kind = d->im->prev[k].kind;
	}
	/* Raw chunks from a file land in place; nothing else to do. */
	void *into = kind == SNAP_CHUNK_RAW && d->dst ? out : w->scratch;
	const uint8_t *p = snap_src_view(src, off, c->stored_len, into);
	if (!p)
		return dec_fail(d, "cannot be read (truncated or I/O error)", k,
				owner);
	if (snap_hash(p, c->stored_len) != c->checksum)
		return dec_fail(d, "checksum mismatch", k, owner);
	if (kind == SNAP_CHUNK_RAW) {
		if (cmp && memcmp(cmp, p, n))
			return differs(d, k);
		if (d->dst && p != out)
			memcpy(out, p, n);
		return 0;
	}
	if (!d->dst && !d->deep && !cmp)
		return 0;
	size_t got = ZSTD_decompressDCtx(w->dctx, out, n, p, c->stored_len);
	if (ZSTD_isError(got) || got != n)
		return dec_fail(d, "does not decompress", k, owner);
	if (cmp && memcmp(cmp, out, n))
		return differs(d, k);
	return 0;
}

/* With a memo (verify only), a stored or referenced chunk whose bytes
 * were already found good in this run is not read again; one found bad is
 * not recorded, so every generation referring to it fails the same way. */
static int dec_chunk(void *arg, int wi, uint64_t i)
{
	struct dec *d = arg;
	uint64_t k = d->list ? d->list[i] : i;
	const struct snap_disk_chunk *c = &d->im->chunks[k];
	if (!d->memo || c->kind == SNAP_CHUNK_ZERO)
		return dec_one(d, &d->w[wi], k);
	struct snap_memo_key key = { .gen = d->r->hdr.generation, .k = k,
		.offset = c->offset, .checksum = c->checksum,
		.stored_len = c->stored_len, .image = d->im->img->name };
	if (c->kind == SNAP_CHUNK_PREV) {
		if (!d->im->prev || !d->im->prev[k].src)
			return dec_one(d, &d->w[wi], k);   /* fails */
		key.gen = c->offset;
		key.offset = d->im->prev[k].offset;
	}
	if (snap_memo_seen(d->memo, &key, d->deep))
		return 0;
	int rc = dec_one(d, &d->w[wi], k);
	snap_memo_checked(d->memo, &key, d->deep, rc == 0);
	return rc;
}

static int run_image(struct dec *d, uint64_t m, int threads,
		     snap_progress_fn progress, void *ctx)
{
	if (threads < 1)
		threads = 1;
	if (threads > 64)
		threads = 64;
	atomic_init(&d->why_taken, 0);
	atomic_init(&d->bad, UINT64_MAX);
	size_t cs = d->im->img->chunk_size;
	/* PREV chunks come from other files even when r is a buffer. */
	bool scratch = !d->r->src.buf || d->im->prev;
	d->w = calloc((size_t)threads, sizeof(*d->w));
	bool ok = d->w != NULL;
	for (int i = 0; ok && i < threads; i++) {
		struct dec_worker *w = &d->w[i];
		w->dctx = ZSTD_createDCtx();
		if (scratch)
			w->scratch = malloc(ZSTD_compressBound(cs));
		if (!d->dst)
			w->out = malloc(cs);
		ok = w->dctx && (!scratch || w->scratch) && (d->dst || w->out);
	}
	int rc = -1;
	if (!ok)
		snap_errf(d->why, "out of memory for decompression buffers");
	else
		rc = snap_par_run(threads, m, dec_chunk, d, cs,
				  d->list ? m * cs : d->im->img->len,
				  progress, ctx);
	for (int i = 0; d->w && i < threads; i++) {
		ZSTD_freeDCtx(d->w[i].dctx);
		free(d->w[i].scratch);
		free(d->w[i].out);
	}
	free(d->w);
	return rc;
}

int snap_verify_chunks(struct snap_reader *r, int threads, bool deep,
		       struct snap_verify_memo *memo, char why[SNAP_ERR_LEN])
{
	for (uint32_t i = 0; i < r->n_images; i++) {
		struct dec d = { .r = r, .im = &r->images[i], .deep = deep,
				 .memo = memo, .why = why };
		if (run_image(&d, d.im->img->n_chunks, threads, NULL, NULL))
			return -1;
	}
	return 0;
}

int snap_compare_chunks(struct snap_reader *r, const struct rimage *im,
			const uint8_t *mem, const uint64_t *list, uint64_t m,
			int threads, uint64_t *bad, char why[SNAP_ERR_LEN])
{
	struct dec d = { .r = r, .im = im, .cmp = mem, .list = list,
			 .why = why };
	if (!m)
		return 0;
	int rc = run_image(&d, m, threads, NULL, NULL);
	uint64_t b = atomic_load(&d.bad);
	if (b != UINT64_MAX) {
		*bad = b;
		return 1;
	}
	return rc ? -1 : 0;
}

int snap_get_memory(struct snap_reader *r, const char *name, void *dst,
		    uint64_t len, int threads, bool dst_is_zeroed,
		    snap_progress_fn progress, void *ctx,
		    char err[SNAP_ERR_LEN])
{
	struct rimage *im = snap_find_image(r, name);
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
	/* A reader opened index-only resolves its PREV chunks on first use. */
	if (snap_resolve_prev(r, im, why)) {
		snap_errf(err, "generation %llu: %s: check the stick and resume "
			  "again", (unsigned long long)r->hdr.generation, why);
		return -1;
	}
	struct dec d = { .r = r, .im = im, .dst = dst,
			 .dst_is_zeroed = dst_is_zeroed, .why = why };
	if (run_image(&d, im->img->n_chunks, threads, progress, ctx)) {
		snap_errf(err, "generation %llu: %s: check the stick and resume "
			  "again",
			  (unsigned long long)r->hdr.generation, why);
		return -1;
	}
	return 0;
}
