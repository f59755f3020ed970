/* Opening a generation: header, footer, index and sections are read with
 * explicit bounds checks and verified before anything is trusted; then every
 * chunk checksum (decode.c). snap_open picks the newest good generation. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include "reader.h"

#define INDEX_MAX (1ull << 30)
#define HEADER_MAX 4096u

const uint8_t *snap_src_view(const struct snap_src *s, uint64_t off,
			     uint64_t len, void *scratch)
{
	if (off > s->size || len > s->size - off)
		return NULL;
	if (s->buf)
		return s->buf + off;
	uint8_t *d = scratch;
	uint64_t got = 0;
	while (got < len) {
		ssize_t n = pread(s->fd, d + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		got += (uint64_t)n;
	}
	return d;
}

static int src_read(const struct snap_src *s, uint64_t off, void *dst,
		    uint64_t len)
{
	const uint8_t *p = snap_src_view(s, off, len, dst);
	if (!p)
		return -1;
	if (p != dst)
		memcpy(dst, p, len);
	return 0;
}

uint64_t snap_chunk_len(const struct snap_disk_image *img, uint64_t k)
{
	uint64_t start = k * img->chunk_size;
	uint64_t left = img->len - start;
	return left < img->chunk_size ? left : img->chunk_size;
}

#define FAIL(kind, ...) do { snap_errf(why, __VA_ARGS__); return (kind); } while (0)

/* The first 16 bytes (magic, version, header size) keep their place in
 * every format version, and the header checksum is its last 8 bytes, so a
 * newer file is told apart from a damaged one. */
static enum snap_fail check_header(struct snap_reader *r, uint64_t expect_gen,
				   char *why)
{
	uint8_t b[HEADER_MAX];
	uint64_t size = r->src.size;
	uint64_t have = size < 16 ? size : 16;
	if (src_read(&r->src, 0, b, have))
		FAIL(SNAP_IO, "cannot read the file (%s)", strerror(errno));
	if (have == 0)
		FAIL(SNAP_DAMAGED, "empty file (the write was cut off)");
	if (memcmp(b, SNAP_MAGIC, have < 8 ? have : 8))
		FAIL(SNAP_FOREIGN, "not a tabi session file");
	if (have < 16)
		FAIL(SNAP_DAMAGED, "truncated to %llu bytes (the write was cut "
		     "off)", (unsigned long long)size);
	uint32_t version, hsize;
	memcpy(&version, b + 8, 4);
	memcpy(&hsize, b + 12, 4);
	if (hsize < 64 || hsize > HEADER_MAX || hsize % 8)
		FAIL(SNAP_DAMAGED, "header size field is corrupt");
	if (src_read(&r->src, 0, b, hsize))
		FAIL(SNAP_DAMAGED, "truncated inside the header (the write was "
		     "cut off)");
	uint64_t sum;
	memcpy(&sum, b + hsize - 8, 8);
	if (snap_hash(b, hsize - 8) != sum)
		FAIL(SNAP_DAMAGED, "header checksum mismatch");
	if (version != SNAP_VERSION)
		FAIL(SNAP_WRONG_VERSION, "format version %u; this tabi reads "
		     "version %u", version, SNAP_VERSION);
	if (hsize != sizeof(r->hdr))
		FAIL(SNAP_DAMAGED, "header size %u is wrong for version 1",
		     hsize);
	memcpy(&r->hdr, b, sizeof(r->hdr));
	if (expect_gen && r->hdr.generation != expect_gen)
		FAIL(SNAP_DAMAGED, "file is named generation %llu but holds "
		     "generation %llu", (unsigned long long)expect_gen,
		     (unsigned long long)r->hdr.generation);
	return SNAP_OK;
}

static enum snap_fail read_index(struct snap_reader *r, char *why)
{
	struct snap_disk_footer f;
	uint64_t size = r->src.size;
	const uint64_t fsz = sizeof(f), hsz = sizeof(r->hdr);
	if (size < hsz + fsz + sizeof(struct snap_disk_index_head))
		FAIL(SNAP_DAMAGED, "truncated: no index at the end (the write "
		     "was cut off)");
	if (src_read(&r->src, size - fsz, &f, fsz))
		FAIL(SNAP_IO, "cannot read the index footer (%s)",
		     strerror(errno));
	if (memcmp(f.magic, SNAP_FOOT_MAGIC, 8))
		FAIL(SNAP_DAMAGED, "truncated: no index at the end (the write "
		     "was cut off)");
	if (snap_hash(&f, offsetof(struct snap_disk_footer, checksum)) !=
	    f.checksum)
		FAIL(SNAP_DAMAGED, "index footer checksum mismatch");
	if (f.version != SNAP_VERSION || f.header_checksum != r->hdr.checksum ||
	    f.generation != r->hdr.generation)
		FAIL(SNAP_DAMAGED, "index footer does not belong to this file");
	if (f.index_offset < hsz || f.index_offset > size - fsz ||
	    f.index_len != size - fsz - f.index_offset ||
	    f.index_len < sizeof(struct snap_disk_index_head) ||
	    f.index_len > INDEX_MAX)
		FAIL(SNAP_DAMAGED, "index lies outside the file (truncated or "
		     "extended)");
	r->data_end = f.index_offset;
	r->index = malloc(f.index_len);
	if (!r->index)
		FAIL(SNAP_IO, "out of memory for the index");
	if (src_read(&r->src, f.index_offset, r->index, f.index_len))
		FAIL(SNAP_IO, "cannot read the index (%s)", strerror(errno));
	if (snap_hash(r->index, f.index_len) != f.index_checksum)
		FAIL(SNAP_DAMAGED, "index checksum mismatch");
	return SNAP_OK;
}

static bool name_valid(const char *n)
{
	size_t l = strnlen(n, SNAP_NAME_MAX);
	return l > 0 && l < SNAP_NAME_MAX;
}

static bool in_data(struct snap_reader *r, uint64_t off, uint64_t len)
{
	return off >= sizeof(r->hdr) && off <= r->data_end &&
	       len <= r->data_end - off;
}

static bool name_taken(struct snap_reader *r, const char *n)
{
	for (uint32_t i = 0; i < r->n_sections; i++)
		if (!strcmp(r->sections[i].name, n))
			return true;
	for (uint32_t i = 0; i < r->n_images; i++)
		if (!strcmp(r->images[i].img->name, n))
			return true;
	return false;
}

static enum snap_fail check_chunk(struct snap_reader *r,
				  const struct snap_disk_image *img,
				  const struct snap_disk_chunk *c, uint64_t k,
				  char *why)
{
	uint64_t n = snap_chunk_len(img, k);
	switch (c->kind) {
	case SNAP_CHUNK_ZERO:
		if (c->stored_len)
			FAIL(SNAP_DAMAGED, "chunk %llu: zero chunk with data",
			     (unsigned long long)k);
		return SNAP_OK;
	case SNAP_CHUNK_RAW:
		if (c->stored_len != n)
			FAIL(SNAP_DAMAGED, "chunk %llu: wrong raw length",
			     (unsigned long long)k);
		break;
	case SNAP_CHUNK_ZSTD:
		if (!c->stored_len || c->stored_len > ZSTD_compressBound(n))
			FAIL(SNAP_DAMAGED, "chunk %llu: wrong compressed length",
			     (unsigned long long)k);
		break;
	case SNAP_CHUNK_PREV:
		/* offset names the owner generation; its bytes are found
		 * and checked when resolved (snap_resolve_prev). */
		if (!c->offset || c->offset >= r->hdr.generation)
			FAIL(SNAP_DAMAGED, "chunk %llu refers to generation "
			     "%llu, which is not older",
			     (unsigned long long)k,
			     (unsigned long long)c->offset);
		if (!c->stored_len || c->stored_len > ZSTD_compressBound(n))
			FAIL(SNAP_DAMAGED, "chunk %llu: wrong stored length",
			     (unsigned long long)k);
		return SNAP_OK;
	default:
		FAIL(SNAP_DAMAGED, "chunk %llu: unknown kind %u",
		     (unsigned long long)k, c->kind);
	}
	if (!in_data(r, c->offset, c->stored_len))
		FAIL(SNAP_DAMAGED, "chunk %llu lies outside the data",
		     (unsigned long long)k);
	return SNAP_OK;
}

static enum snap_fail parse_image(struct snap_reader *r, uint64_t *pos,
				  uint64_t end, char *why)
{
	struct rimage *im = &r->images[r->n_images];
	if (end - *pos < sizeof(struct snap_disk_image))
		FAIL(SNAP_DAMAGED, "index is cut short");
	const struct snap_disk_image *img = (const void *)(r->index + *pos);
	*pos += sizeof(*img);
	if (!name_valid(img->name) || name_taken(r, img->name))
		FAIL(SNAP_DAMAGED, "memory image %u has a bad name", r->n_images);
	uint32_t cs = img->chunk_size;
	if (cs < SNAP_CHUNK_MIN || cs > SNAP_CHUNK_MAX || (cs & (cs - 1)))
		FAIL(SNAP_DAMAGED, "image '%s' has a bad chunk size", img->name);
	uint64_t n = img->len / cs + (img->len % cs != 0);
	if (img->n_chunks != n ||
	    n > (end - *pos) / sizeof(struct snap_disk_chunk))
		FAIL(SNAP_DAMAGED, "image '%s' has a bad chunk count",
		     img->name);
	im->img = img;
	im->chunks = (const void *)(r->index + *pos);
	*pos += n * sizeof(struct snap_disk_chunk);
	for (uint64_t k = 0; k < n; k++) {
		enum snap_fail f = check_chunk(r, img, &im->chunks[k], k, why);
		if (f)
			return f;
		uint8_t kind = im->chunks[k].kind;
		im->zero_chunks += kind == SNAP_CHUNK_ZERO;
		im->prev_chunks += kind == SNAP_CHUNK_PREV;
		if (kind != SNAP_CHUNK_PREV)
			im->stored_bytes += im->chunks[k].stored_len;
	}
	r->n_images++;
	return SNAP_OK;
}

static enum snap_fail parse_index(struct snap_reader *r, char *why)
{
	struct snap_disk_index_head ih;
	uint64_t end = r->src.size - sizeof(struct snap_disk_footer) -
		       r->data_end;
	memcpy(&ih, r->index, sizeof(ih));
	uint64_t pos = sizeof(ih);
	if (ih.n_sections > (end - pos) / sizeof(struct snap_disk_section) ||
	    ih.n_images > (end - pos) / sizeof(struct snap_disk_image))
		FAIL(SNAP_DAMAGED, "index counts are corrupt");
	r->sections = calloc(ih.n_sections + 1, sizeof(*r->sections));
	r->images = calloc(ih.n_images + 1, sizeof(*r->images));
	if (!r->sections || !r->images)
		FAIL(SNAP_IO, "out of memory for the index");
	for (uint32_t i = 0; i < ih.n_sections; i++) {
		const struct snap_disk_section *s =
			(const void *)(r->index + pos);
		pos += sizeof(*s);
		if (!name_valid(s->name) || name_taken(r, s->name))
			FAIL(SNAP_DAMAGED, "section %u has a bad name", i);
		if (s->len > SNAP_SECTION_MAX || !in_data(r, s->offset, s->len))
			FAIL(SNAP_DAMAGED, "section '%s' lies outside the data",
			     s->name);
		struct rsection *rs = &r->sections[r->n_sections++];
		rs->name = s->name;
		rs->len = s->len;
		rs->data = malloc(s->len ? s->len : 1);
		if (!rs->data)
			FAIL(SNAP_IO, "out of memory for section '%s'", s->name);
		if (src_read(&r->src, s->offset, rs->data, s->len))
			FAIL(SNAP_IO, "cannot read section '%s' (%s)", s->name,
			     strerror(errno));
		if (snap_hash(rs->data, s->len) != s->checksum)
			FAIL(SNAP_DAMAGED, "section '%s' checksum mismatch",
			     s->name);
	}
	for (uint32_t i = 0; i < ih.n_images; i++) {
		enum snap_fail f = parse_image(r, &pos, end, why);
		if (f)
			return f;
	}
	if (pos != end)
		FAIL(SNAP_DAMAGED, "index has trailing bytes");
	return SNAP_OK;
}

struct rimage *snap_find_image(struct snap_reader *r, const char *name)
{
	for (uint32_t i = 0; i < r->n_images; i++)
		if (!strcmp(r->images[i].img->name, name))
			return &r->images[i];
	return NULL;
}

/* The owner generation g, opened index-only once and kept in r. */
static struct snap_reader *owner_get(struct snap_reader *r, uint64_t g,
				     enum snap_fail *f, char *why)
{
	for (uint32_t i = 0; i < r->n_owners; i++)
		if (r->owners[i]->hdr.generation == g)
			return r->owners[i];
	struct snap_reader **no = realloc(r->owners,
					  (r->n_owners + 1) * sizeof(*no));
	if (!no) {
		*f = SNAP_IO;
		snap_errf(why, "out of memory");
		return NULL;
	}
	r->owners = no;
	struct snap_reader *o = snap_open_file(r->dir, g, SNAP_OPEN_INDEX, f,
					       why);
	if (o)
		r->owners[r->n_owners++] = o;
	return o;
}

static enum snap_fail resolve_image(struct snap_reader *r, struct rimage *im,
				    char *why)
{
	const struct snap_disk_image *img = im->img;
	struct rprev *prev = calloc(img->n_chunks, sizeof(*prev));
	if (!prev)
		FAIL(SNAP_IO, "out of memory resolving image '%s'", img->name);
	for (uint64_t k = 0; k < img->n_chunks; k++) {
		const struct snap_disk_chunk *c = &im->chunks[k];
		if (c->kind != SNAP_CHUNK_PREV)
			continue;
		unsigned long long g = c->offset, kk = k;
		const char *problem = NULL;
		char owhy[SNAP_ERR_LEN] = "";
		enum snap_fail of = SNAP_OK;
		struct snap_reader *o = NULL;
		if (!r->dir)
			problem = "which is not available here";
		else if (!(o = owner_get(r, g, &of, owhy)))
			problem = of == SNAP_MISSING ? "which is missing" : NULL;
		if (!problem && o) {
			const struct rimage *oi = snap_find_image(o, img->name);
			const struct snap_disk_chunk *oc =
				oi ? &oi->chunks[k] : NULL;
			if (!oi || oi->img->len != img->len ||
			    oi->img->chunk_size != img->chunk_size)
				problem = "which lacks that image";
			else if ((oc->kind != SNAP_CHUNK_ZSTD &&
				  oc->kind != SNAP_CHUNK_RAW) ||
				 oc->stored_len != c->stored_len ||
				 oc->checksum != c->checksum)
				problem = "which holds other data there";
			else
				prev[k] = (struct rprev){ .src = &o->src,
					.offset = oc->offset, .kind = oc->kind };
		}
		if (problem || !o) {
			free(prev);
			if (problem)
				snap_errf(why, "image '%s' chunk %llu refers to "
					  "generation %llu, %s", img->name, kk,
					  g, problem);
			else
				snap_errf(why, "image '%s' chunk %llu refers to "
					  "generation %llu, which %s (%s)",
					  img->name, kk, g,
					  snap_fail_words(of), owhy);
			return SNAP_DAMAGED;
		}
	}
	im->prev = prev;
	return SNAP_OK;
}

enum snap_fail snap_resolve_prev(struct snap_reader *r, struct rimage *im,
				 char why[SNAP_ERR_LEN])
{
	for (uint32_t i = 0; i < r->n_images; i++) {
		struct rimage *m = &r->images[i];
		if ((im && m != im) || !m->prev_chunks || m->prev)
			continue;
		enum snap_fail f = resolve_image(r, m, why);
		if (f)
			return f;
	}
	return SNAP_OK;
}

static struct snap_reader *open_src(struct snap_src src, const char *dir,
				    uint64_t expect_gen,
				    enum snap_open_mode mode,
				    struct snap_verify_memo *memo,
				    enum snap_fail *fail, char *why)
{
	struct snap_reader *r = calloc(1, sizeof(*r));
	if (r && dir && !(r->dir = strdup(dir))) {
		free(r);
		r = NULL;
	}
	if (!r) {
		*fail = SNAP_IO;
		snap_errf(why, "out of memory");
		if (src.fd >= 0)
			close(src.fd);
		return NULL;
	}
	r->src = src;
	enum snap_fail f = check_header(r, expect_gen, why);
	if (!f)
		f = read_index(r, why);
	if (!f)
		f = parse_index(r, why);
	if (!f && mode != SNAP_OPEN_INDEX)
		f = snap_resolve_prev(r, NULL, why);
	if (!f && mode != SNAP_OPEN_INDEX &&
	    snap_verify_chunks(r, snap_default_threads(),
			       mode == SNAP_OPEN_DEEP, memo, why))
		f = SNAP_DAMAGED;
	*fail = f;
	if (f) {
		snap_close(r);
		return NULL;
	}
	return r;
}

struct snap_reader *snap_open_file(const char *dir, uint64_t gen,
				   enum snap_open_mode mode,
				   enum snap_fail *fail,
				   char why[SNAP_ERR_LEN])
{
	return snap_open_file_memo(dir, gen, mode, NULL, fail, why);
}

struct snap_reader *snap_open_file_memo(const char *dir, uint64_t gen,
					enum snap_open_mode mode,
					struct snap_verify_memo *memo,
					enum snap_fail *fail,
					char why[SNAP_ERR_LEN])
{
	char path[PATH_MAX + 32];
	snap_gen_path(path, sizeof(path), dir, gen, false);
	/* O_NOATIME where allowed: reading a session leaves no trace. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		*fail = fd < 0 && errno == ENOENT ? SNAP_MISSING : SNAP_IO;
		snap_errf(why, fd < 0 ? "cannot open it (%s)" :
			  "not a regular file", strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (mode != SNAP_OPEN_INDEX)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	struct snap_src src = { .fd = fd, .size = (uint64_t)st.st_size };
	return open_src(src, dir, gen, mode, memo, fail, why);
}

/* No directory: PREV chunks cannot be resolved (nothing here ever touches
 * the filesystem), so a generation that has them is rejected. */
struct snap_reader *snap_open_buffer(const void *buf, size_t len,
				     char err[SNAP_ERR_LEN])
{
	enum snap_fail f;
	struct snap_src src = { .fd = -1, .buf = buf, .size = len };
	char why[SNAP_ERR_LEN];
	struct snap_reader *r = open_src(src, NULL, 0, SNAP_OPEN_VERIFY, NULL,
					 &f, why);
	if (!r)
		snap_errf(err, "session buffer: %s", why);
	return r;
}

const char *snap_fail_words(enum snap_fail f)
{
	switch (f) {
	case SNAP_FOREIGN: return "is not a tabi session file";
	case SNAP_WRONG_VERSION: return "was written by another tabi version";
	case SNAP_IO: case SNAP_MISSING: return "cannot be read";
	default: return "is damaged";
	}
}

static const char *fail_fix(enum snap_fail f, const char *dir)
{
	static __thread char fix[SNAP_ERR_LEN];
	switch (f) {
	case SNAP_FOREIGN:
		snprintf(fix, sizeof(fix), "check that --session points at a "
			 "tabi session directory, not %.200s", dir);
		break;
	case SNAP_WRONG_VERSION:
		snprintf(fix, sizeof(fix), "resume it with the tabi version "
			 "that froze it");
		break;
	case SNAP_IO:
	case SNAP_MISSING:
		snprintf(fix, sizeof(fix), "check that the stick is plugged in "
			 "and readable");
		break;
	default:
		snprintf(fix, sizeof(fix), "it cannot be resumed; move %.200s "
			 "aside and start a new session with `tabi run`", dir);
	}
	return fix;
}

struct snap_reader *snap_open(const char *dir, char err[SNAP_ERR_LEN],
			      char note[SNAP_ERR_LEN])
{
	return snap_open_memo(dir, NULL, err, note);
}

struct snap_reader *snap_open_memo(const char *dir,
				   struct snap_verify_memo *memo,
				   char err[SNAP_ERR_LEN],
				   char note[SNAP_ERR_LEN])
{
	if (note)
		note[0] = 0;
	uint64_t *gens;
	int n = snap_list_gens(dir, &gens);
	if (n < 0) {
		snap_errf(err, errno == ENOENT ?
			  "no frozen session in %s (no such directory): check "
			  "the --session path" : "cannot read session "
			  "directory %s (%s): check the path and permissions",
			  dir, strerror(errno));
		return NULL;
	}
	if (n == 0) {
		free(gens);
		snap_errf(err, "no frozen session in %s: start one with "
			  "`tabi run ... --session %s`", dir, dir);
		return NULL;
	}
	char why0[SNAP_ERR_LEN], why1[SNAP_ERR_LEN] = "", whyn[SNAP_ERR_LEN];
	enum snap_fail f0 = SNAP_OK, f1 = SNAP_OK;
	struct snap_reader *r = NULL;
	int i;
	/* Newest first. An incremental generation whose owner is damaged is
	 * damaged itself, so this skips it and every newer one that refers
	 * to the same bad chunk. */
	for (i = 0; i < n && !r; i++) {
		enum snap_fail f;
		char *why = i == 0 ? why0 : i == 1 ? why1 : whyn;
		r = snap_open_file_memo(dir, gens[i], SNAP_OPEN_VERIFY, memo,
					&f, why);
		if (i == 0)
			f0 = f;
		else if (i == 1 && !r)
			f1 = f;
	}
	i--;
	if (r && i == 1)
		snap_errf(note, "session %s: generation %llu %s (%s); resuming "
			  "generation %llu instead", dir,
			  (unsigned long long)gens[0], snap_fail_words(f0), why0,
			  (unsigned long long)gens[i]);
	else if (r && i == 2)
		snap_errf(note, "session %s: generation %llu %s (%s), "
			  "generation %llu %s too; resuming generation %llu "
			  "instead", dir,
			  (unsigned long long)gens[0], snap_fail_words(f0), why0,
			  (unsigned long long)gens[1], snap_fail_words(f1),
			  (unsigned long long)gens[i]);
	else if (r && i > 2)
		snap_errf(note, "session %s: generation %llu %s (%s), "
			  "generations %llu to %llu are unusable too; resuming "
			  "generation %llu instead", dir,
			  (unsigned long long)gens[0], snap_fail_words(f0), why0,
			  (unsigned long long)gens[i - 1],
			  (unsigned long long)gens[1],
			  (unsigned long long)gens[i]);
	else if (!r && n == 1)
		snap_errf(err, "session %s: generation %llu %s (%s): %s", dir,
			  (unsigned long long)gens[0], snap_fail_words(f0), why0,
			  fail_fix(f0, dir));
	else if (!r)
		snap_errf(err, "session %s: generation %llu %s (%s) and older "
			  "generation %llu %s too (%s): %s", dir,
			  (unsigned long long)gens[0], snap_fail_words(f0), why0,
			  (unsigned long long)gens[1], snap_fail_words(f1), why1,
			  fail_fix(f0, dir));
	free(gens);
	return r;
}

const void *snap_get_section(struct snap_reader *r, const char *name,
			     size_t *len)
{
	for (uint32_t i = 0; i < r->n_sections; i++)
		if (!strcmp(r->sections[i].name, name)) {
			if (len)
				*len = r->sections[i].len;
			return r->sections[i].data;
		}
	return NULL;
}

int64_t snap_memory_len(struct snap_reader *r, const char *name)
{
	for (uint32_t i = 0; i < r->n_images; i++)
		if (!strcmp(r->images[i].img->name, name))
			return (int64_t)r->images[i].img->len;
	return -1;
}

uint64_t snap_generation(struct snap_reader *r)
{
	return r->hdr.generation;
}

uint64_t snap_created_ns(struct snap_reader *r)
{
	return r->hdr.created_ns;
}

int snap_section_count(struct snap_reader *r)
{
	return (int)r->n_sections;
}

const char *snap_section_name(struct snap_reader *r, int i)
{
	return r->sections[i].name;
}

int snap_image_count(struct snap_reader *r)
{
	return (int)r->n_images;
}

void snap_image_info(struct snap_reader *r, int i, struct snap_image_info *o)
{
	const struct rimage *im = &r->images[i];
	o->name = im->img->name;
	o->len = im->img->len;
	o->n_chunks = im->img->n_chunks;
	o->zero_chunks = im->zero_chunks;
	o->stored_bytes = im->stored_bytes;
	o->prev_chunks = im->prev_chunks;
	o->chunk_size = im->img->chunk_size;
}

bool snap_is_incremental(struct snap_reader *r)
{
	for (uint32_t i = 0; i < r->n_images; i++)
		if (r->images[i].prev_chunks)
			return true;
	return false;
}

void snap_close(struct snap_reader *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->n_sections; i++)
		free(r->sections[i].data);
	for (uint32_t i = 0; r->images && i < r->n_images; i++)
		free(r->images[i].prev);
	for (uint32_t i = 0; i < r->n_owners; i++)
		snap_close(r->owners[i]);
	free(r->owners);
	free(r->sections);
	free(r->images);
	free(r->index);
	free(r->dir);
	if (r->src.fd >= 0)
		close(r->src.fd);
	free(r);
}
