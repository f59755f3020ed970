/* On-disk structures of a tabi generation file (see snapshot/FORMAT.md) and
 * the helpers shared by writer, reader and CLI. Internal to snapshot/. */
#ifndef TABI_SNAPSHOT_FORMAT_H
#define TABI_SNAPSHOT_FORMAT_H
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "snapshot.h"

#define SNAP_MAGIC        "TABISNAP"   /* header, offset 0 */
#define SNAP_FOOT_MAGIC   "TABIINDX"   /* footer, last 64 bytes */
#define SNAP_VERSION      1u
#define SNAP_NAME_MAX     64           /* name field incl. NUL */
#define SNAP_CHUNK_SIZE   SNAP_MEMORY_CHUNK /* what the writer uses */
#define SNAP_CHUNK_MIN    (1u << 12)   /* what a reader accepts */
#define SNAP_CHUNK_MAX    (1u << 24)
#define SNAP_SECTION_MAX  (256ull << 20)
#define SNAP_ZSTD_LEVEL   1

/* Chunk kinds (FORMAT.md). PREV: incremental generations; its offset is
 * the generation that stores the chunk, stored_len and checksum copy that
 * generation's (ZSTD or RAW) entry. */
enum {
	SNAP_CHUNK_ZERO = 0,  /* all zeros, no bytes stored */
	SNAP_CHUNK_ZSTD = 1,  /* one zstd frame with content size + checksum */
	SNAP_CHUNK_RAW  = 2,  /* stored as is (did not compress) */
	SNAP_CHUNK_PREV = 3,  /* same bytes as chunk k in an older generation */
};

struct snap_disk_header {          /* 64 bytes at offset 0 */
	char magic[8];
	uint32_t version;
	uint32_t header_size;      /* 64 */
	uint64_t generation;
	uint64_t created_ns;       /* CLOCK_REALTIME when written */
	uint32_t flags;            /* 0 in version 1 */
	uint32_t reserved0;
	uint8_t reserved[16];
	uint64_t checksum;         /* XXH3-64 of bytes 0..55 */
};

struct snap_disk_footer {          /* 64 bytes at end of file */
	char magic[8];
	uint32_t version;
	uint32_t reserved0;
	uint64_t generation;
	uint64_t index_offset;
	uint64_t index_len;
	uint64_t index_checksum;   /* XXH3-64 of the index bytes */
	uint64_t header_checksum;  /* ties this footer to this file's header */
	uint64_t checksum;         /* XXH3-64 of bytes 0..55 */
};

struct snap_disk_index_head {      /* 16 bytes, starts the index */
	uint32_t n_sections;
	uint32_t n_images;
	uint64_t reserved;
};

struct snap_disk_section {         /* 96 bytes */
	char name[SNAP_NAME_MAX];
	uint64_t offset;
	uint64_t len;
	uint64_t checksum;         /* XXH3-64 of the section bytes */
	uint64_t reserved;
};

struct snap_disk_image {           /* 96 bytes, then n_chunks chunk entries */
	char name[SNAP_NAME_MAX];
	uint64_t len;
	uint32_t chunk_size;
	uint32_t reserved0;
	uint64_t n_chunks;
	uint64_t reserved1;
};

struct snap_disk_chunk {           /* 24 bytes */
	uint64_t offset;
	uint32_t stored_len;
	uint8_t kind;
	uint8_t pad[3];
	uint64_t checksum;         /* XXH3-64 of the stored bytes */
};

_Static_assert(sizeof(struct snap_disk_header) == 64, "header layout");
_Static_assert(sizeof(struct snap_disk_footer) == 64, "footer layout");
_Static_assert(sizeof(struct snap_disk_index_head) == 16, "index layout");
_Static_assert(sizeof(struct snap_disk_section) == 96, "section layout");
_Static_assert(sizeof(struct snap_disk_image) == 96, "image layout");
_Static_assert(sizeof(struct snap_disk_chunk) == 24, "chunk layout");

/* ---- util.c ---- */
uint64_t snap_hash(const void *p, size_t len);
bool snap_is_zero(const void *p, size_t len);
void snap_errf(char err[SNAP_ERR_LEN], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int snap_default_threads(void);
uint64_t snap_now_ms(void);
int snap_write_all(int fd, const void *p, size_t len);
/* Runs fn(arg, worker, k) for k in [0, n) on `threads` threads (the caller
 * is worker 0 and reports progress as k*unit of total). Stops at the first
 * non-zero return and returns it. */
typedef int (*snap_par_fn)(void *arg, int worker, uint64_t k);
int snap_par_run(int threads, uint64_t n, snap_par_fn fn, void *arg,
		 uint64_t unit, uint64_t total, snap_progress_fn progress,
		 void *ctx);

/* ---- gens.c: generations in a session directory ---- */
/* Committed generation numbers in dir, newest first. Returns the count
 * (0 for none) or -1 with errno set when dir cannot be read. */
int snap_list_gens(const char *dir, uint64_t **gens);

/* ---- writer.c: the file being written ---- */
struct snap_out {
	int fd;
	uint64_t off;       /* bytes written so far */
	uint64_t flushed;   /* writeback started up to here */
	const char *path;
	bool failed;
	char err[SNAP_ERR_LEN];
};
/* Appends; on failure sets o->err once and returns -1. */
int snap_out_write(struct snap_out *o, const void *p, size_t len);

/* ---- compress.c ---- */
/* Stores an image's chunks at o, in order, filling chunks[] (n entries).
 * Workers detect zeros, compress and hash; the caller's thread writes.
 * list: when not NULL, only chunks list[0..m) (ascending) are stored and
 * only their entries filled; NULL: every chunk (m ignored). */
int snap_compress_image(struct snap_out *o, const uint8_t *mem, uint64_t len,
			uint32_t chunk_size, int level, int threads,
			const uint64_t *list, uint64_t m,
			struct snap_disk_chunk *chunks,
			snap_progress_fn progress, void *ctx);

/* ---- reader.c ---- */
/* SNAP_MISSING: the file does not exist (otherwise like SNAP_IO). */
enum snap_fail { SNAP_OK, SNAP_DAMAGED, SNAP_FOREIGN, SNAP_WRONG_VERSION,
		 SNAP_IO, SNAP_MISSING };
struct snap_image_info {
	const char *name;
	uint64_t len, n_chunks, zero_chunks;
	uint64_t stored_bytes;     /* bytes of this generation's own chunks */
	uint64_t prev_chunks;      /* chunks stored by older generations */
	uint32_t chunk_size;
};
enum snap_open_mode {
	SNAP_OPEN_VERIFY,   /* everything, chunk checksums included */
	SNAP_OPEN_DEEP,     /* and every chunk decompressed (verify CLI) */
	SNAP_OPEN_INDEX,    /* header, footer, index, sections only; PREV
			     * chunks are not resolved */
};
/* Opens generation gen of session directory dir; PREV chunks are resolved
 * against the owner generations in dir. *why gets a short reason on
 * failure. */
struct snap_reader *snap_open_file(const char *dir, uint64_t gen,
				   enum snap_open_mode mode,
				   enum snap_fail *fail,
				   char why[SNAP_ERR_LEN]);
/* The CLI's variants: chunks already verified in this run (memo, see
 * verify_memo.c) are not read again; memo NULL: like snap_open_file and
 * snap_open. snap_open, snap_open_generation and snap_get_memory never
 * use a memo. */
struct snap_verify_memo;
struct snap_reader *snap_open_file_memo(const char *dir, uint64_t gen,
					enum snap_open_mode mode,
					struct snap_verify_memo *memo,
					enum snap_fail *fail,
					char why[SNAP_ERR_LEN]);
struct snap_reader *snap_open_memo(const char *dir,
				   struct snap_verify_memo *memo,
				   char err[SNAP_ERR_LEN],
				   char note[SNAP_ERR_LEN]);
/* "is damaged", "cannot be read", ... for messages. */
const char *snap_fail_words(enum snap_fail f);
int snap_image_count(struct snap_reader *r);
int snap_section_count(struct snap_reader *r);
const char *snap_section_name(struct snap_reader *r, int i);
uint64_t snap_created_ns(struct snap_reader *r);
void snap_image_info(struct snap_reader *r, int i, struct snap_image_info *o);

/* ---- verify_memo.c: chunks verified once per CLI run ---- */
/* NULL when out of memory (the run then verifies everything). */
struct snap_verify_memo *snap_memo_new(void);
void snap_memo_free(struct snap_verify_memo *m);
/* Chunk verifications (stored bytes read and checked) done through m. */
uint64_t snap_memo_checks(const struct snap_verify_memo *m);

/* ---- cli.c ---- */
/* Chunk verifications performed by the last snap_cli_main run (tests). */
uint64_t snap_cli_chunk_checks(void);
#endif
