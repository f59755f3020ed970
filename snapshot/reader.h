/* The reader's in-memory form, shared by reader.c (parsing and checks),
 * decode.c (chunk verification and decompression) and cli.c. */
#ifndef TABI_SNAPSHOT_READER_H
#define TABI_SNAPSHOT_READER_H
#include "format.h"

/* Where generation bytes come from: a file (pread) or a buffer. Every read
 * is bounds-checked against size, which never changes after open. */
struct snap_src {
	int fd;                 /* -1 for a buffer */
	const uint8_t *buf;
	uint64_t size;
};

struct rsection {
	const char *name;       /* points into the index copy */
	uint8_t *data;
	uint64_t len;
};

/* Where a PREV chunk's bytes are: in an owner generation's file. */
struct rprev {
	const struct snap_src *src;   /* NULL: chunk k is not PREV */
	uint64_t offset;
	uint8_t kind;                 /* ZSTD or RAW */
};

struct rimage {
	const struct snap_disk_image *img;
	const struct snap_disk_chunk *chunks;
	uint64_t zero_chunks, stored_bytes, prev_chunks;
	struct rprev *prev;     /* n_chunks entries once PREV chunks are
				 * resolved; NULL before (or without any) */
};

struct snap_reader {
	struct snap_src src;
	struct snap_disk_header hdr;
	uint64_t data_end;      /* chunks and sections lie in [64, data_end) */
	uint8_t *index;
	uint32_t n_sections, n_images;
	struct rsection *sections;
	struct rimage *images;
	char *dir;              /* session directory; NULL for a buffer */
	struct snap_reader **owners;  /* opened index-only, one per owner */
	uint32_t n_owners;
};

/* Pointer to len bytes at off: into the buffer, or read into scratch.
 * NULL when out of bounds or short (truncated, I/O error). */
const uint8_t *snap_src_view(const struct snap_src *s, uint64_t off,
			     uint64_t len, void *scratch);
/* Byte length of chunk k of an image. */
uint64_t snap_chunk_len(const struct snap_disk_image *img, uint64_t k);
/* Checks every chunk's stored checksum (and, when deep, decompresses it);
 * 0 or -1 with why set. PREV chunks must be resolved. memo (may be NULL):
 * chunks it holds are skipped, chunks found good are added. */
int snap_verify_chunks(struct snap_reader *r, int threads, bool deep,
		       struct snap_verify_memo *memo, char why[SNAP_ERR_LEN]);
/* A physically stored chunk: chunk k of image `image` stored in generation
 * gen's file at offset (for a PREV chunk: the owner's). */
struct snap_memo_key {
	uint64_t gen, k, offset, checksum;
	uint32_t stored_len;
	const char *image;
};
/* True when key was recorded good (deep: and decompressed). */
bool snap_memo_seen(struct snap_verify_memo *m,
		    const struct snap_memo_key *key, bool deep);
/* Counts one verification of key; records it when good. Thread-safe. */
void snap_memo_checked(struct snap_verify_memo *m,
		       const struct snap_memo_key *key, bool deep, bool good);
/* Resolves the PREV chunks of image im (all images when NULL) against the
 * owner generations in r->dir (opened index-only, cached in r): the owner
 * must exist, be older, and hold the same image with a ZSTD/RAW chunk k of
 * the same stored_len and checksum. SNAP_OK, or SNAP_DAMAGED (SNAP_IO when
 * out of memory) with why. */
enum snap_fail snap_resolve_prev(struct snap_reader *r, struct rimage *im,
				 char why[SNAP_ERR_LEN]);
/* Compares chunks list[0..m) of image im (resolved) with mem: stored bytes
 * checksummed, decompressed and compared; ZERO chunks must be zero in mem.
 * 0 when all equal; 1 with *bad set to a differing chunk; -1 with why when
 * a chunk cannot be read or is damaged. */
int snap_compare_chunks(struct snap_reader *r, const struct rimage *im,
			const uint8_t *mem, const uint64_t *list, uint64_t m,
			int threads, uint64_t *bad, char why[SNAP_ERR_LEN]);
/* The image of r named name, or NULL. */
struct rimage *snap_find_image(struct snap_reader *r, const char *name);
#endif
