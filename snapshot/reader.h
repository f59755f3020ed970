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

struct rimage {
	const struct snap_disk_image *img;
	const struct snap_disk_chunk *chunks;
	uint64_t zero_chunks, stored_bytes;
};

struct snap_reader {
	struct snap_src src;
	struct snap_disk_header hdr;
	uint64_t data_end;      /* chunks and sections lie in [64, data_end) */
	uint8_t *index;
	uint32_t n_sections, n_images;
	struct rsection *sections;
	struct rimage *images;
};

/* Pointer to len bytes at off: into the buffer, or read into scratch.
 * NULL when out of bounds or short (truncated, I/O error). */
const uint8_t *snap_src_view(const struct snap_src *s, uint64_t off,
			     uint64_t len, void *scratch);
/* Byte length of chunk k of an image. */
uint64_t snap_chunk_len(const struct snap_disk_image *img, uint64_t k);
/* Checks every chunk's stored checksum (and, when deep, decompresses it);
 * 0 or -1 with why set. */
int snap_verify_chunks(struct snap_reader *r, int threads, bool deep,
		       char why[SNAP_ERR_LEN]);
#endif
