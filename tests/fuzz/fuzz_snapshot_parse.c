/* libFuzzer: any bytes as a generation file. Parsing, verification,
 * sections and memory decode must never crash or read out of bounds.
 * snap_open_buffer has no directory, so PREV chunks (references into
 * older generation files) are rejected and nothing touches the disk.
 * With TABI_FUZZ_WRITE_SEED=DIR set, it instead writes a small valid
 * session into DIR and exits (tests/fuzz/run.sh seeds the corpus so). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "format.h"

static void write_seed(const char *dir)
{
	/* Small on purpose: a zero chunk, a compressible one, a raw tail. */
	uint64_t len = (2u << 20) + 300;
	uint8_t *mem = calloc(1, len);
	for (uint64_t i = 1u << 20; i < (2u << 20); i++)
		mem[i] = "seed text for tabi "[i % 19];
	uint64_t x = 88172645463325252ull;
	for (uint64_t i = 2u << 20; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		mem[i] = (uint8_t)x;
	}
	char err[SNAP_ERR_LEN];
	const char cfg[] = "cpu_model=x86-64-v2\nmem_bytes=2097452\ncpus=1\n";
	struct snap_writer *w = snap_begin(dir, err);
	if (!w || snap_put_section(w, "config", cfg, sizeof(cfg) - 1) ||
	    snap_put_section(w, "cpu0", mem + (1u << 20), 100) ||
	    snap_put_memory(w, "ram", mem, len, 2, NULL, NULL) ||
	    snap_commit(w, err)) {
		fprintf(stderr, "seed: %s\n", err);
		exit(1);
	}
	/* Generation 2, incremental: PREV chunks (a buffer cannot resolve
	 * them, so the parser's checks of them are what gets exercised). */
	mem[SNAP_MEMORY_CHUNK + 5] ^= 1;
	uint64_t changed = 1u << 1;
	struct snap_reader *parent = snap_open_generation_index(dir, 1, err);
	w = parent ? snap_begin(dir, err) : NULL;
	if (!w || snap_put_section(w, "config", cfg, sizeof(cfg) - 1) ||
	    snap_put_memory_since(w, "ram", mem, len, parent, &changed, true,
				  2, NULL, NULL, NULL) ||
	    snap_commit(w, err)) {
		fprintf(stderr, "seed: %s\n", err);
		exit(1);
	}
	snap_close(parent);
	free(mem);
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *seed = getenv("TABI_FUZZ_WRITE_SEED");
	if (seed)
		write_seed(seed);
	return 0;
}

/* Mutations almost never keep XXH3 sums valid, which would stop the fuzzer
 * at the first check. So for inputs whose first byte is odd, the rest is
 * taken as a file whose checksums are recomputed wherever the (bounds-
 * checked) structure lets us find them; the parser's later checks and the
 * decoder then see mutated but "valid-looking" data. */
static void fix_sums(uint8_t *b, size_t size)
{
	struct snap_disk_header h;
	struct snap_disk_footer f;
	if (size < 2 * 64 + 16)
		return;
	memcpy(&h, b, 64);
	h.checksum = snap_hash(&h, 56);
	memcpy(b, &h, 64);
	memcpy(&f, b + size - 64, 64);
	uint64_t io = f.index_offset, il = f.index_len;
	if (io >= 64 && io <= size - 64 && il == size - 64 - io && il >= 16) {
		struct snap_disk_index_head ih;
		memcpy(&ih, b + io, 16);
		uint64_t pos = io + 16, end = io + il;
		for (uint32_t i = 0; i < ih.n_sections && end - pos >= 96; i++) {
			struct snap_disk_section s;
			memcpy(&s, b + pos, 96);
			if (s.offset <= io && s.len <= io - s.offset)
				s.checksum = snap_hash(b + s.offset, s.len);
			memcpy(b + pos, &s, 96);
			pos += 96;
		}
		for (uint32_t i = 0; i < ih.n_images && end - pos >= 96; i++) {
			struct snap_disk_image im;
			memcpy(&im, b + pos, 96);
			pos += 96;
			for (uint64_t k = 0; k < im.n_chunks && end - pos >= 24; k++) {
				struct snap_disk_chunk c;
				memcpy(&c, b + pos, 24);
				if (c.offset <= io && c.stored_len <= io - c.offset)
					c.checksum = snap_hash(b + c.offset,
							       c.stored_len);
				memcpy(b + pos, &c, 24);
				pos += 24;
			}
		}
		f.index_checksum = snap_hash(b + io, il);
	}
	f.header_checksum = h.checksum;
	f.checksum = snap_hash(&f, 56);
	memcpy(b + size - 64, &f, 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[SNAP_ERR_LEN];
	uint8_t *copy = NULL;
	if (size && (data[0] & 1)) {
		copy = malloc(size);
		memcpy(copy, data + 1, size - 1);
		fix_sums(copy, size - 1);
		data = copy;
		size--;
	}
	struct snap_reader *r = snap_open_buffer(data, size, err);
	if (!r) {
		free(copy);
		return 0;
	}
	size_t len;
	const uint8_t *cfg = snap_get_section(r, "config", &len);
	volatile uint8_t sink = 0;
	for (size_t i = 0; cfg && i < len; i++)
		sink ^= cfg[i];
	for (int i = 0; i < snap_section_count(r); i++)
		snap_get_section(r, snap_section_name(r, i), &len);
	for (int i = 0; i < snap_image_count(r); i++) {
		struct snap_image_info im;
		snap_image_info(r, i, &im);
		if (snap_memory_len(r, im.name) != (int64_t)im.len ||
		    im.len > (64u << 20))
			continue;
		uint8_t *dst = malloc(im.len ? im.len : 1);
		if (dst && snap_get_memory(r, im.name, dst, im.len, 1, false,
					   NULL, NULL, err) == 0 && im.len)
			sink ^= dst[im.len - 1];
		free(dst);
	}
	(void)sink;
	snap_close(r);
	free(copy);
	return 0;
}
