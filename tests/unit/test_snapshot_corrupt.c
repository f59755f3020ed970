/* Snapshot library against damage: every truncation and bit flip is caught,
 * the previous generation is used with a note, foreign and wrong-version
 * files are named, and a failed open leaves the directory untouched. */
#include "unit.h"
#include "test_snapshot_lib.h"
#include "format.h"

static uint64_t len = 4 * MIB + 4321;   /* zero, random, text, half, tail */

/* Opening damaged bytes must fail; if it ever succeeds the data must be
 * exactly the original (it never may, as every byte is checksummed). */
static int open_damaged(const uint8_t *b, size_t n, const uint8_t *mem)
{
	char err[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open_buffer(b, n, err);
	if (!r)
		return strlen(err) > 0 && !strchr(err, '\n') ? 0 : 2;
	uint8_t *dst = malloc(len);
	int bad = snap_get_memory(r, "ram", dst, len, 1, false, NULL, NULL,
				  err) == 0 && memcmp(dst, mem, len) != 0;
	free(dst);
	snap_close(r);
	return bad ? 3 : 1;
}

static void sweep(const uint8_t *f, size_t fl, const uint8_t *mem)
{
	char err[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open_buffer(f, fl, err);
	CHECK(r != NULL);
	snap_close(r);
	uint8_t *b = malloc(fl + 64);
	int undetected = 0, tried = 0;
	/* Truncation: everywhere near the ends, then spread over the data. */
	for (size_t cut = 0; cut < fl; cut += (cut < 4096 || fl - cut < 8192)
					       ? 1 : 4093) {
		memcpy(b, f, cut);
		undetected += open_damaged(b, cut, mem) != 0;
		tried++;
	}
	/* Extension: bytes appended after the footer. */
	memcpy(b, f, fl);
	memset(b + fl, 0, 64);
	undetected += open_damaged(b, fl + 1, mem) != 0;
	undetected += open_damaged(b, fl + 64, mem) != 0;
	/* Bit flips: every byte of header, index and footer, and a stride
	 * through the sections and chunks. */
	for (size_t off = 0; off < fl; off += (off < 4096 || fl - off < 8192)
					       ? 1 : 509) {
		memcpy(b, f, fl);
		b[off] ^= (uint8_t)(1u << (off % 8));
		int rc = open_damaged(b, fl, mem);
		if (rc)
			fprintf(stderr, "flip at %zu of %zu: rc %d\n", off, fl, rc);
		undetected += rc != 0;
		tried++;
	}
	CHECK_EQ(undetected, 0);
	CHECK(tried > 10000);
	free(b);
}

static void corrupt_sweep(void)
{
	char *dir = t_mkdtemp();
	uint8_t *mem = t_mem(len, 5);
	CHECK_EQ(t_write_gen(dir, mem, len, 2), 0);
	size_t fl;
	uint8_t *f = t_read_file(t_gen_path(dir, 1), &fl);
	sweep(f, fl, mem);
	free(f);
	free(mem);
	t_rmrf(dir);
	free(dir);
}

struct listing {
	char names[16][64];
	struct stat st[16];
	uint64_t hash[16];
	int n;
};

static void list_dir(const char *dir, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && l->n < 16) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		snprintf(l->names[l->n], 64, "%s", e->d_name);
		stat(p, &l->st[l->n]);
		size_t n;
		uint8_t *b = S_ISREG(l->st[l->n].st_mode) ? t_read_file(p, &n) : NULL;
		l->hash[l->n] = b ? snap_hash(b, n) : 0;
		free(b);
		l->n++;
	}
	if (d)
		closedir(d);
}

static bool same_listing(const struct listing *a, const struct listing *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->names[i], b->names[i]) ||
		    a->st[i].st_size != b->st[i].st_size ||
		    a->st[i].st_mtim.tv_sec != b->st[i].st_mtim.tv_sec ||
		    a->st[i].st_mtim.tv_nsec != b->st[i].st_mtim.tv_nsec ||
		    a->hash[i] != b->hash[i])
			return false;
	return true;
}

/* Opens dir expecting failure; checks err mentions want and that dir is
 * unchanged. */
static void expect_fail(const char *dir, const char *want)
{
	struct listing before, after;
	char err[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	list_dir(dir, &before);
	struct snap_reader *r = snap_open(dir, err, note);
	CHECK(r == NULL);
	snap_close(r);
	CHECK(strstr(err, want) != NULL);
	CHECK(!strchr(err, '\n'));
	if (!strstr(err, want))
		fprintf(stderr, "err '%s' lacks '%s'\n", err, want);
	list_dir(dir, &after);
	CHECK(same_listing(&before, &after));
}

static void fallback(void)
{
	char *dir = t_mkdtemp();
	uint8_t *m1 = t_mem(len, 1), *m2 = t_mem(len, 2);
	char err[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	CHECK_EQ(t_write_gen(dir, m1, len, 2), 0);
	CHECK_EQ(t_write_gen(dir, m2, len, 2), 0);
	size_t fl;
	uint8_t *f = t_read_file(t_gen_path(dir, 2), &fl);
	/* Damage gen 2 in several ways; gen 1 must come back, with a note. */
	size_t spots[] = { 3, 40, 64 + 10, fl / 2, fl - 100, fl - 10 };
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]) + 2; i++) {
		uint8_t *b = malloc(fl);
		memcpy(b, f, fl);
		size_t n = fl;
		if (i < sizeof(spots) / sizeof(spots[0]))
			b[spots[i]] ^= 0x04;
		else
			n = i % 2 ? fl / 2 : fl - 1;       /* pulled mid-write */
		CHECK_EQ(t_write_file(t_gen_path(dir, 2), b, n), 0);
		free(b);
		struct listing before, after;
		list_dir(dir, &before);
		struct snap_reader *r = snap_open(dir, err, note);
		CHECK(r != NULL);
		CHECK(r && snap_generation(r) == 1);
		CHECK(strstr(note, i ? "generation 2 is damaged" : "generation 2 is not a tabi session file") != NULL);
		CHECK(strstr(note, "resuming generation 1 instead") != NULL);
		uint8_t *dst = malloc(len);
		CHECK(r && snap_get_memory(r, "ram", dst, len, 3, false, NULL,
					   NULL, err) == 0);
		CHECK(memcmp(dst, m1, len) == 0);
		free(dst);
		snap_close(r);
		list_dir(dir, &after);
		CHECK(same_listing(&before, &after));
	}
	/* Both damaged: one line naming both, nothing changed. */
	CHECK_EQ(t_write_file(t_gen_path(dir, 1), f, 100), 0);
	expect_fail(dir, "generation 2 is damaged");
	expect_fail(dir, "older generation 1 is damaged too");
	/* Damage after open is caught by get_memory (it re-checks). */
	CHECK_EQ(t_write_file(t_gen_path(dir, 2), f, fl), 0);
	struct snap_reader *r = snap_open(dir, err, note);
	CHECK(r && snap_generation(r) == 2);
	uint8_t *b = malloc(fl);
	memcpy(b, f, fl);
	for (size_t off = 8192; off < fl - 4096; off += 4096)
		b[off] ^= 1;
	int fd = open(t_gen_path(dir, 2), O_WRONLY);
	CHECK(pwrite(fd, b, fl, 0) == (ssize_t)fl);
	close(fd);
	uint8_t *dst = malloc(len);
	CHECK(r && snap_get_memory(r, "ram", dst, len, 2, false, NULL, NULL,
				   err) != 0);
	CHECK(strstr(err, "checksum mismatch") != NULL);
	snap_close(r);
	free(dst);
	free(b);
	free(f);
	free(m1);
	free(m2);
	t_rmrf(dir);
	free(dir);
}

static void foreign_and_version(void)
{
	char *dir = t_mkdtemp();
	expect_fail(dir, "no frozen session in");
	expect_fail("/tmp/tabi-snaptest-does-not-exist", "no frozen session in");

	/* Random bytes, another program's file, an empty file. */
	uint8_t junk[8192];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)t_rand();
	CHECK_EQ(t_write_file(t_gen_path(dir, 1), junk, sizeof(junk)), 0);
	expect_fail(dir, "is not a tabi session file");
	CHECK_EQ(t_write_file(t_gen_path(dir, 1), "\177ELF\2\1\1\0", 8), 0);
	expect_fail(dir, "is not a tabi session file");
	CHECK_EQ(t_write_file(t_gen_path(dir, 1), "", 0), 0);
	expect_fail(dir, "is damaged");
	CHECK_EQ(t_write_file(t_gen_path(dir, 1), "TABI", 4), 0);
	expect_fail(dir, "truncated");

	/* A newer format version with a valid header checksum. */
	uint8_t *mem = t_mem(len, 3);
	unlink(t_gen_path(dir, 1));
	CHECK_EQ(t_write_gen(dir, mem, len, 1), 0);
	size_t fl;
	uint8_t *f = t_read_file(t_gen_path(dir, 1), &fl);
	struct snap_disk_header h;
	memcpy(&h, f, sizeof(h));
	h.version = 2;
	h.checksum = snap_hash(&h, offsetof(struct snap_disk_header, checksum));
	memcpy(f, &h, sizeof(h));
	CHECK_EQ(t_write_file(t_gen_path(dir, 1), f, fl), 0);
	expect_fail(dir, "was written by another tabi version");
	expect_fail(dir, "format version 2");
	/* The same field flipped without a checksum: damage, not a version. */
	h.version = 1;
	memcpy(f, &h, sizeof(h));
	f[8] ^= 2;
	CHECK_EQ(t_write_file(t_gen_path(dir, 1), f, fl), 0);
	expect_fail(dir, "header checksum mismatch");
	/* A generation copied under another number is caught too. */
	f[8] ^= 2;
	h.version = 1;
	h.checksum = snap_hash(&h, offsetof(struct snap_disk_header, checksum));
	memcpy(f, &h, sizeof(h));
	unlink(t_gen_path(dir, 1));
	CHECK_EQ(t_write_file(t_gen_path(dir, 7), f, fl), 0);
	expect_fail(dir, "holds generation 1");
	free(f);
	free(mem);
	t_rmrf(dir);
	free(dir);
}

int main(void)
{
	corrupt_sweep();
	fallback();
	foreign_and_version();
	UNIT_MAIN_END();
}
