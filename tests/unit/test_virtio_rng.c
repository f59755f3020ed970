/* virtio-rng: fills writable buffers with random bytes, ignores readable
 * ones, caps a request, survives save/restore. */
#include "unit.h"
#include "virtio_driver.h"
#include "virtio_rng.h"

int main(void)
{
	struct guest_memory gm;
	struct rec_irq rec = { 0 };
	const struct irq_sink sink = { rec_msi, rec_line, &rec };
	tmem_init(&gm, 4 * T_MEM_SIZE);
	struct virtio_rng *r = virtio_rng_create(&gm, &sink);
	CHECK(r != NULL);
	CHECK_EQ(pci_cfg_read(&r->vp.pci, 0, 4), 0x10441af4);
	struct tring t;
	tr_init(&t, &gm, 8);
	CHECK_EQ(drv_bringup(&r->vp, &t, 1ULL << VIRTIO_F_VERSION_1 |
				       1ULL << VIRTIO_RING_F_EVENT_IDX), 0);
	tr_desc(&t, 0, T_BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	tr_kick(&t, 0);
	drv_notify(&r->vp, 0);
	CHECK_EQ(tr_used_idx(&t), 1);
	uint32_t id, len;
	tr_used_elem(&t, 0, &id, &len);
	CHECK_EQ(len, 64);
	int nz = 0;
	for (int i = 0; i < 64; i++)
		nz += gm.host[T_BUF + i] != 0;
	CHECK(nz > 32);
	CHECK_EQ(rec.n, 1);
	CHECK_EQ(rec.data[0], 0x41);
	/* Readable descriptors are left alone. */
	memset(gm.host + T_BUF, 0, 128);
	tr_desc(&t, 1, T_BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	tr_desc(&t, 2, T_BUF + 64, 16, VIRTQ_DESC_F_WRITE, 0);
	tr_kick(&t, 1);
	drv_notify(&r->vp, 0);
	tr_used_elem(&t, 1, &id, &len);
	CHECK_EQ(id, 1);
	CHECK_EQ(len, 16);
	CHECK_EQ(gm.host[T_BUF] | gm.host[T_BUF + 15], 0);
	/* A huge buffer gets at most VIRTIO_RNG_MAX_REQ bytes. */
	tr_desc(&t, 3, T_BUF, 2 * T_MEM_SIZE, VIRTQ_DESC_F_WRITE, 0);
	tr_kick(&t, 3);
	drv_notify(&r->vp, 0);
	tr_used_elem(&t, 2, &id, &len);
	CHECK_EQ(len, VIRTIO_RNG_MAX_REQ);
	/* Save/restore. */
	virtio_rng_quiesce(r);
	struct state_buf b, rd;
	sb_init(&b);
	virtio_rng_save(r, &b);
	struct virtio_rng *r2 = virtio_rng_create(&gm, &sink);
	sb_reader(&rd, b.data, b.len);
	CHECK_EQ(virtio_rng_restore(r2, &rd), 0);
	tr_desc(&t, 0, T_BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	tr_kick(&t, 0);
	drv_notify(&r2->vp, 0);
	CHECK_EQ(tr_used_idx(&t), 4);
	sb_reader(&rd, b.data, b.len / 2);
	CHECK_EQ(virtio_rng_restore(r2, &rd), -1);
	struct io_bus mmio = { 0 }, pio = { 0 };
	struct pci_bus bus;
	pci_bus_init(&bus, &mmio, &pio);
	CHECK_EQ(virtio_rng_attach(r, &bus), 0);
	CHECK_EQ(virtio_rng_attach(r2, &bus), 0);
	CHECK_EQ(mmio.n, 2);
	sb_free(&b);
	virtio_rng_destroy(r);
	virtio_rng_destroy(r2);
	free(gm.host);
	UNIT_MAIN_END();
}
