/* Naming and listing of generation files in a session directory. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "format.h"

void snap_gen_path(char *out, size_t n, const char *dir, uint64_t gen,
		   bool tmp)
{
	snprintf(out, n, tmp ? "%s/.gen-%08llu.tabi.tmp" : "%s/gen-%08llu.tabi",
		 dir, (unsigned long long)gen);
}

/* "gen-" + at least 8 decimal digits + ".tabi", nothing else: temporary
 * files, editor backups and foreign files are never generations. */
static bool parse_gen(const char *name, uint64_t *gen)
{
	if (strncmp(name, "gen-", 4))
		return false;
	const char *p = name + 4;
	size_t digits = strspn(p, "0123456789");
	if (digits < 8 || digits > 19 || strcmp(p + digits, ".tabi"))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < digits; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	*gen = v;
	return true;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

int snap_list_gens(const char *dir, uint64_t **gens)
{
	*gens = NULL;
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	size_t n = 0, cap = 0;
	uint64_t *v = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t g;
		if (!parse_gen(e->d_name, &g))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				errno = ENOMEM;
				return -1;
			}
			v = nv;
		}
		v[n++] = g;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_desc);
	*gens = v;
	return (int)n;
}

/* ---- public: individual generations (snapshot.h) ---- */
int snap_list_generations(const char *dir, uint64_t **gens)
{
	return snap_list_gens(dir, gens);
}

static struct snap_reader *open_gen(const char *dir, uint64_t gen,
				    enum snap_open_mode mode,
				    char err[SNAP_ERR_LEN])
{
	char why[SNAP_ERR_LEN] = "";
	enum snap_fail f;
	struct snap_reader *r = snap_open_file(dir, gen, mode, &f, why);
	if (!r)
		snap_errf(err, "generation %llu in %s is unusable: %s",
			  (unsigned long long)gen, dir, why);
	return r;
}

struct snap_reader *snap_open_generation(const char *dir, uint64_t gen,
					 char err[SNAP_ERR_LEN])
{
	return open_gen(dir, gen, SNAP_OPEN_VERIFY, err);
}

struct snap_reader *snap_open_generation_index(const char *dir, uint64_t gen,
					       char err[SNAP_ERR_LEN])
{
	return open_gen(dir, gen, SNAP_OPEN_INDEX, err);
}

int snap_remove_generation(const char *dir, uint64_t gen)
{
	char path[PATH_MAX + 32];
	snap_gen_path(path, sizeof(path), dir, gen, false);
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int r = fsync(dfd);
	close(dfd);
	return r;
}
