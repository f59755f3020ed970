/* Guest memory layout and gm_ptr bounds: low RAM, the PCI hole, high RAM at
 * 4 GiB, zero-length and overflowing ranges, the VMM's dirty bitmap. */
#include <stdlib.h>
#include "unit.h"
#include "guest_memory.h"

#define G (1ULL << 30)
#define M (1ULL << 20)
/* Layouts of many GiB are checked without allocating: pointers from a fake
 * host base are only compared, never dereferenced. */
#define FAKE ((uint8_t *)(uintptr_t)0x200000000000ULL)

static void test_small(void)
{
	struct guest_memory m;
	gm_layout(&m, FAKE, 64 * M);
	CHECK_EQ(m.size, 64 * M);
	CHECK_EQ(m.low_size, 64 * M);
	CHECK_EQ(m.high_size, 0);
	CHECK(m.vmm_dirty == NULL);
	CHECK(gm_ptr(&m, 0, 1) == FAKE);
	CHECK(gm_ptr(&m, 0x1234, 16) == FAKE + 0x1234);
	CHECK(gm_ptr(&m, 64 * M - 1, 1) == FAKE + 64 * M - 1);
	CHECK(gm_ptr(&m, 0, 64 * M) == FAKE);
	CHECK(gm_ptr(&m, 0, 64 * M + 1) == NULL);
	CHECK(gm_ptr(&m, 64 * M - 4, 8) == NULL);      /* crosses the end */
	CHECK(gm_ptr(&m, 64 * M, 1) == NULL);
	CHECK(gm_ptr(&m, 64 * M, 0) == FAKE + 64 * M);   /* len 0 at the end */
	CHECK(gm_ptr(&m, 64 * M + 1, 0) == NULL);
	CHECK(gm_ptr(&m, 3 * G, 1) == NULL);
	CHECK(gm_ptr(&m, 4 * G, 1) == NULL);            /* no high RAM */
	/* Overflowing lengths never wrap around to "fits". */
	CHECK(gm_ptr(&m, 16, UINT64_MAX) == NULL);
	CHECK(gm_ptr(&m, 16, UINT64_MAX - 15) == NULL);
	CHECK(gm_ptr(&m, UINT64_MAX, 1) == NULL);
	CHECK(gm_ptr(&m, UINT64_MAX, 0) == NULL);
	CHECK(gm_ptr(&m, UINT64_MAX - 4095, 4096) == NULL);
	CHECK_EQ(gm_offset(&m, 0x5000), 0x5000);
}

static void test_exactly_low(void)
{
	struct guest_memory m;
	gm_layout(&m, FAKE, 3 * G);
	CHECK_EQ(m.low_size, 3 * G);
	CHECK_EQ(m.high_size, 0);
	CHECK(gm_ptr(&m, 3 * G - 4096, 4096) == FAKE + 3 * G - 4096);
	CHECK(gm_ptr(&m, 3 * G - 4096, 4097) == NULL);  /* into the hole */
	CHECK(gm_ptr(&m, 3 * G, 0) == FAKE + 3 * G);
	CHECK(gm_ptr(&m, 0xFEC00000, 4) == NULL);        /* IOAPIC */
	CHECK(gm_ptr(&m, 4 * G, 1) == NULL);
}

static void test_large(void)
{
	struct guest_memory m;
	gm_layout(&m, FAKE, 5 * G);
	CHECK_EQ(m.low_size, 0xC0000000ULL);
	CHECK_EQ(m.high_size, 2 * G);
	CHECK_EQ(m.low_size + m.high_size, 5 * G);
	/* Low RAM. */
	CHECK(gm_ptr(&m, 0xBFFFFFFFULL, 1) == FAKE + 0xBFFFFFFFULL);
	/* Crossing the end of low RAM into the hole. */
	CHECK(gm_ptr(&m, 0xBFFFF000ULL, 0x2000) == NULL);
	CHECK(gm_ptr(&m, 0xBFFFFFFFULL, 2) == NULL);
	/* In the hole. */
	CHECK(gm_ptr(&m, 0xC0000000ULL, 1) == NULL);
	CHECK(gm_ptr(&m, 0xE0000000ULL, 4096) == NULL);
	CHECK(gm_ptr(&m, 0xFEE00000ULL, 4) == NULL);
	CHECK(gm_ptr(&m, 0xFFFFFFFFULL, 1) == NULL);
	CHECK(gm_ptr(&m, 0xFFFFFFFFULL, 2) == NULL);     /* hole into high RAM */
	CHECK(gm_ptr(&m, 0xC0000000ULL, 0) == FAKE + 0xC0000000ULL); /* len 0 at low end */
	CHECK(gm_ptr(&m, 0xD0000000ULL, 0) == NULL);     /* len 0 in the hole */
	/* A range spanning low, hole and high RAM. */
	CHECK(gm_ptr(&m, 0xBFFFF000ULL, 0x40002000ULL) == NULL);
	/* High RAM starts at 4 GiB, right after low RAM in the mapping. */
	CHECK(gm_ptr(&m, 4 * G, 1) == FAKE + 0xC0000000ULL);
	CHECK(gm_ptr(&m, 4 * G + 0x1234, 8) == FAKE + 0xC0000000ULL + 0x1234);
	CHECK(gm_ptr(&m, 6 * G - 1, 1) == FAKE + 5 * G - 1);
	CHECK(gm_ptr(&m, 4 * G, 2 * G) == FAKE + 0xC0000000ULL);
	CHECK(gm_ptr(&m, 4 * G, 2 * G + 1) == NULL);
	CHECK(gm_ptr(&m, 6 * G - 4, 8) == NULL);         /* crosses the end */
	CHECK(gm_ptr(&m, 6 * G, 1) == NULL);
	CHECK(gm_ptr(&m, 6 * G, 0) == FAKE + 5 * G);     /* len 0 at the end */
	CHECK(gm_ptr(&m, 6 * G + 1, 0) == NULL);
	CHECK(gm_ptr(&m, 4 * G + 16, UINT64_MAX) == NULL);
	CHECK(gm_ptr(&m, 4 * G + 16, UINT64_MAX - 15) == NULL);
	CHECK(gm_ptr(&m, UINT64_MAX - 4095, 4096) == NULL);
	CHECK_EQ(gm_offset(&m, 0x1000), 0x1000);
	CHECK_EQ(gm_offset(&m, 4 * G + 0x1000), 0xC0001000ULL);

	/* 3 GiB + one page: a single page of high RAM. */
	gm_layout(&m, FAKE, 3 * G + 4096);
	CHECK_EQ(m.high_size, 4096);
	CHECK(gm_ptr(&m, 4 * G, 4096) == FAKE + 3 * G);
	CHECK(gm_ptr(&m, 4 * G + 1, 4096) == NULL);
	CHECK(gm_ptr(&m, 4 * G + 4096, 0) == FAKE + 3 * G + 4096);
}

static void test_dirty(void)
{
	size_t size = 8 * M;
	uint8_t *mem = calloc(1, size);
	struct guest_memory m;
	gm_layout(&m, mem, size);
	uint64_t bits[(8 * M / 4096 + 63) / 64];
	memset(bits, 0, sizeof(bits));
	/* Without a bitmap, writes work and mark nothing. */
	CHECK(gm_ptr_write(&m, 0x1000, 16) == mem + 0x1000);
	m.vmm_dirty = bits;
	/* One byte: one page. */
	CHECK(gm_ptr_write(&m, 0x5123, 1) == mem + 0x5123);
	CHECK_EQ(bits[0], 1ULL << 5);
	/* Exactly one page, aligned: that page only. */
	memset(bits, 0, sizeof(bits));
	gm_ptr_write(&m, 0x7000, 4096);
	CHECK_EQ(bits[0], 1ULL << 7);
	/* Crossing a page boundary: both pages. */
	memset(bits, 0, sizeof(bits));
	gm_ptr_write(&m, 0x8FFF, 2);
	CHECK_EQ(bits[0], (1ULL << 8) | (1ULL << 9));
	/* Across a bitmap word: pages 62..65. */
	memset(bits, 0, sizeof(bits));
	gm_ptr_write(&m, 62 * 4096 + 100, 3 * 4096);
	CHECK_EQ(bits[0], (1ULL << 62) | (1ULL << 63));
	CHECK_EQ(bits[1], (1ULL << 0) | (1ULL << 1));
	/* Last page of RAM. */
	memset(bits, 0, sizeof(bits));
	uint64_t last = 8 * M / 4096 - 1;
	CHECK(gm_ptr_write(&m, 8 * M - 1, 1) == mem + 8 * M - 1);
	CHECK_EQ(bits[last / 64], 1ULL << (last % 64));
	/* Zero length, refused ranges and plain gm_ptr mark nothing. */
	memset(bits, 0, sizeof(bits));
	gm_ptr_write(&m, 0x3000, 0);
	CHECK(gm_ptr_write(&m, 8 * M - 8, 16) == NULL);
	CHECK(gm_ptr_write(&m, 8 * M, 0) == mem + 8 * M);
	gm_ptr(&m, 0x4000, 4096);
	int zero = 1;
	for (size_t i = 0; i < sizeof(bits) / 8; i++)
		zero &= bits[i] == 0;
	CHECK(zero);
	/* Marks accumulate. */
	gm_ptr_write(&m, 0x1000, 1);
	gm_ptr_write(&m, 0x3000, 1);
	CHECK_EQ(bits[0], (1ULL << 1) | (1ULL << 3));
	free(mem);

	/* High RAM: the bit is the page's index in the mapping, not its gpa. */
	struct guest_memory h;
	gm_layout(&h, FAKE, 5 * G);
	size_t words = (size_t)(5 * G / 4096 / 64);
	uint64_t *hb = calloc(words, 8);
	h.vmm_dirty = hb;
	CHECK(gm_ptr_write(&h, 4 * G + 4096, 8) == FAKE + 3 * G + 4096);
	uint64_t pg = (3 * G + 4096) / 4096;
	CHECK_EQ(hb[pg / 64], 1ULL << (pg % 64));
	CHECK(gm_ptr_write(&h, 0xBFFFFFFFULL, 2) == NULL);   /* refused: no mark */
	uint64_t lp = 0xBFFFFFFFULL / 4096;
	CHECK_EQ(hb[lp / 64], 0);
	gm_ptr_write(&h, 6 * G - 1, 1);
	uint64_t endpg = 5 * G / 4096 - 1;
	CHECK_EQ(hb[endpg / 64] >> (endpg % 64) & 1, 1);
	free(hb);
}

int main(void)
{
	test_small();
	test_exactly_low();
	test_large();
	test_dirty();
	UNIT_MAIN_END();
}
