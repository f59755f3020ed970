/* Disk overlay: writes stay out of the base until folded; reads see them. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "disk_overlay.h"
#include "unit.h"

#define SIZE (3 * OVL_CLUSTER + 4096)  /* last cluster short */

static int make_base(char *path)
{
	int fd = mkstemp(path);
	uint8_t *b = malloc(SIZE);
	for (size_t i = 0; i < SIZE; i++)
		b[i] = (uint8_t)(i * 7);
	CHECK(pwrite(fd, b, SIZE, 0) == SIZE);
	free(b);
	return fd;
}

static uint8_t base_byte(uint64_t off) { return (uint8_t)(off * 7); }

int main(void)
{
	char path[] = "/tmp/tabi-ovl-XXXXXX";
	int fd = make_base(path);
	char err[256];
	struct disk_overlay *o = ovl_open(fd, SIZE, "/tmp", err);
	CHECK(o != NULL);
	CHECK_EQ(o->nclusters, 4);
	CHECK_EQ(ovl_cluster_len(o, 3), 4096);

	/* A write in the middle of cluster 1, split over two iovecs. */
	uint8_t a[100], b[50];
	memset(a, 0xAA, sizeof(a));
	memset(b, 0xBB, sizeof(b));
	struct iovec w[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	CHECK_EQ(ovl_rw(o, w, 2, OVL_CLUSTER + 1000, true), 0);
	CHECK(ovl_is_fresh(o, 1));
	CHECK(!ovl_is_fresh(o, 0));
	CHECK_EQ(ovl_fresh_count(o), 1);

	/* The base file is untouched. */
	uint8_t x;
	CHECK(pread(fd, &x, 1, OVL_CLUSTER + 1000) == 1);
	CHECK_EQ(x, base_byte(OVL_CLUSTER + 1000));

	/* Reads across clusters 0..2 see base, the write, and copied-up base. */
	size_t n = 2 * OVL_CLUSTER + 10;
	uint8_t *r = malloc(n);
	struct iovec rv = { r, n };
	CHECK_EQ(ovl_rw(o, &rv, 1, 5, false), 0);
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t off = 5 + i;
		uint8_t want = base_byte(off);
		if (off >= OVL_CLUSTER + 1000 && off < OVL_CLUSTER + 1100) want = 0xAA;
		else if (off >= OVL_CLUSTER + 1100 && off < OVL_CLUSTER + 1150) want = 0xBB;
		bad += r[i] != want;
	}
	CHECK_EQ(bad, 0);
	free(r);

	/* Out of range is refused. */
	struct iovec big = { a, sizeof(a) };
	CHECK(ovl_rw(o, &big, 1, SIZE - 10, false) < 0);
	CHECK(ovl_rw(o, &big, 1, SIZE - 10, true) < 0);

	/* Short last cluster: a write to its end works. */
	struct iovec tail = { b, 10 };
	CHECK_EQ(ovl_rw(o, &tail, 1, SIZE - 10, true), 0);
	CHECK(ovl_is_fresh(o, 3));

	/* A committed cluster loaded into a fresh overlay is present, not fresh. */
	uint8_t *cl = malloc(OVL_CLUSTER);
	CHECK_EQ(ovl_read_cluster(o, 1, cl), 0);
	CHECK_EQ(cl[1000], 0xAA);
	struct disk_overlay *o2 = ovl_open(fd, SIZE, "/tmp", err);
	CHECK_EQ(ovl_load_cluster(o2, 1, cl), 0);
	CHECK(!ovl_is_fresh(o2, 1));
	uint8_t y;
	struct iovec yv = { &y, 1 };
	CHECK_EQ(ovl_rw(o2, &yv, 1, OVL_CLUSTER + 1120, false), 0);
	CHECK_EQ(y, 0xBB);
	CHECK(ovl_load_cluster(o2, 99, cl) < 0);
	ovl_close(o2);

	ovl_clear_fresh(o);
	CHECK_EQ(ovl_fresh_count(o), 0);

	/* Folding writes every overlay cluster into the base. */
	CHECK_EQ(ovl_fold_into_base(o), 0);
	CHECK(pread(fd, &x, 1, OVL_CLUSTER + 1049) == 1);
	CHECK_EQ(x, 0xAA);
	CHECK(pread(fd, &x, 1, SIZE - 1) == 1);
	CHECK_EQ(x, 0xBB);
	CHECK(pread(fd, &x, 1, 7) == 1);
	CHECK_EQ(x, base_byte(7));
	free(cl);
	ovl_close(o);
	close(fd);
	unlink(path);
	UNIT_MAIN_END();
}
