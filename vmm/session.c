/* Freeze and resume (session.h). Section names in a generation:
 *   config   text key=value lines (snapshot/FORMAT.md lists the keys)
 *   cpuid    the guest CPU model
 *   vcpu.N   each vCPU's KVM state
 *   vm       PIT, clock, irqchips
 *   devices  every device's own state, in vm_devices order
 *   ram      guest memory image */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include "progress.h"
#include "session.h"
#include "disk_overlay.h"
#include "session_disk.h"
#include "snapshot.h"
#include "vcpu_state.h"
#include "vm_devices.h"
#include "vm_state.h"

#define SESSION_FORMAT "tabi-session-1"
/* Generations that store only what changed since their parent, before a
 * full one is written again: bounds how many files a resume reads and how
 * much a damaged one can take with it. */
#define CHAIN_MAX 8
/* Committed generations whose disk deltas are not yet in the base images:
 * at most the previous chain and the current one. */
#define ANC_MAX (4 * CHAIN_MAX)

static int finish_ended(const char *dir, char err[512]);

static int threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

/* Disks inside the session directory are stored relative to it, so a
 * stick mounted elsewhere on the next PC still finds them. */
static const char *relative_to(const char *path, const char *dir)
{
	char rp[4096], rd[4096];
	static char out[4096];
	if (!realpath(path, rp) || !realpath(dir, rd))
		return path;
	size_t n = strlen(rd);
	if (!strncmp(rp, rd, n) && rp[n] == '/') {
		snprintf(out, sizeof(out), "%s", rp + n + 1);
		return out;
	}
	snprintf(out, sizeof(out), "%s", rp);
	return out;
}

int session_config_text(const struct vm_config *cfg, const char *dir,
			char *out, size_t cap)
{
	size_t n = 0;
	n += (size_t)snprintf(out + n, cap - n,
		"format=%s\ncpu_model=%s\nmem_bytes=%" PRIu64 "\ncpus=%d\n"
		"tsc_khz=%u\nautosave_s=%u\nautosave_min=%u\nndisks=%d\nsaved=%lld\n", SESSION_FORMAT,
		cfg->cpu_model, cfg->mem_bytes, cfg->cpus, cfg->tsc_khz, cfg->autosave_s,
		(cfg->autosave_s + 59) / 60,
		cfg->ndisks, (long long)time(NULL));
	for (int i = 0; i < cfg->ndisks && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "disk%d=%s\ndisk%d_ro=%d\n", i,
				      relative_to(cfg->disk[i].path, dir), i,
				      cfg->disk[i].read_only);
	return n < cap ? (int)n : -1;
}

int session_config_parse(const char *text, size_t len, const char *dir,
			 struct vm_config *cfg, char err[512])
{
	memset(cfg, 0, sizeof(*cfg));
	bool fmt = false;
	int ndisks = -1;
	size_t pos = 0;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		pos += ll + 1;
		char buf[4200];
		if (ll >= sizeof(buf))
			goto bad;
		memcpy(buf, line, ll);
		buf[ll] = 0;
		char *eq = strchr(buf, '=');
		if (!eq)
			continue;
		*eq = 0;
		const char *k = buf, *v = eq + 1;
		int idx, end = 0;
		char rest[8];
		if (!strcmp(k, "format"))
			fmt = !strcmp(v, SESSION_FORMAT);
		else if (!strcmp(k, "cpu_model"))
			snprintf(cfg->cpu_model, sizeof(cfg->cpu_model), "%s", v);
		else if (!strcmp(k, "mem_bytes"))
			cfg->mem_bytes = strtoull(v, NULL, 10);
		else if (!strcmp(k, "cpus"))
			cfg->cpus = atoi(v);
		else if (!strcmp(k, "tsc_khz"))
			cfg->tsc_khz = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(k, "autosave_s"))
			cfg->autosave_s = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "autosave_min") && !cfg->autosave_s)
			cfg->autosave_s = 60 * (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "ndisks"))
			ndisks = atoi(v);
		else if (sscanf(k, "disk%d%7s", &idx, rest) == 2 && !strcmp(rest, "_ro") &&
			 idx >= 0 && idx < VM_MAX_DISKS)
			cfg->disk[idx].read_only = atoi(v) != 0;
		else if (sscanf(k, "disk%d%n", &idx, &end) == 1 && !k[end] &&
			 idx >= 0 && idx < VM_MAX_DISKS) {
			if (v[0] == '/')
				snprintf(cfg->disk[idx].path, sizeof(cfg->disk[idx].path), "%s", v);
			else
				snprintf(cfg->disk[idx].path, sizeof(cfg->disk[idx].path), "%s/%s", dir, v);
		}
	}
	if (!fmt)
		goto bad;
	snprintf(cfg->session_dir, sizeof(cfg->session_dir), "%s", dir);
	if (ndisks < 0 || ndisks > VM_MAX_DISKS || cfg->cpus < 1 || cfg->cpus > VM_MAX_CPUS ||
	    cfg->mem_bytes < VM_MIN_MEM || !cfg->cpu_model[0])
		goto bad;
	cfg->ndisks = ndisks;
	for (int i = 0; i < ndisks; i++)
		if (!cfg->disk[i].path[0])
			goto bad;
	return 0;
bad:
	snprintf(err, 512, "session %s: its configuration is not one tabi wrote "
		 "(foreign or newer format) — resume it with the tabi that froze it", dir);
	return -1;
}

static int put_buf(struct snap_writer *w, const char *name, struct state_buf *b,
		   char err[512])
{
	if (b->error || snap_put_section(w, name, b->data, b->len) < 0) {
		snprintf(err, 512, "cannot store %s state", name);
		sb_free(b);
		return -1;
	}
	sb_free(b);
	return 0;
}

/* A key=value number from a generation's config text; 0 when absent. */
static uint64_t config_u64(struct snap_reader *r, const char *key)
{
	size_t len, kl = strlen(key);
	const char *t = snap_get_section(r, "config", &len);
	for (size_t pos = 0; t && pos < len;) {
		const char *line = t + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		if (ll > kl && !strncmp(line, key, kl) && line[kl] == '=') {
			char num[32];
			size_t n = ll - kl - 1 < sizeof(num) - 1 ? ll - kl - 1 : sizeof(num) - 1;
			memcpy(num, line + kl + 1, n);
			num[n] = 0;
			return strtoull(num, NULL, 10);
		}
		pos += ll + 1;
	}
	return 0;
}

static bool has_gen(const uint64_t *gens, int n, uint64_t g)
{
	for (int i = 0; i < n; i++)
		if (gens[i] == g)
			return true;
	return false;
}

/* The newest generation whose disk deltas are wholly in the base images.
 * Written (atomically) only after a fold is synced, so it never claims more
 * than is there; lets a resume skip ancestors already folded, even damaged
 * ones. Absent = nothing known. */
#define BASE_MARK "base.gen"

/* The file holds "N H": H is the XXH3 of N's text, so a damaged record is
 * ignored (every present ancestor is then applied again, which is safe)
 * rather than trusted (which would skip a delta the base lacks). */
static uint64_t base_mark_hash(uint64_t g)
{
	char t[32];
	int n = snprintf(t, sizeof(t), "tabi-base %llu", (unsigned long long)g);
	return XXH3_64bits(t, (size_t)n);
}

static uint64_t base_gen(const char *dir)
{
	char p[4200], buf[64] = "";
	snprintf(p, sizeof(p), "%s/" BASE_MARK, dir);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	unsigned long long g, h;
	char extra;
	if (sscanf(buf, "%llu %llx%c", &g, &h, &extra) < 2 || h != base_mark_hash(g))
		return 0;
	return g;
}

static int set_base_gen(const char *dir, uint64_t g)
{
	char p[4200], tmp[4300], buf[64];
	snprintf(p, sizeof(p), "%s/" BASE_MARK, dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	int n = snprintf(buf, sizeof(buf), "%llu %llx\n", (unsigned long long)g,
			 (unsigned long long)base_mark_hash(g));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	bool ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, p) < 0)
		return -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

void session_forget_base(const char *dir)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/" BASE_MARK, dir);
	unlink(p);
}

/* Committed ancestors of generation `of` (parent first) not yet wholly in
 * the base images, each verified. */
static int ancestors(const char *dir, struct snap_reader *of, uint64_t out[ANC_MAX],
		     char err[512])
{
	uint64_t *gens;
	int ng = snap_list_generations(dir, &gens), n = 0;
	if (ng < 0) {
		snprintf(err, 512, "cannot read session directory %s", dir);
		return -1;
	}
	uint64_t p = config_u64(of, "parent"), folded = base_gen(dir);
	while (p && p > folded && has_gen(gens, ng, p) && n < ANC_MAX) {
		char serr[SNAP_ERR_LEN];
		/* Only the sections and disk deltas are used (their checksums
		 * are checked as they are read), not the memory. */
		struct snap_reader *r = snap_open_generation_index(dir, p, serr);
		if (!r) {
			snprintf(err, 512, "%s — the newer generation builds on it, so the "
				 "session cannot be resumed", serr);
			free(gens);
			return -1;
		}
		out[n++] = p;
		p = config_u64(r, "parent");
		snap_close(r);
	}
	free(gens);
	return n;
}

/* Applies the deltas of gens[n-1] .. gens[0] (oldest first). */
static int apply_chain(struct vm *vm, const char *dir, const uint64_t *gens, int n,
		       enum delta_target to, char err[512])
{
	for (int i = n - 1; i >= 0; i--) {
		char serr[SNAP_ERR_LEN];
		struct snap_reader *r = snap_open_generation_index(dir, gens[i], serr);
		if (!r) {
			snprintf(err, 512, "%s", serr);
			return -1;
		}
		int rc = vm ? session_disk_apply(vm, r, to, err)
			    : session_disk_apply_files(r, dir, err);
		snap_close(r);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Before a new generation: drop committed generations that are not
 * ancestors of the running state (a damaged newer one we fell back from),
 * and fold the deltas of the ancestors older than fold_below into the base
 * disks, since the commit will drop them (session_disk.h). */
static int prepare_chain(struct vm *vm, const char *dir, uint64_t fold_below,
			 char err[512])
{
	uint64_t *gens;
	int ng = snap_list_generations(dir, &gens);
	if (ng < 0) {
		snprintf(err, 512, "cannot read session directory %s: %s", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < ng; i++)
		if (gens[i] > vm->parent)
			snap_remove_generation(dir, gens[i]);
	free(gens);
	if (!vm->parent)
		return 0;
	char serr[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open_generation_index(dir, vm->parent, serr);
	if (!r) {
		snprintf(err, 512, "%s", serr);
		return -1;
	}
	uint64_t anc[ANC_MAX];
	int n = ancestors(dir, r, anc, err);
	snap_close(r);
	if (n < 0)
		return -1;
	int first = 0;  /* anc is newest first */
	while (first < n && anc[first] >= fold_below)
		first++;
	if (apply_chain(vm, dir, anc + first, n - first, DELTA_TO_BASE, err) < 0)
		return -1;
	if (n > first && set_base_gen(dir, anc[first]) < 0) {
		snprintf(err, 512, "cannot record the disk state in %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* How the next generation stores memory (FORMAT.md, "incremental
 * generations"): whole, or only the chunks that changed since its parent,
 * referring to older generations for the rest. A chain of increments
 * starts at a full generation (its anchor); the commit of a full one drops
 * the chain before the previous one, so two independent chains remain. */
struct gen_plan {
	struct snap_reader *parent;  /* parent's index, when incremental */
	uint64_t *changed;           /* chunk bitmap, when incremental */
	uint64_t nchanged, nchunks;
	uint64_t anchor;             /* 0: the new generation is full */
	unsigned chain;              /* increments since the anchor, new one included */
	uint64_t keep_from;          /* older generations may go at commit (0: default) */
	uint64_t fold_below;         /* fold deltas of older ancestors into the base */
};

static void plan_free(struct gen_plan *pl)
{
	snap_close(pl->parent);
	free(pl->changed);
	memset(pl, 0, sizeof(*pl));
}

static int plan_generation(struct vm *vm, const char *dir, struct gen_plan *pl,
			   char err[512])
{
	memset(pl, 0, sizeof(*pl));
	pl->nchunks = (vm->mem.size + SNAP_MEMORY_CHUNK - 1) / SNAP_MEMORY_CHUNK;
	pl->changed = calloc((pl->nchunks + 63) / 64, 8);
	if (!pl->changed) {
		snprintf(err, 512, "out of memory planning the new generation");
		return -1;
	}
	char e[256] = "", serr[SNAP_ERR_LEN] = "";
	if (dirty_log_collect(vm, e) < 0)
		fprintf(stderr, "tabi: %s; storing all memory\n", e);
	if (!vm->parent)
		return 0;  /* first generation of a cold boot: full, nothing to fold */
	struct snap_reader *p = snap_open_generation_index(dir, vm->parent, serr);
	uint64_t pchain = p ? config_u64(p, "chain") : 0;
	uint64_t panchor = p ? config_u64(p, "anchor") : 0;
	if (!panchor || panchor > vm->parent)
		panchor = vm->parent;  /* a full parent (or one from an older tabi) */
	pl->nchanged = dirty_log_chunks(vm, SNAP_MEMORY_CHUNK, pl->changed);
	bool tracked = p && vm->dirty.active && vm->dirty.base_gen == vm->parent;
	if (tracked && pchain + 1 < CHAIN_MAX && pl->nchanged * 2 <= pl->nchunks) {
		pl->parent = p;
		pl->anchor = panchor;
		pl->chain = (unsigned)pchain + 1;
		pl->keep_from = 1;    /* the whole chain stays */
		pl->fold_below = 0;   /* and so do its disk deltas */
		return 0;
	}
	snap_close(p);
	pl->keep_from = panchor;  /* keep the parent's chain as the fallback */
	pl->fold_below = panchor;
	return 0;
}

/* Room for the new generation: its memory at worst uncompressed, plus the
 * disk changes, plus slack for the filesystem. */
static int check_space(struct vm *vm, const char *dir, const struct gen_plan *pl,
		       char err[512])
{
	struct statvfs sv;
	if (statvfs(dir, &sv) < 0)
		return 0;
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	uint64_t mem = pl->parent ? pl->nchanged * SNAP_MEMORY_CHUNK : vm->mem.size;
	uint64_t need = snap_estimate_bytes(mem) + session_disk_fresh_bytes(vm) +
			(16ULL << 20);
	if (avail < need) {
		snprintf(err, 512, "not enough room in %s for a new generation: need up to "
			 "%llu MiB, %llu MiB free — free some space", dir,
			 (unsigned long long)(need >> 20), (unsigned long long)(avail >> 20));
		return -1;
	}
	return 0;
}

static int write_generation(struct vm *vm, const char *dir, bool ended,
			    const struct gen_plan *pl, char err[512])
{
	char e[256] = "", serr[SNAP_ERR_LEN] = "";
	struct snap_writer *w = snap_begin(dir, serr);
	if (!w) {
		snprintf(err, 512, "%s", serr);
		return -1;
	}
	char cfgtext[8192];
	struct state_buf b;
	int n = session_config_text(&vm->cfg, dir, cfgtext, sizeof(cfgtext) - 64);
	if (n < 0)
		goto fail_msg;
	uint64_t gen = snap_writer_generation(w), stored = 0;
	snprintf(cfgtext + n, sizeof(cfgtext) - (size_t)n,
		 "parent=%llu\nended=%d\nanchor=%llu\nchain=%u\n",
		 (unsigned long long)vm->parent, ended,
		 (unsigned long long)(pl && pl->anchor ? pl->anchor : gen),
		 pl ? pl->chain : 0);
	if (pl && pl->keep_from)
		snap_set_keep_from(w, pl->keep_from);
	if (snap_put_section(w, "config", cfgtext, strlen(cfgtext)) < 0)
		goto fail_msg;
	if (session_disk_save(vm, w, err) < 0)
		goto fail;
	if (!ended) {
		sb_init(&b);
		cpu_model_save(&vm->cpu, &b);
		if (put_buf(w, "cpuid", &b, err))
			goto fail;
		for (int i = 0; i < vm->cfg.cpus; i++) {
			char name[32];
			snprintf(name, sizeof(name), "vcpu.%d", i);
			sb_init(&b);
			if (vcpu_state_save(vm, i, &b, e) < 0) {
				snprintf(err, 512, "%s", e);
				sb_free(&b);
				goto fail;
			}
			if (put_buf(w, name, &b, err))
				goto fail;
		}
		sb_init(&b);
		if (vm_state_save(vm, &b, e) < 0) {
			snprintf(err, 512, "%s", e);
			sb_free(&b);
			goto fail;
		}
		if (put_buf(w, "vm", &b, err))
			goto fail;
		sb_init(&b);
		vm_devices_save(vm, &b);
		if (put_buf(w, "devices", &b, err))
			goto fail;
		struct progress p;
		/* Test suites set this to prove the dirty tracking complete:
		 * every chunk taken from the parent is compared with memory. */
		const char *chk = getenv("TABI_CHECK_INCREMENTAL");
		progress_begin(&p, "freezing");
		if (snap_put_memory_since(w, "ram", vm->mem.host, vm->mem.size,
					  pl ? pl->parent : NULL, pl ? pl->changed : NULL,
					  chk && *chk == '1', threads(), progress_update,
					  &p, &stored) < 0) {
			/* The writer holds the reason; committing a failed
			 * writer reports it and removes the partial file. */
			snap_commit(w, serr);
			snprintf(err, 512, "%s", serr);
			return -1;
		}
		progress_end(&p, vm->mem.size, 0);
	}
	if (snap_commit(w, serr) < 0) {
		snprintf(err, 512, "%s", serr);
		return -1;
	}
	if (pl && pl->parent) {
		char path[4200];
		struct stat st;
		snap_gen_path(path, sizeof(path), dir, gen, false);
		fprintf(stderr, "tabi: generation %llu is incremental: %llu of %llu memory "
			"chunks changed since generation %llu; %.1f MiB written\n",
			(unsigned long long)gen, (unsigned long long)stored,
			(unsigned long long)pl->nchunks, (unsigned long long)vm->parent,
			stat(path, &st) == 0 ? (double)st.st_size / 1048576 : 0.0);
	}
	if (!ended) {
		/* From here on, only what changes since this generation is new. */
		if (vm->dirty.active)
			dirty_log_committed(vm, gen);
		else if (dirty_log_start(vm, gen, e) < 0)
			fprintf(stderr, "tabi: %s; later generations store all memory\n", e);
	}
	/* Committed: these writes now belong to the new generation. */
	for (int k = 0; k < vm->cfg.ndisks; k++)
		if (vm->ovl[k])
			ovl_clear_fresh(vm->ovl[k]);
	vm->parent = gen;
	return 0;
fail_msg:
	snprintf(err, 512, "writing the new generation into %s failed: %s — "
		 "check the stick has room and is still attached", dir, strerror(errno));
fail:
	snap_abort(w);
	return -1;
}

int session_freeze(struct vm *vm, const char *dir, char err[512])
{
	char e[256] = "";
	if (vm_devices_quiesce(vm, e) < 0) {
		snprintf(err, 512, "%s", e);
		return -1;
	}
	int khz = ioctl(vm->vcpu[0].fd, KVM_GET_TSC_KHZ, 0);
	vm->cfg.tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	struct gen_plan pl;
	if (plan_generation(vm, dir, &pl, err) < 0)
		return -1;
	int rc = -1;
	if (check_space(vm, dir, &pl, err) == 0 &&
	    prepare_chain(vm, dir, pl.fold_below, err) == 0)
		rc = write_generation(vm, dir, false, &pl, err);
	plan_free(&pl);
	return rc;
}

int session_resume(struct vm *vm, const char *dir, char err[512])
{
	char serr[SNAP_ERR_LEN] = "", note[SNAP_ERR_LEN] = "", e[256] = "";
	struct snap_reader *r = snap_open(dir, serr, note);
	if (!r) {
		snprintf(err, 512, "%s", serr);
		return -1;
	}
	if (note[0])
		fprintf(stderr, "tabi: %s\n", note);
	if (config_u64(r, "ended")) {
		snap_close(r);
		if (finish_ended(dir, err) < 0)
			return -1;
		snprintf(err, 512, "no frozen session in %s (the guest shut down) — "
			 "start one with tabi run", dir);
		return SESSION_NOTHING;
	}
	size_t len;
	struct vm_config cfg;
	struct cpu_model model;
	struct state_buf b;
	const char *text = snap_get_section(r, "config", &len);
	if (!text) {
		snprintf(err, 512, "session %s has no configuration — it was not "
			 "written by tabi", dir);
		goto fail;
	}
	if (session_config_parse(text, len, dir, &cfg, err) < 0)
		goto fail;
	const void *cp = snap_get_section(r, "cpuid", &len);
	if (!cp) {
		snprintf(err, 512, "session %s lacks its CPU model — it is damaged", dir);
		goto fail;
	}
	sb_reader(&b, cp, len);
	if (cpu_model_restore(&model, &b) < 0 || !sb_done(&b)) {
		snprintf(err, 512, "session %s: its CPU model is malformed", dir);
		goto fail;
	}
	/* The CPU check comes before anything is created: a refused resume
	 * leaves the session exactly as it was. */
	int kfd = vm_open_kvm(e);
	if (kfd < 0) {
		snprintf(err, 512, "%s", e);
		goto fail;
	}
	struct kvm_cpuid_entry2 *host;
	int hn = vm_host_cpuid(kfd, &host, e);
	close(kfd);
	if (hn < 0) {
		snprintf(err, 512, "%s", e);
		goto fail;
	}
	char missing[400];
	int nmiss = cpu_model_missing(&model, host, hn, missing, sizeof(missing));
	free(host);
	if (nmiss) {
		snprintf(err, 512, "this PC's CPU lacks %d feature%s the session uses "
			 "(CPU model %s): %s — resume it on a PC that has them",
			 nmiss, nmiss > 1 ? "s" : "", model.name, missing);
		goto fail;
	}
	int64_t ramlen = snap_memory_len(r, "ram");
	if (ramlen != (int64_t)cfg.mem_bytes) {
		snprintf(err, 512, "session %s: memory image size does not match its "
			 "configuration — it is damaged", dir);
		goto fail;
	}
	/* A generation older than what the base disks already hold would
	 * put newer disk blocks under older memory. */
	uint64_t folded = base_gen(dir);
	if (snap_generation(r) < folded) {
		snprintf(err, 512, "session %s: generation %llu is older than the disks' "
			 "saved state (generation %llu) — it cannot be resumed", dir,
			 (unsigned long long)snap_generation(r), (unsigned long long)folded);
		goto fail;
	}
	/* Dirty tracking from the VM's creation on: the next generation can
	 * then store only what changed since this one. */
	cfg.track_dirty = true;
	if (vm_create(vm, &cfg, &model, e) < 0) {
		snprintf(err, 512, "%s", e);
		goto fail;
	}
	if (vm->tsc_scaled_note)
		fprintf(stderr, "tabi: this PC's TSC rate differs from the session's and "
			"KVM cannot scale it; the guest keeps time with kvmclock\n");
	struct progress p;
	progress_begin(&p, "resuming");
	if (snap_get_memory(r, "ram", vm->mem.host, vm->mem.size, threads(), true,
			    progress_update, &p, serr) < 0) {
		snprintf(err, 512, "%s", serr);
		goto fail;
	}
	progress_end(&p, vm->mem.size, 0);
	/* The disks as they were at this generation: base + ancestors' and
	 * this generation's deltas, in the overlays (the stick is not written). */
	uint64_t anc[ANC_MAX];
	int nanc = ancestors(dir, r, anc, err);
	if (nanc < 0 || apply_chain(vm, dir, anc, nanc, DELTA_TO_OVERLAY, err) < 0 ||
	    session_disk_apply(vm, r, DELTA_TO_OVERLAY, err) < 0)
		goto fail;
	vm->parent = snap_generation(r);
	if (dirty_log_start(vm, vm->parent, e) < 0)
		fprintf(stderr, "tabi: %s; the next generation stores all memory\n", e);
	for (int i = 0; i < cfg.cpus; i++) {
		char name[32];
		snprintf(name, sizeof(name), "vcpu.%d", i);
		const void *s = snap_get_section(r, name, &len);
		if (!s) {
			snprintf(err, 512, "session %s lacks the state of vCPU %d — it is damaged", dir, i);
			goto fail;
		}
		sb_reader(&b, s, len);
		if (vcpu_state_restore(vm, i, &b, e) < 0) {
			snprintf(err, 512, "%s", e);
			goto fail;
		}
	}
	const void *vs = snap_get_section(r, "vm", &len);
	sb_reader(&b, vs, vs ? len : 0);
	if (!vs || vm_state_restore(vm, &b, e) < 0) {
		snprintf(err, 512, "%s", vs ? e : "session lacks its VM state — it is damaged");
		goto fail;
	}
	const void *ds = snap_get_section(r, "devices", &len);
	sb_reader(&b, ds, ds ? len : 0);
	if (!ds || vm_devices_restore(vm, &b, e) < 0 || !sb_done(&b)) {
		snprintf(err, 512, "%s", ds && e[0] ? e : "session's device state is damaged");
		goto fail;
	}
	snap_close(r);
	return 0;
fail:
	snap_close(r);
	return -1;
}

/* Forgets the fold record, then removes every generation oldest first, so
 * the newest (the ended one) goes last and a pull midway repeats the
 * finishing from it. */
static void drop_session(const char *dir)
{
	session_forget_base(dir);
	uint64_t *gens;
	int ng = snap_list_generations(dir, &gens);
	for (int i = ng - 1; i >= 0; i--)  /* the list is newest first */
		snap_remove_generation(dir, gens[i]);
	if (ng > 0)
		free(gens);
}

/* An ended session's last generation holds the final disk changes: apply
 * the whole chain to the disk files (idempotent), then drop every
 * generation, newest last so a pull midway repeats this. */
static int finish_ended(const char *dir, char err[512])
{
	char serr[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open(dir, serr, note);
	if (!r) {
		snprintf(err, 512, "%s", serr);
		return -1;
	}
	uint64_t chain[ANC_MAX + 1];
	int n = ancestors(dir, r, chain + 1, err);
	chain[0] = snap_generation(r);
	snap_close(r);
	if (n < 0 || apply_chain(NULL, dir, chain, n + 1, DELTA_TO_BASE, err) < 0)
		return -1;
	drop_session(dir);
	return 0;
}

int session_live(const char *dir, char err[512])
{
	uint64_t *gens;
	int ng = snap_list_generations(dir, &gens);
	if (ng <= 0)
		return 0;
	free(gens);
	char serr[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	struct snap_reader *r = snap_open(dir, serr, note);
	if (!r)
		return 1;  /* damaged: never overwrite it with a new session */
	bool ended = config_u64(r, "ended") != 0;
	snap_close(r);
	if (!ended)
		return 1;
	return finish_ended(dir, err) < 0 ? -1 : 0;
}

int session_end(struct vm *vm, const char *dir, char err[512])
{
	if (prepare_chain(vm, dir, vm->parent, err) < 0 ||
	    write_generation(vm, dir, true, NULL, err) < 0)
		return -1;
	for (int k = 0; k < vm->cfg.ndisks; k++)
		if (vm->ovl[k] && ovl_fold_into_base(vm->ovl[k]) < 0) {
			snprintf(err, 512, "writing the guest's disk %s failed: %s",
				 vm->cfg.disk[k].path, strerror(errno));
			return -1;
		}
	drop_session(dir);
	return 0;
}
