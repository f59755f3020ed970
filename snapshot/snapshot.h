/* tabi session format: a directory of committed generations.
 * This library knows nothing of KVM: it stores named, checksummed sections
 * and guest memory images (chunked, zero chunks free, zstd on threads).
 * On-disk layout and versioning: snapshot/FORMAT.md. */
#ifndef TABI_SNAPSHOT_H
#define TABI_SNAPSHOT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_ERR_LEN 512

/* Progress while writing or reading memory: bytes of guest memory handled so
 * far out of total. Called from the caller's thread, at most ~10 times/s. */
typedef void (*snap_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct snap_writer;
struct snap_reader;

/* ---- writing a new generation ---- */
/* Creates DIR if missing. The new generation is written beside the committed
 * ones under a temporary name and is invisible until snap_commit(). */
struct snap_writer *snap_begin(const char *dir, char err[SNAP_ERR_LEN]);
/* Small state section (registers, device state, config). Names are unique,
 * at most 63 bytes. Copies data. */
int snap_put_section(struct snap_writer *w, const char *name,
		     const void *data, size_t len);
/* Memory image: len bytes at mem, stored in fixed-size chunks; chunks of all
 * zeros cost nothing, others are zstd-compressed on `threads` threads
 * (<= 0: one per CPU). mem must not change until it returns (pause vCPUs). */
int snap_put_memory(struct snap_writer *w, const char *name, const void *mem,
		    uint64_t len, int threads, snap_progress_fn progress,
		    void *ctx);
/* zstd level for later snap_put_memory calls (default 1; negative levels
 * are faster and larger). Readers need not know it. */
void snap_set_level(struct snap_writer *w, int level);
/* Writes the index, fsyncs the file, renames it into place atomically, fsyncs
 * the directory, then removes older generations. 0 on success. On failure
 * nothing committed before is touched and err says why. Frees w. */
int snap_commit(struct snap_writer *w, char err[SNAP_ERR_LEN]);
/* Drops an uncommitted generation (removes its temporary file). Frees w. */
void snap_abort(struct snap_writer *w);
/* Upper bound of the bytes a generation needs on disk for a memory image of
 * mem_len bytes (every chunk stored raw), for a free-space check before
 * freezing. Sections come on top. */
uint64_t snap_estimate_bytes(uint64_t mem_len);

/* ---- reading ---- */
/* Opens the newest committed generation whose every checksum verifies.
 * If the newest is damaged and an older good one exists, opens that one and
 * sets *fallback_note to a line naming both (caller prints it); if none is
 * good returns NULL with err naming the problem (and the older generation if
 * there is one). Never modifies the directory. */
struct snap_reader *snap_open(const char *dir, char err[SNAP_ERR_LEN],
			      char note[SNAP_ERR_LEN]);
/* Section bytes (owned by the reader) or NULL if absent. */
const void *snap_get_section(struct snap_reader *r, const char *name,
			     size_t *len);
/* Length of a stored memory image, or -1 when absent. */
int64_t snap_memory_len(struct snap_reader *r, const char *name);
/* Fills dst (len bytes, must equal the stored length) from the image,
 * decompressing on `threads` threads; zero chunks are memset (or skipped
 * when dst_is_zeroed). 0 on success. */
int snap_get_memory(struct snap_reader *r, const char *name, void *dst,
		    uint64_t len, int threads, bool dst_is_zeroed,
		    snap_progress_fn progress, void *ctx,
		    char err[SNAP_ERR_LEN]);
uint64_t snap_generation(struct snap_reader *r);
/* Parses and verifies one generation held in memory (buf must outlive the
 * reader); for fuzzing and tools. NULL with err on any problem. */
struct snap_reader *snap_open_buffer(const void *buf, size_t len,
				     char err[SNAP_ERR_LEN]);
void snap_close(struct snap_reader *r);

/* ---- individual generations (sessions that keep state across several) ---- */
/* Number the writer will commit as. */
uint64_t snap_writer_generation(const struct snap_writer *w);
/* Committed generation numbers in dir, newest first; count or -1. *gens is
 * malloc'd (free it). */
int snap_list_generations(const char *dir, uint64_t **gens);
/* Opens one committed generation, every checksum verified; NULL with err. */
struct snap_reader *snap_open_generation(const char *dir, uint64_t gen,
					 char err[SNAP_ERR_LEN]);
/* Path of generation gen's file in dir (tmp: the name it is written under
 * before its commit). */
void snap_gen_path(char *out, size_t n, const char *dir, uint64_t gen,
		   bool tmp);
/* Removes one generation and syncs the directory. */
int snap_remove_generation(const char *dir, uint64_t gen);

/* ---- incremental generations (FORMAT.md: PREV chunks) ---- */
/* Chunk size of every memory image this library writes; the `changed`
 * bitmaps below have one bit per chunk (bit k%64 of word k/64). */
#define SNAP_MEMORY_CHUNK (256u << 10)
/* Opens committed generation `gen` to be the parent of an incremental one:
 * header, footer, index and sections verified, chunks not read (only their
 * index entries are copied; every reader of the child still verifies the
 * bytes). NULL with err. */
struct snap_reader *snap_open_generation_index(const char *dir, uint64_t gen,
					       char err[SNAP_ERR_LEN]);
/* Like snap_put_memory, but chunk k whose bit in `changed` is clear is not
 * stored again: it is recorded as the same bytes as chunk k of the
 * same-named image of `parent` (a committed generation of this writer's
 * directory), pointing at the generation that physically holds them. When
 * parent is NULL or has no such image or one of another length or chunk
 * size, every chunk is stored. *stored (may be NULL) gets the number of
 * chunks compressed and written. verify_clean: every chunk taken from the
 * parent is first read back, decompressed and compared with mem; a
 * difference fails ("chunk k changed but was not marked") — for testing
 * the caller's dirty tracking. */
int snap_put_memory_since(struct snap_writer *w, const char *name,
			  const void *mem, uint64_t len,
			  struct snap_reader *parent, const uint64_t *changed,
			  bool verify_clean, int threads,
			  snap_progress_fn progress, void *ctx,
			  uint64_t *stored);
/* After this writer commits, generations older than `gen` are removed
 * (default: all but the newest older one). Never removed: the newest older
 * generation (the fallback) and every generation that the new one or the
 * fallback refers to. */
void snap_set_keep_from(struct snap_writer *w, uint64_t gen);
/* True when some memory image of r refers to chunks of older generations. */
bool snap_is_incremental(struct snap_reader *r);

/* ---- CLI: `tabi snapshot info|verify DIR` ---- */
/* argv[0] is "info" or "verify". Returns the process exit code. */
int snap_cli_main(int argc, char **argv);
#endif
