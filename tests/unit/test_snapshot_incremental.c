/* Incremental generations: PREV chunks written by snap_put_memory_since,
 * resolved against older generations when read, verify_clean, damage in an
 * owner generation, missing owners, retention at commit. */
#include "unit.h"
#include "test_snapshot_lib.h"
#include "reader.h"

#define CS ((uint64_t)SNAP_MEMORY_CHUNK)
#define NCH 24                              /* chunks; the last is partial */
static const uint64_t len = (NCH - 1) * CS + 1000;

static void fill(uint8_t *m, uint64_t k, int kind, uint64_t seed)
{
	uint64_t n = k == NCH - 1 ? len - k * CS : CS;
	uint8_t *p = m + k * CS;
	t_rng = seed * 7919 + k + 1;
	switch (kind) {
	case 0:
		memset(p, 0, n);
		break;
	case 1:                                 /* random: stored raw */
		for (uint64_t i = 0; i < n; i++)
			p[i] = (uint8_t)t_rand();
		break;
	case 2:                                 /* compressible: zstd */
		for (uint64_t i = 0; i < n; i++)
			p[i] = "incremental tabi text "[(i + seed) % 22];
		break;
	default:                                /* half zero */
		memset(p, 0, n);
		for (uint64_t i = 0; i < n / 2; i++)
			p[i] = (uint8_t)(i * 13 + seed);
	}
}

static void set_bit(uint64_t *bm, uint64_t k)
{
	bm[k / 64] |= 1ull << (k % 64);
}

static uint64_t prog_last, prog_total;
static void prog(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	CHECK(done <= total);
	prog_last = done;
	prog_total = total;
}

/* Writes one generation: a config section and "ram" since parent_gen
 * (0: full). keep_from 0: default retention. Returns the put's result, and
 * err from the commit. */
static int write_incr(const char *dir, const uint8_t *mem, uint64_t parent_gen,
		      const uint64_t *changed, bool verify_clean,
		      uint64_t keep_from, uint64_t *stored, char *err)
{
	struct snap_writer *w = snap_begin(dir, err);
	if (!w)
		return -1;
	struct snap_reader *parent = NULL;
	if (parent_gen) {
		parent = snap_open_generation_index(dir, parent_gen, err);
		CHECK(parent != NULL);
	}
	if (keep_from)
		snap_set_keep_from(w, keep_from);
	int rc = snap_put_section(w, "config", t_config, strlen(t_config));
	prog_last = prog_total = 0;
	if (!rc)
		rc = snap_put_memory_since(w, "ram", mem, len, parent, changed,
					   verify_clean, 2, prog, NULL, stored);
	snap_close(parent);
	int crc = snap_commit(w, err);
	return rc ? rc : crc;
}

/* Reads generation gen (fully verified) and compares its memory. */
static bool reads_back(const char *dir, uint64_t gen, const uint8_t *mem)
{
	char err[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open_generation(dir, gen, err);
	if (!r) {
		fprintf(stderr, "open %llu: %s\n", (unsigned long long)gen, err);
		return false;
	}
	uint8_t *dst = malloc(len);
	memset(dst, 0x5a, len);
	bool ok = snap_get_memory(r, "ram", dst, len, 3, false, NULL, NULL,
				  err) == 0 && !memcmp(dst, mem, len);
	memset(dst, 0, len);
	ok = ok && snap_get_memory(r, "ram", dst, len, 1, true, NULL, NULL,
				   err) == 0 && !memcmp(dst, mem, len);
	free(dst);
	snap_close(r);
	return ok;
}

static const struct snap_disk_chunk *entry(struct snap_reader *r, uint64_t k)
{
	return &snap_find_image(r, "ram")->chunks[k];
}

/* File offset of chunk k's stored bytes in generation gen. */
static uint64_t stored_at(const char *dir, uint64_t gen, uint64_t k)
{
	char err[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open_generation_index(dir, gen, err);
	CHECK(r != NULL);
	uint64_t off = r ? entry(r, k)->offset : 0;
	CHECK(r && entry(r, k)->kind != SNAP_CHUNK_PREV &&
	      entry(r, k)->kind != SNAP_CHUNK_ZERO);
	snap_close(r);
	return off;
}

static void flip(const char *path, uint64_t off)
{
	CHECK(t_flip(path, off, 0x20));
}

static uint8_t *m1, *m2, *m3;

/* gen 1 full, gen 2 since 1, gen 3 since 2. */
static void write_chain(const char *dir)
{
	char err[SNAP_ERR_LEN];
	uint64_t stored = 99, changed[1] = { 0 };
	m1 = malloc(len);
	for (uint64_t k = 0; k < NCH; k++)
		fill(m1, k, (int)(k % 4), 1);
	/* No parent: everything stored, like snap_put_memory. */
	CHECK_EQ(write_incr(dir, m1, 0, NULL, true, 1, &stored, err), 0);
	CHECK_EQ(stored, NCH - NCH / 4);        /* every 4th chunk is zero */
	CHECK_EQ(prog_last, len);

	/* gen 2: chunk 1 new random, chunk 2 became zero, chunk 4 was zero
	 * and is text now, the partial tail chunk changed; chunk 6 marked
	 * but unchanged (stored again all the same). */
	m2 = malloc(len);
	memcpy(m2, m1, len);
	fill(m2, 1, 1, 2);
	fill(m2, 2, 0, 2);
	fill(m2, 4, 2, 2);
	fill(m2, NCH - 1, 1, 2);
	set_bit(changed, 1);
	set_bit(changed, 2);
	set_bit(changed, 4);
	set_bit(changed, 6);
	set_bit(changed, NCH - 1);
	CHECK_EQ(write_incr(dir, m2, 1, changed, true, 1, &stored, err), 0);
	CHECK_EQ(stored, 4);                    /* 1, 4, 6, tail; 2 is zero */
	CHECK_EQ(prog_last, len);
	CHECK_EQ(prog_total, len);

	/* gen 3: chunks 5 and 9 changed; the rest from gen 1 or gen 2. */
	m3 = malloc(len);
	memcpy(m3, m2, len);
	fill(m3, 5, 3, 3);
	fill(m3, 9, 2, 3);
	changed[0] = 0;
	set_bit(changed, 5);
	set_bit(changed, 9);
	CHECK_EQ(write_incr(dir, m3, 2, changed, true, 1, &stored, err), 0);
	CHECK_EQ(stored, 2);
	CHECK(t_exists(t_gen_path(dir, 1)) && t_exists(t_gen_path(dir, 2)) &&
	      t_exists(t_gen_path(dir, 3)));
}

static void chain(void)
{
	char *dir = t_mkdtemp();
	char err[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	write_chain(dir);
	CHECK(reads_back(dir, 1, m1));
	CHECK(reads_back(dir, 2, m2));
	CHECK(reads_back(dir, 3, m3));

	/* The entries: depth one, always the physical owner. */
	struct snap_reader *r = snap_open_generation_index(dir, 3, err);
	CHECK(r != NULL);
	CHECK(snap_is_incremental(r));
	CHECK_EQ(entry(r, 0)->kind, SNAP_CHUNK_ZERO);
	CHECK_EQ(entry(r, 2)->kind, SNAP_CHUNK_ZERO);   /* became zero in 2 */
	CHECK(entry(r, 1)->kind == SNAP_CHUNK_PREV && entry(r, 1)->offset == 2);
	CHECK(entry(r, 3)->kind == SNAP_CHUNK_PREV && entry(r, 3)->offset == 1);
	CHECK(entry(r, 4)->kind == SNAP_CHUNK_PREV && entry(r, 4)->offset == 2);
	CHECK(entry(r, 7)->kind == SNAP_CHUNK_PREV && entry(r, 7)->offset == 1);
	CHECK(entry(r, 5)->kind == SNAP_CHUNK_ZSTD);
	CHECK(entry(r, 9)->kind == SNAP_CHUNK_ZSTD);
	CHECK(entry(r, NCH - 1)->kind == SNAP_CHUNK_PREV &&
	      entry(r, NCH - 1)->offset == 2);
	/* An index-only reader resolves its PREV chunks when read. */
	uint8_t *dst = malloc(len);
	CHECK(snap_get_memory(r, "ram", dst, len, 2, false, NULL, NULL, err)
	      == 0);
	CHECK(memcmp(dst, m3, len) == 0);
	struct snap_image_info ii;
	snap_image_info(r, 0, &ii);
	CHECK_EQ(ii.prev_chunks, NCH - 6 - 2);  /* 6 zero, 2 own */
	CHECK(ii.stored_bytes > 0 && ii.stored_bytes < 2 * CS);
	snap_close(r);
	r = snap_open_generation(dir, 1, err);
	CHECK(r && !snap_is_incremental(r));
	snap_image_info(r, 0, &ii);
	CHECK_EQ(ii.prev_chunks, 0);
	snap_close(r);
	r = snap_open_generation(dir, 2, err);
	CHECK(r && snap_is_incremental(r));
	snap_close(r);

	r = snap_open(dir, err, note);
	CHECK(r && snap_generation(r) == 3 && !note[0]);
	snap_close(r);
	CHECK_EQ(t_cli("verify", dir), 0);
	CHECK_EQ(t_cli("info", dir), 0);

	/* A buffer has no directory to find owners in. */
	size_t fl;
	uint8_t *f = t_read_file(t_gen_path(dir, 3), &fl);
	r = snap_open_buffer(f, fl, err);
	CHECK(r == NULL);
	CHECK(strstr(err, "refers to generation") &&
	      strstr(err, "which is not available here"));
	free(f);
	f = t_read_file(t_gen_path(dir, 1), &fl);
	r = snap_open_buffer(f, fl, err);
	CHECK(r != NULL);
	snap_close(r);
	free(f);
	free(dst);
	t_rmrf(dir);
	free(dir);
}

/* Puts m3 with one byte changed in chunk k (not marked) since gen 3;
 * expects the message for k, or success when marked. */
static void unmarked(const char *dir, uint64_t k, bool mark)
{
	char err[SNAP_ERR_LEN] = "";
	uint8_t *m = malloc(len);
	memcpy(m, m3, len);
	m[k * CS + 77] ^= 1;
	uint64_t changed[1] = { 0 };
	if (mark)
		set_bit(changed, k);
	struct snap_writer *w = snap_begin(dir, err);
	struct snap_reader *parent = snap_open_generation_index(dir, 3, err);
	int rc = snap_put_memory_since(w, "ram", m, len, parent, changed, true,
				       2, NULL, NULL, NULL);
	snap_close(parent);
	if (mark) {
		CHECK_EQ(rc, 0);
		snap_abort(w);
	} else {
		CHECK(rc != 0);
		CHECK(snap_commit(w, err) != 0);
		char want[128];
		snprintf(want, sizeof(want), "memory image 'ram' chunk %llu "
			 "changed but was not marked changed (dirty tracking "
			 "missed a write)", (unsigned long long)k);
		CHECK(strstr(err, want) != NULL);
		if (!strstr(err, want))
			fprintf(stderr, "err: %s\n", err);
	}
	CHECK(!t_exists(t_gen_path(dir, 4)));
	/* Without verify_clean the same write goes unnoticed. */
	if (!mark) {
		w = snap_begin(dir, err);
		parent = snap_open_generation_index(dir, 3, err);
		CHECK_EQ(snap_put_memory_since(w, "ram", m, len, parent,
					       changed, false, 2, NULL, NULL,
					       NULL), 0);
		snap_close(parent);
		snap_abort(w);
	}
	free(m);
}

static void verify_clean(void)
{
	char *dir = t_mkdtemp();
	write_chain(dir);
	unmarked(dir, 3, false);     /* PREV into gen 1, raw */
	unmarked(dir, 1, false);     /* PREV into gen 2 */
	unmarked(dir, 7, false);     /* PREV into gen 1, half zero */
	unmarked(dir, 8, false);     /* ZERO */
	unmarked(dir, 9, false);     /* gen 3's own zstd chunk */
	unmarked(dir, NCH - 1, false);
	unmarked(dir, 3, true);
	unmarked(dir, 8, true);
	t_rmrf(dir);
	free(dir);
}

static void damaged_owner(void)
{
	char *dir = t_mkdtemp();
	char err[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	write_chain(dir);
	char p1[4096], p2[4096];
	snprintf(p1, sizeof(p1), "%s", t_gen_path(dir, 1));
	snprintf(p2, sizeof(p2), "%s", t_gen_path(dir, 2));

	/* Chunk 5 of gen 1 is referenced by gen 2 only (gen 3 changed it):
	 * gen 2 is unusable, gen 3 is not. */
	uint64_t off = stored_at(dir, 1, 5) + 100;
	flip(p1, off);
	struct snap_reader *r = snap_open(dir, err, note);
	CHECK(r && snap_generation(r) == 3 && !note[0]);
	snap_close(r);
	r = snap_open_generation(dir, 2, err);
	CHECK(r == NULL);
	CHECK(strstr(err, "chunk 5 (stored in generation 1) checksum "
		      "mismatch") != NULL);
	flip(p1, off);

	/* Chunk 3 of gen 1 is referenced by gens 2 and 3: nothing is usable
	 * (gen 1 itself holds the bad chunk). */
	off = stored_at(dir, 1, 3) + 5;
	flip(p1, off);
	r = snap_open(dir, err, note);
	CHECK(r == NULL);
	CHECK(strstr(err, "generation 3 is damaged (image 'ram' chunk 3 "
		      "(stored in generation 1) checksum mismatch)") != NULL);
	CHECK(strstr(err, "older generation 2 is damaged too") != NULL);
	CHECK(!strchr(err, '\n'));
	CHECK_EQ(t_cli("verify", dir), 2);
	flip(p1, off);

	/* Chunk 1 of gen 2 is referenced by gen 3: both unusable, gen 1 is
	 * resumed with a note naming the damage. */
	off = stored_at(dir, 2, 1) + 4000;
	flip(p2, off);
	r = snap_open(dir, err, note);
	CHECK(r && snap_generation(r) == 1);
	CHECK(strstr(note, "generation 3 is damaged (image 'ram' chunk 1 "
		      "(stored in generation 2) checksum mismatch), generation "
		      "2 is damaged too; resuming generation 1 instead")
	      != NULL);
	if (!r || snap_generation(r) != 1)
		fprintf(stderr, "err: %s\n", err);
	uint8_t *dst = malloc(len);
	CHECK(r && snap_get_memory(r, "ram", dst, len, 2, false, NULL, NULL,
				   err) == 0 && memcmp(dst, m1, len) == 0);
	snap_close(r);
	CHECK_EQ(t_cli("verify", dir), 1);
	flip(p2, off);
	CHECK(reads_back(dir, 3, m3));

	/* The owner's index damaged: named as such. */
	flip(p1, 20);
	r = snap_open_generation(dir, 3, err);
	CHECK(r == NULL);
	CHECK(strstr(err, "refers to generation 1, which is damaged (header "
		      "checksum mismatch)") != NULL);
	flip(p1, 20);

	/* The owner missing: gens 3 and 2 are damaged. */
	char moved[4200];
	snprintf(moved, sizeof(moved), "%s/moved", dir);
	CHECK_EQ(rename(p1, moved), 0);
	r = snap_open_generation(dir, 3, err);
	CHECK(r == NULL);
	CHECK(strstr(err, "refers to generation 1, which is missing") != NULL);
	r = snap_open(dir, err, note);
	CHECK(r == NULL);
	CHECK(strstr(err, "generation 3 is damaged") &&
	      strstr(err, "which is missing") &&
	      strstr(err, "older generation 2 is damaged too"));
	CHECK_EQ(t_cli("verify", dir), 2);
	CHECK_EQ(rename(moved, p1), 0);
	CHECK(reads_back(dir, 3, m3));

	/* Damage after open is caught when reading (owner bytes re-checked). */
	r = snap_open(dir, err, note);
	CHECK(r && snap_generation(r) == 3);
	off = stored_at(dir, 1, 3) + 5;
	flip(p1, off);
	CHECK(r && snap_get_memory(r, "ram", dst, len, 2, false, NULL, NULL,
				   err) != 0);
	CHECK(strstr(err, "(stored in generation 1) checksum mismatch") != NULL);
	snap_close(r);
	free(dst);
	t_rmrf(dir);
	free(dir);
}

/* Rewrites chunk k's entry of image 0 in generation gen with valid index
 * and footer checksums: only the reference itself is wrong. */
static void patch_entry(const char *dir, int gen, uint64_t k,
			uint64_t offset, uint64_t checksum_xor)
{
	size_t fl;
	uint8_t *f = t_read_file(t_gen_path(dir, gen), &fl);
	struct snap_disk_footer ft;
	struct snap_disk_index_head ih;
	memcpy(&ft, f + fl - 64, 64);
	memcpy(&ih, f + ft.index_offset, 16);
	uint64_t pos = ft.index_offset + 16 + ih.n_sections * 96ull + 96 + k * 24;
	struct snap_disk_chunk c;
	memcpy(&c, f + pos, 24);
	c.offset = offset;
	c.checksum ^= checksum_xor;
	memcpy(f + pos, &c, 24);
	ft.index_checksum = snap_hash(f + ft.index_offset, ft.index_len);
	ft.checksum = snap_hash(&ft, 56);
	memcpy(f + fl - 64, &ft, 64);
	CHECK_EQ(t_write_file(t_gen_path(dir, gen), f, fl), 0);
	free(f);
}

static void bad_references(void)
{
	char *dir = t_mkdtemp();
	char err[SNAP_ERR_LEN];
	write_chain(dir);
	size_t fl;
	uint8_t *orig = t_read_file(t_gen_path(dir, 3), &fl);
	struct {
		uint64_t k, offset, xor;
		const char *want;
	} cases[] = {
		{ 3, 1, 0, NULL },                              /* as written */
		{ 3, 1, 4, "chunk 3 refers to generation 1, which holds other "
			   "data there" },
		{ 3, 2, 0, "chunk 3 refers to generation 2, which holds other "
			   "data there" },                      /* depth one */
		{ 3, 3, 0, "chunk 3 refers to generation 3, which is not "
			   "older" },
		{ 3, 0, 0, "which is not older" },
		{ 3, 7, 0, "which is not older" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(t_write_file(t_gen_path(dir, 3), orig, fl), 0);
		patch_entry(dir, 3, cases[i].k, cases[i].offset, cases[i].xor);
		struct snap_reader *r = snap_open_generation(dir, 3, err);
		CHECK((r != NULL) == (cases[i].want == NULL));
		if (cases[i].want)
			CHECK(strstr(err, cases[i].want) != NULL);
		if (r && cases[i].k == 3)
			CHECK(reads_back(dir, 3, m3));
		snap_close(r);
	}
	/* A PREV entry pointing at a generation whose chunk is itself PREV
	 * (gen 2's chunk 3) is refused: references are depth one. */
	CHECK_EQ(t_write_file(t_gen_path(dir, 3), orig, fl), 0);
	patch_entry(dir, 3, 3, 2, 0);
	struct snap_reader *r = snap_open_generation(dir, 3, err);
	CHECK(r == NULL);
	free(orig);
	t_rmrf(dir);
	free(dir);
}

static void retention(void)
{
	char *dir = t_mkdtemp();
	char err[SNAP_ERR_LEN];
	uint8_t *a = malloc(len), *b = malloc(len);
	uint64_t changed[1] = { 0 }, all[1] = { ~0ull };
	for (uint64_t k = 0; k < NCH; k++) {
		fill(a, k, (int)(k % 4), 11);
		fill(b, k, (int)((k + 1) % 4), 12);
	}
	CHECK_EQ(write_incr(dir, a, 0, NULL, false, 0, NULL, err), 0);   /* 1 */
	CHECK_EQ(write_incr(dir, b, 0, NULL, false, 0, NULL, err), 0);   /* 2 */
	set_bit(changed, 2);
	fill(b, 2, 1, 13);
	/* 3 refers to 2 (its fallback); 1 is unreferenced: removed. */
	CHECK_EQ(write_incr(dir, b, 2, changed, true, 3, NULL, err), 0);
	CHECK(!t_exists(t_gen_path(dir, 1)) && t_exists(t_gen_path(dir, 2)) &&
	      t_exists(t_gen_path(dir, 3)));
	/* 4 refers to 2 and 3: 2 is kept as its owner. */
	fill(b, 5, 2, 14);
	changed[0] = 0;
	set_bit(changed, 5);
	CHECK_EQ(write_incr(dir, b, 3, changed, true, 4, NULL, err), 0);
	CHECK(t_exists(t_gen_path(dir, 2)) && t_exists(t_gen_path(dir, 3)));
	/* 5 stores everything, but its fallback 4 refers to 2 and 3. */
	CHECK_EQ(write_incr(dir, b, 4, all, true, 5, NULL, err), 0);
	CHECK(t_exists(t_gen_path(dir, 2)) && t_exists(t_gen_path(dir, 3)) &&
	      t_exists(t_gen_path(dir, 4)));
	CHECK(reads_back(dir, 4, b));
	/* 6: neither it nor its fallback 5 refers to anything. */
	CHECK_EQ(write_incr(dir, b, 0, NULL, false, 6, NULL, err), 0);
	CHECK(!t_exists(t_gen_path(dir, 2)) && !t_exists(t_gen_path(dir, 3)) &&
	      !t_exists(t_gen_path(dir, 4)) && t_exists(t_gen_path(dir, 5)));
	/* keep_from keeps everything from it on. */
	CHECK_EQ(write_incr(dir, b, 6, changed, true, 5, NULL, err), 0);  /* 7 */
	CHECK_EQ(write_incr(dir, b, 0, NULL, false, 5, NULL, err), 0);    /* 8 */
	CHECK(t_exists(t_gen_path(dir, 5)) && t_exists(t_gen_path(dir, 6)) &&
	      t_exists(t_gen_path(dir, 7)));
	CHECK(reads_back(dir, 7, b) && reads_back(dir, 8, b));

	/* Default retention with incremental ones: the new one's and the
	 * fallback's owners stay, the rest goes as before. */
	CHECK_EQ(write_incr(dir, a, 0, NULL, false, 0, NULL, err), 0);   /* 9 */
	CHECK(!t_exists(t_gen_path(dir, 7)) && t_exists(t_gen_path(dir, 8)));
	CHECK_EQ(write_incr(dir, a, 9, changed, true, 0, NULL, err), 0); /* 10 */
	CHECK_EQ(write_incr(dir, a, 10, changed, true, 0, NULL, err), 0); /* 11 */
	CHECK(!t_exists(t_gen_path(dir, 8)) && t_exists(t_gen_path(dir, 9)) &&
	      t_exists(t_gen_path(dir, 10)));
	CHECK_EQ(write_incr(dir, a, 0, NULL, false, 0, NULL, err), 0);   /* 12 */
	CHECK(t_exists(t_gen_path(dir, 9)) && t_exists(t_gen_path(dir, 11)));
	CHECK(!t_exists(t_gen_path(dir, 10)));   /* 11 refers only to 9 */
	CHECK(reads_back(dir, 11, a));
	CHECK_EQ(write_incr(dir, a, 0, NULL, false, 0, NULL, err), 0);   /* 13 */
	CHECK(!t_exists(t_gen_path(dir, 9)) && !t_exists(t_gen_path(dir, 11)) &&
	      t_exists(t_gen_path(dir, 12)));

	/* A fallback whose index cannot be read: nothing is removed. */
	CHECK_EQ(write_incr(dir, a, 0, NULL, false, 0, NULL, err), 0);   /* 14 */
	CHECK(!t_exists(t_gen_path(dir, 12)));
	size_t fl;
	uint8_t *f = t_read_file(t_gen_path(dir, 14), &fl);
	CHECK_EQ(t_write_file(t_gen_path(dir, 14), f, fl - 10), 0);
	CHECK_EQ(write_incr(dir, a, 0, NULL, false, 0, NULL, err), 0);   /* 15 */
	CHECK(t_exists(t_gen_path(dir, 13)) && t_exists(t_gen_path(dir, 14)));
	free(f);
	free(a);
	free(b);
	t_rmrf(dir);
	free(dir);
}

/* Parents that cannot be used: everything is stored. */
static void no_parent(void)
{
	char *dir = t_mkdtemp(), *other = t_mkdtemp();
	char err[SNAP_ERR_LEN];
	uint8_t *a = malloc(len);
	for (uint64_t k = 0; k < NCH; k++)
		fill(a, k, (int)(k % 4), 21);
	uint64_t none[1] = { 0 }, stored = 0;
	CHECK_EQ(write_incr(dir, a, 0, NULL, false, 0, NULL, err), 0);
	CHECK_EQ(write_incr(other, a, 0, NULL, false, 0, NULL, err), 0);
	struct snap_writer *w = snap_begin(dir, err);
	struct snap_reader *p = snap_open_generation_index(other, 1, err);
	/* Another directory's generation; another length; another name. */
	CHECK_EQ(snap_put_memory_since(w, "ram", a, len, p, none, true, 1,
				       NULL, NULL, &stored), 0);
	CHECK_EQ(stored, NCH - NCH / 4);
	snap_close(p);
	p = snap_open_generation_index(dir, 1, err);
	CHECK_EQ(snap_put_memory_since(w, "ram2", a, len, p, none, true, 1,
				       NULL, NULL, &stored), 0);
	CHECK_EQ(stored, NCH - NCH / 4);
	snap_close(p);
	CHECK_EQ(snap_commit(w, err), 0);
	struct snap_reader *r = snap_open_generation(dir, 2, err);
	CHECK(r && !snap_is_incremental(r));
	snap_close(r);
	/* Another length (and another chunk count). */
	w = snap_begin(dir, err);
	p = snap_open_generation_index(dir, 1, err);
	CHECK_EQ(snap_put_memory_since(w, "ram", a, len - CS, p, none, true, 1,
				       NULL, NULL, &stored), 0);
	CHECK_EQ(stored, NCH - 1 - NCH / 4);
	snap_close(p);
	CHECK_EQ(snap_commit(w, err), 0);
	r = snap_open_generation(dir, 3, err);
	CHECK(r && !snap_is_incremental(r));
	snap_close(r);
	free(a);
	t_rmrf(dir);
	t_rmrf(other);
	free(dir);
	free(other);
}

int main(void)
{
	chain();
	free(m1);
	free(m2);
	free(m3);
	verify_clean();
	free(m1);
	free(m2);
	free(m3);
	damaged_owner();
	free(m1);
	free(m2);
	free(m3);
	bad_references();
	free(m1);
	free(m2);
	free(m3);
	retention();
	no_parent();
	UNIT_MAIN_END();
}
