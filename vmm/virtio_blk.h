/* virtio-blk (virtio 1.x, section 5.2) over a raw image file, one PCI
 * function per disk. Requests run synchronously on the kicking vCPU thread. */
#ifndef TABI_VIRTIO_BLK_H
#define TABI_VIRTIO_BLK_H
#include <stdbool.h>
#include <stdint.h>
#include "disk_overlay.h"
#include "virtio_pci.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO       5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH    9

#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_QUEUE_SIZE 256

struct virtio_blk {
	struct virtio_pci vp;      /* first: transport */
	int fd;
	bool read_only;
	uint64_t capacity;         /* 512-byte sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	struct disk_overlay *ovl;  /* when set, all guest I/O goes through it */
	struct vq_chain chain;     /* scratch for the request being served */
	struct iovec data[VQ_MAX_IOV];
};

/* Opens path (O_RDONLY when read_only) and builds the device. NULL with one
 * line in err on failure, e.g. "disk FILE: No such file or directory —
 * check the path given to --disk". */
struct virtio_blk *virtio_blk_create(const char *path, bool read_only,
				     struct guest_memory *gm,
				     const struct irq_sink *irq, char err[256]);
/* Routes guest I/O through an overlay (owned by the caller). Guest flushes
 * then succeed at once: durability comes with the next committed generation,
 * which is what keeps the disk and the frozen memory in step. */
void virtio_blk_set_overlay(struct virtio_blk *b, struct disk_overlay *ovl);
int virtio_blk_fd(const struct virtio_blk *b);
uint64_t virtio_blk_size(const struct virtio_blk *b);
/* Places the disk on bus as a new PCI function. 0, or -1 when the bus is full. */
int virtio_blk_attach(struct virtio_blk *b, struct pci_bus *bus);
/* Closes the image and frees b (after the VM stopped using it). */
void virtio_blk_destroy(struct virtio_blk *b);
/* No request is in flight once this returns (call with vCPUs stopped). */
void virtio_blk_quiesce(struct virtio_blk *b);
/* Makes completed writes durable (fdatasync). 0 or -1 with errno. */
int virtio_blk_flush(struct virtio_blk *b);
/* Device state for a snapshot; restore checks the disk has the same size
 * and mode and returns -1 on malformed or mismatching state. */
void virtio_blk_save(struct virtio_blk *b, struct state_buf *sb);
int virtio_blk_restore(struct virtio_blk *b, struct state_buf *sb);
#endif
