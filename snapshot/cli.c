/* `tabi snapshot info|verify DIR`: what a session holds, and whether every
 * generation in it would resume. Exit codes of verify: 0 newest good,
 * 1 newest bad but an older one good, 2 none good or no session, 64 usage. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "format.h"

#define EXIT_USAGE 64

/* Chunk verifications of the last run, for tests. */
static uint64_t last_checks;

uint64_t snap_cli_chunk_checks(void)
{
	return last_checks;
}

static void human(char *out, size_t n, uint64_t b)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void when(char *out, size_t n, time_t t)
{
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, n, "?");
}

/* Config is `key=value` lines written by the VMM; print each as it is,
 * with anything unprintable masked (the bytes verified, but are not ours). */
static void print_config(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		fputs("  ", stdout);
		for (; i < len && p[i] != '\n'; i++) {
			unsigned char c = (unsigned char)p[i];
			putchar(c >= 0x20 && c < 0x7f ? c : '?');
		}
		putchar('\n');
		i++;
	}
}

static void print_reader(struct snap_reader *r)
{
	char t[64];
	time_t created = (time_t)(snap_created_ns(r) / 1000000000ull);
	when(t, sizeof(t), created);
	printf("generation %llu (newest good), frozen %s\n",
	       (unsigned long long)snap_generation(r), t);
	size_t clen;
	const char *cfg = snap_get_section(r, "config", &clen);
	if (cfg)
		print_config(cfg, clen);
	else
		printf("  (no config section)\n");
	for (int i = 0; i < snap_image_count(r); i++) {
		struct snap_image_info im;
		snap_image_info(r, i, &im);
		char g[32], s[32];
		human(g, sizeof(g), im.len);
		human(s, sizeof(s), im.stored_bytes);
		double ratio = im.len ? (double)im.stored_bytes / im.len : 0;
		double zero = im.n_chunks ? 100.0 * im.zero_chunks / im.n_chunks
					  : 0;
		printf("  memory '%s': %s guest, %s stored (ratio %.3f), "
		       "%.1f%% zero chunks of %u KiB", im.name, g, s, ratio,
		       zero, im.chunk_size >> 10);
		if (im.prev_chunks)
			printf(", %llu chunks in older generations",
			       (unsigned long long)im.prev_chunks);
		printf("\n");
	}
	printf("  sections:");
	for (int i = 0; i < snap_section_count(r); i++)
		printf(" %s", snap_section_name(r, i));
	printf("\n");
}

/* Both commands verify with one memo per run (verify_memo.c): a chunk
 * that several generations refer to is read and checked once. */
static int info(const char *dir, struct snap_verify_memo *memo)
{
	uint64_t *gens;
	int n = snap_list_gens(dir, &gens);
	if (n <= 0) {
		fprintf(stderr, "no frozen session in %s: check the path\n", dir);
		free(gens);
		return 2;
	}
	printf("session %s: %d generation%s\n", dir, n, n == 1 ? "" : "s");
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX + 32], sz[32], t[64] = "?";
		struct stat st;
		snap_gen_path(path, sizeof(path), dir, gens[i], false);
		if (stat(path, &st)) {
			printf("  generation %llu: cannot stat (%s)\n",
			       (unsigned long long)gens[i], strerror(errno));
			continue;
		}
		human(sz, sizeof(sz), (uint64_t)st.st_size);
		when(t, sizeof(t), st.st_mtime);
		printf("  generation %llu: %s, committed %s\n",
		       (unsigned long long)gens[i], sz, t);
	}
	free(gens);
	char err[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open_memo(dir, memo, err, note);
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (note[0])
		printf("%s\n", note);
	print_reader(r);
	snap_close(r);
	return 0;
}

static int verify(const char *dir, struct snap_verify_memo *memo)
{
	uint64_t *gens;
	int n = snap_list_gens(dir, &gens);
	if (n <= 0) {
		fprintf(stderr, "no frozen session in %s: check the path\n", dir);
		free(gens);
		return 2;
	}
	int newest_good = -1, any_good = -1;
	for (int i = 0; i < n; i++) {
		char why[SNAP_ERR_LEN];
		enum snap_fail f;
		/* Deep: referenced chunks of older generations too. */
		struct snap_reader *r = snap_open_file_memo(dir, gens[i],
							    SNAP_OPEN_DEEP,
							    memo, &f, why);
		if (r) {
			printf("generation %llu: good\n",
			       (unsigned long long)gens[i]);
			if (i == 0)
				newest_good = 0;
			if (any_good < 0)
				any_good = i;
			snap_close(r);
		} else {
			printf("generation %llu: bad (%s)\n",
			       (unsigned long long)gens[i], why);
		}
	}
	int rc = 2;
	if (newest_good == 0) {
		rc = 0;
	} else if (any_good > 0) {
		printf("newest generation %llu is bad; resume would use "
		       "generation %llu\n", (unsigned long long)gens[0],
		       (unsigned long long)gens[any_good]);
		rc = 1;
	} else {
		printf("no good generation in %s: the session cannot be "
		       "resumed\n", dir);
	}
	free(gens);
	return rc;
}

int snap_cli_main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[0], "info") && strcmp(argv[0], "verify"))) {
		fprintf(stderr, "usage: tabi snapshot info|verify DIR\n");
		return EXIT_USAGE;
	}
	struct snap_verify_memo *memo = snap_memo_new();
	int rc = strcmp(argv[0], "info") ? verify(argv[1], memo)
					 : info(argv[1], memo);
	last_checks = snap_memo_checks(memo);
	snap_memo_free(memo);
	return rc;
}
