/* virtio-blk against a temporary image file: read, write, flush, get-id,
 * out-of-range, unsupported, malformed and read-only requests, create
 * errors, save/restore. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "unit.h"
#include "virtio_blk.h"
#include "virtio_driver.h"

#define SECTORS 64
#define HDR  0x10000
#define DATA 0x11000
#define STAT 0x20000

static struct guest_memory gm;
static struct rec_irq rec;
static const struct irq_sink sink = { rec_msi, rec_line, &rec };
static struct tring tr;
static char path[64];

static uint64_t features(void)
{
	return 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_INDIRECT_DESC |
	       1ULL << VIRTIO_RING_F_EVENT_IDX | 1ULL << VIRTIO_BLK_F_FLUSH |
	       1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE;
}

static void put_hdr(uint32_t type, uint64_t sector)
{
	uint8_t *h = gm_ptr(&gm, HDR, 16);
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
}

/* header | data (len, in or out) | status; returns status, *used = used len. */
static int req(struct virtio_blk *b, uint32_t type, uint64_t sector,
	       uint32_t len, bool data_in, uint32_t *used)
{
	put_hdr(type, sector);
	*(uint8_t *)gm_ptr(&gm, STAT, 1) = 0xff;
	uint16_t s = len ? 1 : 2;
	tr_desc(&tr, 0, HDR, 16, VIRTQ_DESC_F_NEXT, s);
	if (len)
		tr_desc(&tr, 1, DATA, len, VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0), 2);
	tr_desc(&tr, 2, STAT, 1, VIRTQ_DESC_F_WRITE, 0);
	uint16_t before = tr_used_idx(&tr);
	tr_kick(&tr, 0);
	drv_notify(&b->vp, 0);
	if (tr_used_idx(&tr) != (uint16_t)(before + 1))
		return -1;
	uint32_t id;
	tr_used_elem(&tr, before, &id, used);
	return *(uint8_t *)gm_ptr(&gm, STAT, 1);
}

static uint8_t file_byte(uint64_t off)
{
	int fd = open(path, O_RDONLY);
	uint8_t c = 0;
	CHECK_EQ(pread(fd, &c, 1, (off_t)off), 1);
	close(fd);
	return c;
}

static void test_create_errors(void)
{
	char err[256];
	CHECK(!virtio_blk_create("/nonexistent/disk.img", false, &gm, &sink, err));
	CHECK(strstr(err, "No such file or directory") && strstr(err, "--disk") &&
	      strstr(err, "/nonexistent/disk.img"));
	CHECK(!strchr(err, '\n'));
	CHECK(!virtio_blk_create("/tmp", false, &gm, &sink, err));
	CHECK(!virtio_blk_create("/tmp", true, &gm, &sink, err));
	char tiny[] = "/tmp/tabi-blk-tinyXXXXXX";
	int fd = mkstemp(tiny);
	CHECK(write(fd, "abc", 3) == 3);
	close(fd);
	CHECK(!virtio_blk_create(tiny, false, &gm, &sink, err));
	CHECK(strstr(err, "512") != NULL);
	unlink(tiny);
}

static void test_rw(void)
{
	char err[256];
	struct virtio_blk *b = virtio_blk_create(path, false, &gm, &sink, err);
	CHECK(b != NULL);
	if (!b)
		return;
	/* A second writer is refused. */
	CHECK(!virtio_blk_create(path, false, &gm, &sink, err));
	CHECK(strstr(err, "in use") != NULL);
	CHECK_EQ(vp_rd(&b->vp, VIRTIO_PCI_DEVCFG_OFF, 8), SECTORS);
	CHECK_EQ(vp_rd(&b->vp, VIRTIO_PCI_DEVCFG_OFF + 12, 4), VIRTIO_BLK_QUEUE_SIZE - 2);
	CHECK_EQ(vp_rd(&b->vp, VIRTIO_PCI_DEVCFG_OFF + 20, 4), 512);
	CHECK_EQ(pci_cfg_read(&b->vp.pci, 0, 4), 0x10421af4);
	CHECK(!(b->vp.host_features >> VIRTIO_BLK_F_RO & 1));
	memset(gm.host, 0, gm.size);
	tr_init(&tr, &gm, 16);
	CHECK_EQ(drv_bringup(&b->vp, &tr, features()), 0);

	uint32_t used = 0;
	CHECK_EQ(req(b, VIRTIO_BLK_T_IN, 2, 1024, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1025);
	uint8_t *d = gm_ptr(&gm, DATA, 1024);
	CHECK_EQ(d[0], (uint8_t)(1024 * 7));
	CHECK_EQ(d[1023], (uint8_t)(2047 * 7));
	CHECK(rec.n > 0);

	memset(gm_ptr(&gm, DATA, 512), 0xEE, 512);
	CHECK_EQ(req(b, VIRTIO_BLK_T_OUT, 5, 512, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 1);
	CHECK_EQ(file_byte(5 * 512), 0xEE);
	CHECK_EQ(file_byte(6 * 512 - 1), 0xEE);
	CHECK_EQ(file_byte(6 * 512), (uint8_t)(6 * 512 * 7));
	CHECK_EQ(req(b, VIRTIO_BLK_T_FLUSH, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(virtio_blk_flush(b), 0);

	memset(gm_ptr(&gm, DATA, 32), 0, 32);
	CHECK_EQ(req(b, VIRTIO_BLK_T_GET_ID, 0, 20, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 21);
	const char *base = strrchr(path, '/') + 1;
	CHECK(strlen(base) > 20 && memcmp(gm_ptr(&gm, DATA, 20), base, 20) == 0);

	/* Last sector is fine, one past is not, nor a wrapping sector. */
	CHECK_EQ(req(b, VIRTIO_BLK_T_IN, SECTORS - 1, 512, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(req(b, VIRTIO_BLK_T_IN, SECTORS - 1, 1024, true, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(req(b, VIRTIO_BLK_T_OUT, SECTORS, 512, false, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(req(b, VIRTIO_BLK_T_IN, ~0ULL, 512, true, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(req(b, VIRTIO_BLK_T_OUT, ~0ULL >> 9, 512, false, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(req(b, 11, 0, 0, false, &used), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(req(b, 0x80000000u, 0, 0, false, &used), VIRTIO_BLK_S_UNSUPP);

	/* Header split over two descriptors, data over two (framing-free). */
	put_hdr(VIRTIO_BLK_T_IN, 1);
	tr_desc(&tr, 0, HDR, 7, VIRTQ_DESC_F_NEXT, 1);
	tr_desc(&tr, 1, HDR + 7, 9, VIRTQ_DESC_F_NEXT, 2);
	tr_desc(&tr, 2, DATA, 300, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	tr_desc(&tr, 3, DATA + 0x1000, 213, VIRTQ_DESC_F_WRITE, 0); /* 212 data + status */
	uint16_t u0 = tr_used_idx(&tr);
	tr_kick(&tr, 0);
	drv_notify(&b->vp, 0);
	CHECK_EQ(tr_used_idx(&tr), (uint16_t)(u0 + 1));
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, DATA + 0x1000 + 212, 1), VIRTIO_BLK_S_OK);
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, DATA + 0x1000 + 211, 1), (uint8_t)((512 + 511) * 7));

	/* Through an indirect table. */
	put_hdr(VIRTIO_BLK_T_IN, 3);
	tr_desc_at(&tr, 0x30000, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	tr_desc_at(&tr, 0x30000, 1, DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	tr_desc_at(&tr, 0x30000, 2, STAT, 1, VIRTQ_DESC_F_WRITE, 0);
	tr_desc(&tr, 4, 0x30000, 48, VIRTQ_DESC_F_INDIRECT, 0);
	*(uint8_t *)gm_ptr(&gm, STAT, 1) = 0xff;
	tr_kick(&tr, 4);
	drv_notify(&b->vp, 0);
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, STAT, 1), VIRTIO_BLK_S_OK);
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, DATA, 1), (uint8_t)(3 * 512 * 7));

	/* Malformed: short header -> IOERR; no writable byte -> completed with 0. */
	tr_desc(&tr, 0, HDR, 8, VIRTQ_DESC_F_NEXT, 2);
	tr_desc(&tr, 2, STAT, 1, VIRTQ_DESC_F_WRITE, 0);
	*(uint8_t *)gm_ptr(&gm, STAT, 1) = 0xff;
	tr_kick(&tr, 0);
	drv_notify(&b->vp, 0);
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, STAT, 1), VIRTIO_BLK_S_IOERR);
	tr_desc(&tr, 0, HDR, 16, 0, 0);
	u0 = tr_used_idx(&tr);
	tr_kick(&tr, 0);
	drv_notify(&b->vp, 0);
	CHECK_EQ(tr_used_idx(&tr), (uint16_t)(u0 + 1));
	uint32_t id;
	tr_used_elem(&tr, u0, &id, &used);
	CHECK_EQ(used, 0);
	/* No readable part at all. */
	tr_desc(&tr, 0, STAT, 1, VIRTQ_DESC_F_WRITE, 0);
	*(uint8_t *)gm_ptr(&gm, STAT, 1) = 0xff;
	tr_kick(&tr, 0);
	drv_notify(&b->vp, 0);
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, STAT, 1), VIRTIO_BLK_S_IOERR);
	CHECK(!(b->vp.status & VIRTIO_STATUS_NEEDS_RESET));

	/* Save and restore into a device on the same disk. */
	virtio_blk_quiesce(b);
	struct state_buf sb, rd;
	sb_init(&sb);
	virtio_blk_save(b, &sb);
	CHECK(!sb.error);
	virtio_blk_destroy(b);
	struct virtio_blk *r = virtio_blk_create(path, false, &gm, &sink, err);
	CHECK(r != NULL);
	sb_reader(&rd, sb.data, sb.len);
	CHECK_EQ(virtio_blk_restore(r, &rd), 0);
	CHECK(sb_done(&rd));
	CHECK_EQ(req(r, VIRTIO_BLK_T_IN, 5, 512, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, DATA, 1), 0xEE);
	/* The same state on a read-only disk does not fit. */
	virtio_blk_destroy(r);
	r = virtio_blk_create(path, true, &gm, &sink, err);
	sb_reader(&rd, sb.data, sb.len);
	CHECK_EQ(virtio_blk_restore(r, &rd), -1);
	for (size_t len = 0; len < sb.len; len++) {
		sb_reader(&rd, sb.data, len);
		if (virtio_blk_restore(r, &rd) != -1) {
			CHECK(0);
			break;
		}
	}
	virtio_blk_destroy(r);
	sb_free(&sb);
}

static void test_read_only(void)
{
	char err[256];
	struct virtio_blk *b = virtio_blk_create(path, true, &gm, &sink, err);
	CHECK(b != NULL);
	if (!b)
		return;
	/* Readers share the disk. */
	struct virtio_blk *b2 = virtio_blk_create(path, true, &gm, &sink, err);
	CHECK(b2 != NULL);
	virtio_blk_destroy(b2);
	CHECK(b->vp.host_features >> VIRTIO_BLK_F_RO & 1);
	memset(gm.host, 0, gm.size);
	tr_init(&tr, &gm, 16);
	CHECK_EQ(drv_bringup(&b->vp, &tr, features() | 1ULL << VIRTIO_BLK_F_RO), 0);
	uint32_t used;
	memset(gm_ptr(&gm, DATA, 512), 0x11, 512);
	CHECK_EQ(req(b, VIRTIO_BLK_T_OUT, 0, 512, false, &used), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(file_byte(0), 0);
	CHECK_EQ(req(b, VIRTIO_BLK_T_IN, 0, 512, true, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, DATA + 1, 1), 7);
	CHECK_EQ(req(b, VIRTIO_BLK_T_FLUSH, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	CHECK_EQ(virtio_blk_flush(b), 0);
	/* Attach: a PCI function with a BAR on the bus. */
	struct io_bus mmio = { 0 }, pio = { 0 };
	struct pci_bus bus;
	pci_bus_init(&bus, &mmio, &pio);
	CHECK_EQ(virtio_blk_attach(b, &bus), 0);
	CHECK_EQ(mmio.n, 1);
	virtio_blk_destroy(b);
}

int main(void)
{
	tmem_init(&gm, T_MEM_SIZE);
	strcpy(path, "/tmp/tabi-blk-test-a-long-name-XXXXXX");
	int fd = mkstemp(path);
	uint8_t img[SECTORS * 512];
	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 7);
	CHECK(write(fd, img, sizeof(img)) == (ssize_t)sizeof(img));
	close(fd);
	test_create_errors();
	test_rw();
	test_read_only();
	unlink(path);
	free(gm.host);
	UNIT_MAIN_END();
}
