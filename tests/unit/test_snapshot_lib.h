/* Helpers for the snapshot unit tests: temp dirs, test memory, writing a
 * generation, file bytes. Header-only so each test binary stays one file. */
#ifndef TABI_TEST_SNAPSHOT_LIB_H
#define TABI_TEST_SNAPSHOT_LIB_H
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "snapshot.h"

#define MIB (1u << 20)

static uint64_t t_rng = 0x9e3779b97f4a7c15ull;
static __attribute__((unused)) uint64_t t_rand(void)
{
	t_rng ^= t_rng << 13;
	t_rng ^= t_rng >> 7;
	t_rng ^= t_rng << 17;
	return t_rng;
}

static __attribute__((unused)) char *t_mkdtemp(void)
{
	char *d = strdup("/tmp/tabi-snaptest-XXXXXX");
	return mkdtemp(d) ? d : NULL;
}

static __attribute__((unused)) void t_rmrf(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Fills len bytes by 1 MiB chunk: zero, random, text-like, half zero. */
static __attribute__((unused)) uint8_t *t_mem(uint64_t len, uint64_t seed)
{
	uint8_t *m = malloc(len ? len : 1);
	t_rng = seed | 1;
	for (uint64_t off = 0; off < len; off += MIB) {
		uint64_t n = len - off < MIB ? len - off : MIB;
		switch ((off / MIB) % 4) {
		case 0:
			memset(m + off, 0, n);
			break;
		case 1:
			for (uint64_t i = 0; i < n; i++)
				m[off + i] = (uint8_t)t_rand();
			break;
		case 2:
			for (uint64_t i = 0; i < n; i++)
				m[off + i] = "tabi journey text "[(i + seed) % 18];
			break;
		default:
			memset(m + off, 0, n);
			for (uint64_t i = 0; i < n / 2; i++)
				m[off + i] = (uint8_t)(i * 7 + seed);
		}
	}
	return m;
}

static const char t_config[] = "cpu_model=x86-64-v2\nmem_bytes=4194304\ncpus=2\n";

static __attribute__((unused)) int t_write_gen(const char *dir, const uint8_t *mem, uint64_t len,
		       int threads)
{
	char err[SNAP_ERR_LEN];
	struct snap_writer *w = snap_begin(dir, err);
	if (!w)
		return -1;
	if (snap_put_section(w, "config", t_config, strlen(t_config)) ||
	    snap_put_section(w, "cpu0", mem, len < 333 ? len : 333) ||
	    snap_put_section(w, "empty", "", 0) ||
	    snap_put_memory(w, "ram", mem, len, threads, NULL, NULL)) {
		snap_commit(w, err);
		return -1;
	}
	return snap_commit(w, err);
}

static __attribute__((unused)) uint8_t *t_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(n ? (size_t)n : 1);
	*len = fread(b, 1, (size_t)n, f);
	fclose(f);
	return b;
}

static __attribute__((unused)) int t_write_file(const char *path, const void *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(b, 1, len, f);
	fclose(f);
	return w == len ? 0 : -1;
}

static __attribute__((unused)) char *t_gen_path(const char *dir, int gen)
{
	static char p[4096];
	snprintf(p, sizeof(p), "%s/gen-%08d.tabi", dir, gen);
	return p;
}

static __attribute__((unused)) bool t_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Runs snap_cli_main(cmd, dir) with stderr silenced and stdout captured
 * into out (n bytes, NUL-terminated), or silenced too when out is NULL;
 * returns its exit code. */
static __attribute__((unused)) int t_cli_out(const char *cmd, const char *dir,
					     char *out, size_t n)
{
	char *argv[] = { (char *)cmd, (char *)dir, NULL };
	FILE *tmp = out ? tmpfile() : NULL;
	fflush(stdout);
	fflush(stderr);
	int o = dup(1), e = dup(2), nul = open("/dev/null", O_WRONLY);
	dup2(tmp ? fileno(tmp) : nul, 1);
	dup2(nul, 2);
	int rc = snap_cli_main(dir ? 2 : 1, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(o, 1);
	dup2(e, 2);
	close(o);
	close(e);
	close(nul);
	if (tmp) {
		rewind(tmp);
		size_t got = fread(out, 1, n - 1, tmp);
		out[got] = 0;
		fclose(tmp);
	}
	return rc;
}

static __attribute__((unused)) int t_cli(const char *cmd, const char *dir)
{
	return t_cli_out(cmd, dir, NULL, 0);
}

/* Flips the bits of mask in the byte at off; false when it cannot. */
static __attribute__((unused)) bool t_flip(const char *path, uint64_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	uint8_t b = 0;
	bool ok = fd >= 0 && pread(fd, &b, 1, (off_t)off) == 1;
	b ^= mask;
	ok = ok && pwrite(fd, &b, 1, (off_t)off) == 1;
	if (fd >= 0)
		close(fd);
	return ok;
}
#endif
