/* The verification memo of one `tabi snapshot verify|info` run: which
 * physically stored chunks already had their bytes read, their XXH3 matched
 * and (deep) decompressed to the right length, so that the generations
 * referring to the same owner chunk do not read it again. Only successes
 * are recorded: a bad chunk is checked (and reported) by every generation
 * that refers to it. Owned by the caller, never global; shared by the
 * decode workers under a mutex. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "reader.h"

struct memo_entry {
	uint64_t gen, k, offset, checksum;
	uint32_t stored_len;
	uint16_t name;          /* index into names */
	uint8_t deep;           /* recorded after decompression too */
	uint8_t used;
};

struct snap_verify_memo {
	pthread_mutex_t lock;
	struct memo_entry *tab; /* open addressing, cap a power of two */
	size_t cap, n;
	char **names;           /* image names, interned */
	uint32_t n_names;
	uint64_t checks;        /* chunk verifications performed */
};

struct snap_verify_memo *snap_memo_new(void)
{
	struct snap_verify_memo *m = calloc(1, sizeof(*m));
	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void snap_memo_free(struct snap_verify_memo *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->n_names; i++)
		free(m->names[i]);
	free(m->names);
	free(m->tab);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

uint64_t snap_memo_checks(const struct snap_verify_memo *m)
{
	return m ? m->checks : 0;
}

/* Index of name in m->names; add: intern it when new. -1 when absent (or
 * out of memory / too many names: the chunk is then simply not memoed). */
static int name_id(struct snap_verify_memo *m, const char *name, bool add)
{
	for (uint32_t i = 0; i < m->n_names; i++)
		if (!strcmp(m->names[i], name))
			return (int)i;
	if (!add || m->n_names >= UINT16_MAX)
		return -1;
	char **nn = realloc(m->names, (m->n_names + 1) * sizeof(*nn));
	if (!nn)
		return -1;
	m->names = nn;
	if (!(nn[m->n_names] = strdup(name)))
		return -1;
	return (int)m->n_names++;
}

static size_t slot_of(const struct snap_memo_key *key, int name)
{
	uint64_t h = key->gen * 0x9e3779b97f4a7c15ull ^ key->k ^
		     ((uint64_t)name << 48) ^ key->checksum;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return (size_t)(h ^ (h >> 32));
}

static bool same(const struct memo_entry *e, const struct snap_memo_key *key,
		 int name)
{
	return e->gen == key->gen && e->k == key->k && e->name == name &&
	       e->offset == key->offset && e->checksum == key->checksum &&
	       e->stored_len == key->stored_len;
}

/* The entry for key, or the empty slot where it belongs (cap > 0). */
static struct memo_entry *find(struct snap_verify_memo *m,
			       const struct snap_memo_key *key, int name)
{
	size_t i = slot_of(key, name) & (m->cap - 1);
	while (m->tab[i].used && !same(&m->tab[i], key, name))
		i = (i + 1) & (m->cap - 1);
	return &m->tab[i];
}

static bool grow(struct snap_verify_memo *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	struct memo_entry *old = m->tab, *tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return false;
	size_t ocap = m->cap;
	m->tab = tab;
	m->cap = cap;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].used)
			continue;
		struct snap_memo_key key = { .gen = old[i].gen, .k = old[i].k,
			.offset = old[i].offset, .checksum = old[i].checksum,
			.stored_len = old[i].stored_len };
		*find(m, &key, old[i].name) = old[i];
	}
	free(old);
	return true;
}

bool snap_memo_seen(struct snap_verify_memo *m,
		    const struct snap_memo_key *key, bool deep)
{
	pthread_mutex_lock(&m->lock);
	int name = name_id(m, key->image, false);
	bool seen = false;
	if (name >= 0 && m->cap) {
		const struct memo_entry *e = find(m, key, name);
		seen = e->used && (e->deep || !deep);
	}
	pthread_mutex_unlock(&m->lock);
	return seen;
}

void snap_memo_checked(struct snap_verify_memo *m,
		       const struct snap_memo_key *key, bool deep, bool good)
{
	pthread_mutex_lock(&m->lock);
	m->checks++;
	int name = good ? name_id(m, key->image, true) : -1;
	if (name >= 0 && (m->n + 1 <= m->cap / 2 || grow(m))) {
		struct memo_entry *e = find(m, key, name);
		if (!e->used) {
			*e = (struct memo_entry){ .gen = key->gen, .k = key->k,
				.offset = key->offset,
				.checksum = key->checksum,
				.stored_len = key->stored_len,
				.name = (uint16_t)name, .used = 1 };
			m->n++;
		}
		e->deep |= deep;
	}
	pthread_mutex_unlock(&m->lock);
}
