/* `tabi snapshot verify|info` on a chain of incremental generations: each
 * physically stored chunk is read and checked once per run (verification
 * memo), with the same verdicts and messages as opening every generation
 * on its own; a bad chunk still makes every generation referring to it
 * bad. */
#include "unit.h"
#include "test_snapshot_lib.h"
#include "reader.h"

#define CS ((uint64_t)SNAP_MEMORY_CHUNK)
#define NCH 32
#define NGEN 6
static const uint64_t len = NCH * CS - 3000;   /* last chunk partial */

static uint64_t chunk_n(uint64_t k)
{
	return k == NCH - 1 ? len - k * CS : CS;
}

/* Every 8th chunk zero, every 3rd random (stored raw), the rest text. */
static void fill(uint8_t *m, uint64_t k, uint64_t seed)
{
	uint8_t *p = m + k * CS;
	uint64_t n = chunk_n(k);
	t_rng = seed * 104729 + k + 1;
	if (k % 8 == 0)
		memset(p, 0, n);
	else if (k % 3 == 0)
		for (uint64_t i = 0; i < n; i++)
			p[i] = (uint8_t)t_rand();
	else
		for (uint64_t i = 0; i < n; i++)
			p[i] = "verify once, tabi "[(i + seed + k) % 18];
}

/* gen 1 full; gen g (2..NGEN) since g-1 with chunk g changed: every other
 * chunk refers to gen 1 (or to the gen that last changed it). */
static void write_chain(const char *dir, uint8_t *mem)
{
	char err[SNAP_ERR_LEN];
	for (uint64_t k = 0; k < NCH; k++)
		fill(mem, k, 1);
	for (uint64_t g = 1; g <= NGEN; g++) {
		uint64_t changed[1] = { 0 };
		if (g > 1) {
			fill(mem, g, g);
			changed[0] = 1ull << g;
		}
		struct snap_writer *w = snap_begin(dir, err);
		CHECK(w != NULL);
		if (!w)
			return;
		snap_set_keep_from(w, 1);
		struct snap_reader *parent = g > 1 ?
			snap_open_generation_index(dir, g - 1, err) : NULL;
		CHECK(g == 1 || parent != NULL);
		CHECK_EQ(snap_put_section(w, "config", t_config,
					  strlen(t_config)), 0);
		CHECK_EQ(snap_put_memory_since(w, "ram", mem, len, parent,
					       g > 1 ? changed : NULL, false, 2,
					       NULL, NULL, NULL), 0);
		snap_close(parent);
		CHECK_EQ(snap_commit(w, err), 0);
	}
}

/* Chunks of all generations: physically stored (ZSTD/RAW) ones, and the
 * non-zero ones (stored or referenced) that a run without the memo reads. */
static void count_chunks(const char *dir, uint64_t *stored, uint64_t *nonzero)
{
	char err[SNAP_ERR_LEN];
	*stored = *nonzero = 0;
	for (uint64_t g = 1; g <= NGEN; g++) {
		struct snap_reader *r = snap_open_generation_index(dir, g, err);
		CHECK(r != NULL);
		if (!r)
			continue;
		const struct rimage *im = snap_find_image(r, "ram");
		for (uint64_t k = 0; k < NCH; k++) {
			uint8_t kind = im->chunks[k].kind;
			*stored += kind == SNAP_CHUNK_ZSTD ||
				   kind == SNAP_CHUNK_RAW;
			*nonzero += kind != SNAP_CHUNK_ZERO;
		}
		snap_close(r);
	}
}

static int cli_out(const char *cmd, const char *dir, char *out, size_t n)
{
	return t_cli_out(cmd, dir, out, n);
}

/* What verify printed before the memo: each generation opened deep on
 * its own (snap_open_file, no memo), then the closing line. */
static int expected_verify(const char *dir, char *out, size_t n)
{
	size_t at = 0;
	int first_good = -1;
	out[0] = 0;
	for (int i = 0; i < NGEN; i++) {
		uint64_t g = NGEN - (uint64_t)i;
		char why[SNAP_ERR_LEN];
		enum snap_fail f;
		struct snap_reader *r = snap_open_file(dir, g, SNAP_OPEN_DEEP,
						       &f, why);
		if (r && first_good < 0)
			first_good = i;
		at += (size_t)snprintf(out + at, n - at, r ?
				"generation %llu: good\n" :
				"generation %llu: bad (%s)\n",
				(unsigned long long)g, why);
		snap_close(r);
	}
	if (first_good > 0)
		snprintf(out + at, n - at, "newest generation %d is bad; resume "
			 "would use generation %d\n", NGEN, NGEN - first_good);
	else if (first_good < 0)
		snprintf(out + at, n - at, "no good generation in %s: the "
			 "session cannot be resumed\n", dir);
	return first_good == 0 ? 0 : first_good > 0 ? 1 : 2;
}

/* File offset of the middle of chunk k's stored bytes in generation gen
 * (a text chunk compresses to a few dozen bytes). */
static uint64_t stored_at(const char *dir, uint64_t gen, uint64_t k)
{
	char err[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open_generation_index(dir, gen, err);
	CHECK(r != NULL);
	if (!r)
		return 0;
	const struct snap_disk_chunk *c = &snap_find_image(r, "ram")->chunks[k];
	CHECK(c->kind == SNAP_CHUNK_ZSTD || c->kind == SNAP_CHUNK_RAW);
	uint64_t off = c->offset + c->stored_len / 2;
	snap_close(r);
	return off;
}

static void flip(const char *path, uint64_t off)
{
	CHECK(t_flip(path, off, 0x40));
}

static char got[16384], want[16384];

/* Damages one stored chunk, checks verify against the memo-less verdicts,
 * and repairs it. Returns the run's chunk verifications. */
static uint64_t damaged_run(const char *dir, uint64_t owner, uint64_t k,
			    int want_rc, const char *want_line)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_gen_path(dir, (int)owner));
	uint64_t off = stored_at(dir, owner, k);
	flip(path, off);
	int erc = expected_verify(dir, want, sizeof(want));
	int rc = cli_out("verify", dir, got, sizeof(got));
	uint64_t checks = snap_cli_chunk_checks();
	CHECK_EQ(erc, want_rc);
	CHECK_EQ(rc, want_rc);
	CHECK(!strcmp(got, want));
	CHECK(strstr(got, want_line) != NULL);
	if (strcmp(got, want) || !strstr(got, want_line))
		fprintf(stderr, "got:\n%swant:\n%s", got, want);
	flip(path, off);
	return checks;
}

static void chain_verify(void)
{
	char *dir = t_mkdtemp();
	uint8_t *mem = malloc(len);
	write_chain(dir, mem);
	uint64_t stored, nonzero;
	count_chunks(dir, &stored, &nonzero);
	/* gen 1 stores the NCH - NCH/8 non-zero chunks, gens 2..6 one each
	 * (chunk 2 is text, 3 random, 4 text, 5 text, 6 random: none zero). */
	CHECK_EQ(stored, NCH - NCH / 8 + NGEN - 1);
	CHECK_EQ(nonzero, NGEN * (NCH - NCH / 8));

	/* All good: every stored chunk checked exactly once. */
	CHECK_EQ(expected_verify(dir, want, sizeof(want)), 0);
	CHECK_EQ(cli_out("verify", dir, got, sizeof(got)), 0);
	CHECK(!strcmp(got, want));
	CHECK(strstr(got, "generation 1: good\n") != NULL);
	uint64_t checks = snap_cli_chunk_checks();
	CHECK(checks <= stored);
	CHECK_EQ(checks, stored);
	CHECK(checks * 5 < nonzero);           /* memo-less: nonzero reads */
	fprintf(stderr, "verify: %llu chunk verifications (%llu stored, "
		"%llu without the memo)\n", (unsigned long long)checks,
		(unsigned long long)stored, (unsigned long long)nonzero);

	/* info verifies the newest only: its own chunks and those it uses. */
	CHECK_EQ(cli_out("info", dir, got, sizeof(got)), 0);
	CHECK(strstr(got, "generation 6 (newest good)") != NULL);
	CHECK(snap_cli_chunk_checks() <= stored);

	/* Chunk 1 of gen 1 is referred to by every later gen: all bad, with
	 * the reason naming the chunk; nothing resumable (exit 2). The memo
	 * of the good run above is gone (one per run). */
	checks = damaged_run(dir, 1, 1, 2, "generation 4: bad (image 'ram' "
			     "chunk 1 (stored in generation 1) checksum "
			     "mismatch)\n");
	for (int g = 2; g <= NGEN; g++) {
		char line[256];
		snprintf(line, sizeof(line), "generation %d: bad (image 'ram' "
			 "chunk 1 (stored in generation 1) checksum "
			 "mismatch)\n", g);
		CHECK(strstr(got, line) != NULL);
	}
	CHECK(strstr(got, "generation 1: bad (image 'ram' chunk 1 checksum "
		     "mismatch)\n") != NULL);
	/* The bad chunk is checked by each of the NGEN gens, others once. */
	CHECK(checks <= stored + NGEN - 1);

	/* Chunk 3 changed in gen 3, kept by 4..6: those four are bad, 2 and
	 * 1 good; resume would use 2 (exit 1). */
	checks = damaged_run(dir, 3, 3, 1, "generation 5: bad (image 'ram' "
			     "chunk 3 (stored in generation 3) checksum "
			     "mismatch)\n");
	CHECK(strstr(got, "generation 3: bad (image 'ram' chunk 3 checksum "
		     "mismatch)\n") != NULL);
	CHECK(strstr(got, "generation 2: good\ngeneration 1: good\nnewest "
		     "generation 6 is bad; resume would use generation 2\n")
	      != NULL);
	CHECK(checks <= stored + 3);

	/* The newest's own chunk bad: info falls back to gen 5 and does not
	 * check again what gen 6 checked. */
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_gen_path(dir, NGEN));
	uint64_t off = stored_at(dir, NGEN, NGEN);
	flip(path, off);
	CHECK_EQ(cli_out("info", dir, got, sizeof(got)), 0);
	CHECK(strstr(got, "generation 6 is damaged (image 'ram' chunk 6 "
		     "checksum mismatch); resuming generation 5 instead")
	      != NULL);
	CHECK(strstr(got, "generation 5 (newest good)") != NULL);
	CHECK(snap_cli_chunk_checks() <= stored);
	flip(path, off);

	/* Repaired: good again, library opens unaffected. */
	CHECK_EQ(cli_out("verify", dir, got, sizeof(got)), 0);
	CHECK_EQ(snap_cli_chunk_checks(), stored);
	char err[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open(dir, err, note);
	CHECK(r && snap_generation(r) == NGEN && !note[0]);
	uint8_t *dst = malloc(len);
	CHECK(r && snap_get_memory(r, "ram", dst, len, 2, false, NULL, NULL,
				   err) == 0 && !memcmp(dst, mem, len));
	snap_close(r);
	free(dst);
	free(mem);
	t_rmrf(dir);
	free(dir);
}

/* The memo itself: good chunks only, deep needs a deep record. */
static void memo_rules(void)
{
	struct snap_verify_memo *m = snap_memo_new();
	CHECK(m != NULL);
	if (!m)
		return;
	struct snap_memo_key a = { .gen = 1, .k = 7, .offset = 4096,
		.checksum = 0x1234, .stored_len = 999, .image = "ram" };
	struct snap_memo_key b = a;
	CHECK(!snap_memo_seen(m, &a, false));
	snap_memo_checked(m, &a, true, false);          /* bad: not kept */
	CHECK(!snap_memo_seen(m, &a, false));
	snap_memo_checked(m, &a, false, true);          /* checksum only */
	CHECK(snap_memo_seen(m, &a, false));
	CHECK(!snap_memo_seen(m, &a, true));
	snap_memo_checked(m, &a, true, true);
	CHECK(snap_memo_seen(m, &a, true));
	b.checksum ^= 1;
	CHECK(!snap_memo_seen(m, &b, false));
	b = a;
	b.gen = 2;
	CHECK(!snap_memo_seen(m, &b, false));
	b = a;
	b.image = "rom";
	CHECK(!snap_memo_seen(m, &b, false));
	b = a;
	b.stored_len++;
	CHECK(!snap_memo_seen(m, &b, false));
	/* Many entries: the table grows, all are found. */
	for (uint64_t k = 0; k < 5000; k++) {
		b = a;
		b.k = 100 + k;
		snap_memo_checked(m, &b, true, true);
	}
	bool all = true;
	for (uint64_t k = 0; k < 5000; k++) {
		b = a;
		b.k = 100 + k;
		all = all && snap_memo_seen(m, &b, true);
	}
	CHECK(all);
	CHECK(snap_memo_seen(m, &a, true));
	CHECK_EQ(snap_memo_checks(m), 5003);
	snap_memo_free(m);
}

int main(void)
{
	memo_rules();
	chain_verify();
	UNIT_MAIN_END();
}
