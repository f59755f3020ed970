/* Writing a generation: header, sections and images appended to a temporary
 * file beside the committed ones, then index + footer, fsync, one atomic
 * rename, fsync of the directory, and only then removal of older
 * generations that neither the new one nor its fallback (the previous one)
 * needs. An incremental image refers to chunks of older generations (PREV
 * entries, FORMAT.md) instead of storing them again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>
#include "reader.h"

struct wimage {
	struct snap_disk_image img;
	struct snap_disk_chunk *chunks;
};

struct snap_writer {
	char dir[PATH_MAX];
	char tmp[PATH_MAX + 32];
	char final[PATH_MAX + 32];
	uint64_t gen;
	struct snap_out out;
	struct snap_disk_header hdr;
	struct snap_disk_section *sections;
	uint32_t n_sections;
	struct wimage *images;
	uint32_t n_images;
	int level;
	bool keep_from_set;
	uint64_t keep_from;    /* snap_set_keep_from */
};

/* Start writeback every 64 MiB so the final fsync has little left to do
 * and the stick writes while the CPUs compress. */
#define FLUSH_STEP (64ull << 20)

int snap_out_write(struct snap_out *o, const void *p, size_t len)
{
	if (o->failed)
		return -1;
	if (snap_write_all(o->fd, p, len)) {
		int e = errno;
		if (e == ENOSPC || e == EDQUOT)
			snap_errf(o->err, "%s: the stick is full (%s): free space "
				  "on it and freeze again", o->path, strerror(e));
		else
			snap_errf(o->err, "%s: write failed (%s): check that the "
				  "stick is still plugged in", o->path, strerror(e));
		o->failed = true;
		return -1;
	}
	o->off += len;
	if (o->off - o->flushed >= FLUSH_STEP) {
		sync_file_range(o->fd, (off64_t)o->flushed,
				(off64_t)(o->off - o->flushed),
				SYNC_FILE_RANGE_WRITE);
		o->flushed = o->off;
	}
	return 0;
}

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -1;
	return 0;
}

/* Temporary files are leftovers of a writer that was cut off: never
 * readable, so they only waste space on the stick. */
static void remove_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (!strncmp(e->d_name, ".gen-", 5) && n > 9 &&
		    !strcmp(e->d_name + n - 4, ".tmp"))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

struct snap_writer *snap_begin(const char *dir, char err[SNAP_ERR_LEN])
{
	if (strlen(dir) >= PATH_MAX - 64) {
		snap_errf(err, "session directory path is too long: use a "
			  "shorter path");
		return NULL;
	}
	if (mkdir_p(dir)) {
		snap_errf(err, "cannot create session directory %s (%s): check "
			  "that the stick is mounted writable", dir,
			  strerror(errno));
		return NULL;
	}
	uint64_t *gens;
	int n = snap_list_gens(dir, &gens);
	if (n < 0) {
		snap_errf(err, "cannot read session directory %s (%s): check "
			  "the path and permissions", dir, strerror(errno));
		return NULL;
	}
	remove_leftovers(dir);
	struct snap_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		free(gens);
		snap_errf(err, "out of memory starting a snapshot");
		return NULL;
	}
	w->gen = n > 0 ? gens[0] + 1 : 1;
	w->level = SNAP_ZSTD_LEVEL;
	free(gens);
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	snap_gen_path(w->tmp, sizeof(w->tmp), dir, w->gen, true);
	snap_gen_path(w->final, sizeof(w->final), dir, w->gen, false);
	w->out.path = w->tmp;
	w->out.fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->out.fd < 0) {
		snap_errf(err, "cannot create %s (%s): check that the stick is "
			  "mounted writable", w->tmp, strerror(errno));
		free(w);
		return NULL;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct snap_disk_header *h = &w->hdr;
	memcpy(h->magic, SNAP_MAGIC, 8);
	h->version = SNAP_VERSION;
	h->header_size = sizeof(*h);
	h->generation = w->gen;
	h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	h->checksum = snap_hash(h, offsetof(struct snap_disk_header, checksum));
	if (snap_out_write(&w->out, h, sizeof(*h))) {
		snap_errf(err, "%s", w->out.err);
		snap_abort(w);
		return NULL;
	}
	return w;
}

static bool name_ok(struct snap_writer *w, const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= SNAP_NAME_MAX) {
		snap_errf(w->out.err, "section name '%.80s' must be 1..63 bytes "
			  "(a tabi bug)", name);
		return false;
	}
	for (uint32_t i = 0; i < w->n_sections; i++)
		if (!strcmp(w->sections[i].name, name))
			goto dup;
	for (uint32_t i = 0; i < w->n_images; i++)
		if (!strcmp(w->images[i].img.name, name))
			goto dup;
	return true;
dup:
	snap_errf(w->out.err, "section '%s' stored twice (a tabi bug)", name);
	return false;
}

int snap_put_section(struct snap_writer *w, const char *name,
		     const void *data, size_t len)
{
	if (w->out.failed)
		return -1;
	if (!name_ok(w, name) || len > SNAP_SECTION_MAX) {
		if (len > SNAP_SECTION_MAX)
			snap_errf(w->out.err, "section '%s' is too large "
				  "(%zu bytes; a tabi bug)", name, len);
		w->out.failed = true;
		return -1;
	}
	struct snap_disk_section *ns = realloc(w->sections,
		(w->n_sections + 1) * sizeof(*ns));
	if (!ns) {
		snap_errf(w->out.err, "out of memory storing section '%s'", name);
		w->out.failed = true;
		return -1;
	}
	w->sections = ns;
	struct snap_disk_section *s = &ns[w->n_sections];
	memset(s, 0, sizeof(*s));
	strcpy(s->name, name);
	s->offset = w->out.off;
	s->len = len;
	s->checksum = snap_hash(data, len);
	/* Written straight away: the caller's buffer may be reused. */
	if (len && snap_out_write(&w->out, data, len))
		return -1;
	w->n_sections++;
	return 0;
}

/* How the chunks of a new image relate to the parent's image of the same
 * name: NULL when everything must be stored. */
static const struct rimage *parent_image(struct snap_writer *w,
					 struct snap_reader *parent,
					 const char *name, uint64_t len)
{
	if (!parent || !parent->dir ||
	    parent->hdr.generation >= w->gen)
		return NULL;
	/* PREV entries are resolved in the directory the new generation is
	 * committed to: the parent must live there. */
	struct stat a, b;
	if (stat(parent->dir, &a) || stat(w->dir, &b) ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return NULL;
	const struct rimage *pi = snap_find_image(parent, name);
	if (!pi || pi->img->len != len ||
	    pi->img->chunk_size != SNAP_CHUNK_SIZE)
		return NULL;
	return pi;
}

/* verify_clean: chunks list[0..m) taken from the parent must hold what mem
 * holds now. */
static int check_clean(struct snap_writer *w, const char *name,
		       struct snap_reader *parent, const uint8_t *mem,
		       const uint64_t *list, uint64_t m, int threads)
{
	char why[SNAP_ERR_LEN] = "";
	struct rimage *pi = snap_find_image(parent, name);
	uint64_t bad = 0;
	int rc = -1;
	if (!snap_resolve_prev(parent, pi, why))
		rc = snap_compare_chunks(parent, pi, mem, list, m, threads,
					 &bad, why);
	if (rc == 1)
		snap_errf(w->out.err, "memory image '%s' chunk %llu changed "
			  "but was not marked changed (dirty tracking missed "
			  "a write)", name, (unsigned long long)bad);
	else if (rc)
		snap_errf(w->out.err, "memory image '%s': cannot check the "
			  "unchanged chunks against generation %llu (%s)", name,
			  (unsigned long long)parent->hdr.generation, why);
	return rc;
}

/* changed NULL: every chunk changed. */
static bool is_changed(const uint64_t *changed, uint64_t k)
{
	return !changed || (changed[k / 64] >> (k % 64) & 1);
}

int snap_put_memory_since(struct snap_writer *w, const char *name,
			  const void *mem, uint64_t len,
			  struct snap_reader *parent, const uint64_t *changed,
			  bool verify_clean, int threads,
			  snap_progress_fn progress, void *ctx,
			  uint64_t *stored)
{
	if (stored)
		*stored = 0;
	if (w->out.failed)
		return -1;
	if (!name_ok(w, name)) {
		w->out.failed = true;
		return -1;
	}
	uint64_t n = (len + SNAP_CHUNK_SIZE - 1) / SNAP_CHUNK_SIZE;
	const struct rimage *pi = parent_image(w, parent, name, len);
	struct wimage *ni = realloc(w->images,
				    (w->n_images + 1) * sizeof(*ni));
	struct snap_disk_chunk *chunks = calloc(n ? n : 1, sizeof(*chunks));
	uint64_t *list = pi ? malloc((n ? n : 1) * sizeof(*list)) : NULL;
	if (ni)
		w->images = ni;
	if (!ni || !chunks || (pi && !list)) {
		free(chunks);
		free(list);
		snap_errf(w->out.err, "out of memory indexing image '%s'", name);
		w->out.failed = true;
		return -1;
	}
	if (threads <= 0)
		threads = snap_default_threads();
	/* Incremental: list holds the changed chunks to store, then the
	 * clean ones taken from the parent, each part ascending. */
	uint64_t m = 0;
	for (uint64_t k = 0; pi && k < n; k++)
		if (is_changed(changed, k))
			list[m++] = k;
	uint64_t clean = m;
	for (uint64_t k = 0; pi && k < n; k++) {
		if (is_changed(changed, k))
			continue;
		list[clean++] = k;
		const struct snap_disk_chunk *pc = &pi->chunks[k];
		struct snap_disk_chunk *c = &chunks[k];
		memset(c, 0, sizeof(*c));
		if (pc->kind == SNAP_CHUNK_ZERO) {
			c->kind = SNAP_CHUNK_ZERO;
		} else {
			/* Always the physical owner: depth one. */
			c->kind = SNAP_CHUNK_PREV;
			c->offset = pc->kind == SNAP_CHUNK_PREV ? pc->offset :
				    parent->hdr.generation;
			c->stored_len = pc->stored_len;
			c->checksum = pc->checksum;
		}
	}
	if (pi && verify_clean && m < n &&
	    check_clean(w, name, parent, mem, list + m, n - m, threads)) {
		w->out.failed = true;
		goto fail;
	}
	if (snap_compress_image(&w->out, mem, len, SNAP_CHUNK_SIZE,
				w->level, threads, list, m, chunks, progress,
				ctx))
		goto fail;
	if (stored) {
		for (uint64_t i = 0; i < (pi ? m : n); i++)
			*stored += chunks[pi ? list[i] : i].kind !=
				   SNAP_CHUNK_ZERO;
	}
	free(list);
	struct wimage *im = &w->images[w->n_images++];
	memset(im, 0, sizeof(*im));
	strcpy(im->img.name, name);
	im->img.len = len;
	im->img.chunk_size = SNAP_CHUNK_SIZE;
	im->img.n_chunks = n;
	im->chunks = chunks;
	return 0;
fail:
	free(list);
	free(chunks);
	return -1;
}

int snap_put_memory(struct snap_writer *w, const char *name, const void *mem,
		    uint64_t len, int threads, snap_progress_fn progress,
		    void *ctx)
{
	return snap_put_memory_since(w, name, mem, len, NULL, NULL, false,
				     threads, progress, ctx, NULL);
}

void snap_set_keep_from(struct snap_writer *w, uint64_t gen)
{
	w->keep_from_set = true;
	w->keep_from = gen;
}

static int write_index(struct snap_writer *w)
{
	struct snap_disk_index_head ih = {
		.n_sections = w->n_sections, .n_images = w->n_images };
	struct snap_disk_footer f = { .version = SNAP_VERSION };
	memcpy(f.magic, SNAP_FOOT_MAGIC, 8);
	f.generation = w->gen;
	f.index_offset = w->out.off;
	f.header_checksum = w->hdr.checksum;
	XXH3_state_t *st = XXH3_createState();
	if (!st) {
		snap_errf(w->out.err, "out of memory writing the index");
		return -1;
	}
	XXH3_64bits_reset(st);
	/* Hash exactly the bytes written, in order. */
#define EMIT(p, n) do { XXH3_64bits_update(st, (p), (n)); \
		if (snap_out_write(&w->out, (p), (n))) goto fail; } while (0)
	EMIT(&ih, sizeof(ih));
	EMIT(w->sections, w->n_sections * sizeof(*w->sections));
	for (uint32_t i = 0; i < w->n_images; i++) {
		EMIT(&w->images[i].img, sizeof(w->images[i].img));
		EMIT(w->images[i].chunks,
		     w->images[i].img.n_chunks * sizeof(struct snap_disk_chunk));
	}
#undef EMIT
	f.index_len = w->out.off - f.index_offset;
	f.index_checksum = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	f.checksum = snap_hash(&f, offsetof(struct snap_disk_footer, checksum));
	return snap_out_write(&w->out, &f, sizeof(f));
fail:
	XXH3_freeState(st);
	return -1;
}

/* Owner generations that PREV entries of these chunks refer to. */
static int add_owners(uint64_t **set, size_t *n, size_t *cap,
		      const struct snap_disk_chunk *c, uint64_t nc)
{
	for (uint64_t k = 0; k < nc; k++) {
		if (c[k].kind != SNAP_CHUNK_PREV)
			continue;
		uint64_t g = c[k].offset;
		if (*n && (*set)[*n - 1] == g)   /* runs are common */
			continue;
		bool have = false;
		for (size_t i = 0; i < *n && !have; i++)
			have = (*set)[i] == g;
		if (have)
			continue;
		if (*n == *cap) {
			size_t nc2 = *cap ? *cap * 2 : 16;
			uint64_t *ns = realloc(*set, nc2 * sizeof(*ns));
			if (!ns)
				return -1;
			*set = ns;
			*cap = nc2;
		}
		(*set)[(*n)++] = g;
	}
	return 0;
}

/* After the commit: remove generations older than the new one, except the
 * newest older one (the fallback if the new one is later found damaged),
 * every generation the new one or the fallback refers to, and (with
 * snap_set_keep_from) every one from keep_from on. When in doubt (the
 * fallback's index cannot be read, out of memory) nothing is removed. */
static void drop_old(struct snap_writer *w)
{
	uint64_t *gens, *keep = NULL;
	size_t nk = 0, ck = 0;
	int n = snap_list_gens(w->dir, &gens);
	uint64_t fallback = 0;
	for (int i = 0; i < n && !fallback; i++)
		if (gens[i] < w->gen)
			fallback = gens[i];
	if (!fallback)
		goto out;
	for (uint32_t i = 0; i < w->n_images; i++)
		if (add_owners(&keep, &nk, &ck, w->images[i].chunks,
			       w->images[i].img.n_chunks))
			goto out;
	enum snap_fail f;
	char why[SNAP_ERR_LEN];
	struct snap_reader *fr = snap_open_file(w->dir, fallback,
						SNAP_OPEN_INDEX, &f, why);
	if (!fr)
		goto out;
	int rc = 0;
	for (uint32_t i = 0; i < fr->n_images && !rc; i++)
		rc = add_owners(&keep, &nk, &ck, fr->images[i].chunks,
				fr->images[i].img->n_chunks);
	snap_close(fr);
	if (rc)
		goto out;
	for (int i = 0; i < n; i++) {
		uint64_t g = gens[i];
		if (g >= w->gen || g == fallback ||
		    (w->keep_from_set && g >= w->keep_from))
			continue;
		bool referenced = false;
		for (size_t j = 0; j < nk && !referenced; j++)
			referenced = keep[j] == g;
		if (referenced)
			continue;
		char p[PATH_MAX + 32];
		snap_gen_path(p, sizeof(p), w->dir, g, false);
		unlink(p);
	}
out:
	free(keep);
	free(gens);
}

static void free_writer(struct snap_writer *w)
{
	for (uint32_t i = 0; i < w->n_images; i++)
		free(w->images[i].chunks);
	free(w->images);
	free(w->sections);
	free(w);
}

/* Fault injection for the pull test (tests/system/pull.sh): holds the
 * commit between the rename and the directory fsync for
 * TABI_FAULT_COMMIT_PAUSE_MS (at most 5 s), so that a pull aimed at the
 * commit lands in its least durable moment rather than after tabi exits. */
static void fault_commit_pause(void)
{
	const char *v = getenv("TABI_FAULT_COMMIT_PAUSE_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;
	if (ms <= 0)
		return;
	if (ms > 5000)
		ms = 5000;
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

int snap_commit(struct snap_writer *w, char err[SNAP_ERR_LEN])
{
	if (w->out.failed || write_index(w)) {
		snap_errf(err, "%s", w->out.err);
		snap_abort(w);
		return -1;
	}
	if (fsync(w->out.fd)) {
		snap_errf(err, "%s: fsync failed (%s): check that the stick is "
			  "still plugged in", w->tmp, strerror(errno));
		snap_abort(w);
		return -1;
	}
	close(w->out.fd);
	w->out.fd = -1;
	if (rename(w->tmp, w->final)) {
		snap_errf(err, "cannot commit %s (%s): check that the stick is "
			  "still plugged in", w->final, strerror(errno));
		snap_abort(w);
		return -1;
	}
	fault_commit_pause();
	int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd)) {
		/* The rename happened but may not be durable yet: say so and
		 * keep the older generations. */
		snap_errf(err, "%s: directory fsync failed (%s): the new "
			  "generation may not survive a pull; freeze again",
			  w->dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		free_writer(w);
		return -1;
	}
	close(dfd);
	drop_old(w);
	free_writer(w);
	return 0;
}

void snap_abort(struct snap_writer *w)
{
	if (!w)
		return;
	if (w->out.fd >= 0)
		close(w->out.fd);
	unlink(w->tmp);
	free_writer(w);
}

void snap_set_level(struct snap_writer *w, int level)
{
	if (level < ZSTD_minCLevel())
		level = ZSTD_minCLevel();
	if (level > ZSTD_maxCLevel())
		level = ZSTD_maxCLevel();
	w->level = level;
}

uint64_t snap_estimate_bytes(uint64_t mem_len)
{
	uint64_t n = (mem_len + SNAP_CHUNK_SIZE - 1) / SNAP_CHUNK_SIZE;
	return sizeof(struct snap_disk_header) + mem_len +
	       sizeof(struct snap_disk_image) +
	       n * sizeof(struct snap_disk_chunk) +
	       sizeof(struct snap_disk_index_head) +
	       sizeof(struct snap_disk_footer);
}

uint64_t snap_writer_generation(const struct snap_writer *w)
{
	return w->gen;
}
