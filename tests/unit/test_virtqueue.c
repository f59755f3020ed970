/* Split virtqueue: normal and indirect chains, every malformed-ring case a
 * hostile guest can build (each must fail cleanly, under ASan), event idx. */
#include "unit.h"
#include "virtio_driver.h"

static struct guest_memory gm;
static struct virtqueue vq;
static struct tring tr;
static struct vq_chain ch;

/* Fresh zeroed RAM and an enabled queue of `size` at the standard spots. */
static void setup(uint16_t size, bool indirect, bool event_idx)
{
	memset(gm.host, 0, gm.size);
	tr_init(&tr, &gm, size);
	vq_reset(&vq, &gm, size);
	vq.desc = tr.desc;
	vq.avail = tr.avail;
	vq.used = tr.used;
	vq.indirect = indirect;
	vq.event_idx = event_idx;
	CHECK_EQ(vq_enable(&vq, size), 0);
}

static void test_simple(void)
{
	setup(8, false, false);
	CHECK_EQ(vq_pop(&vq, &ch), 0);
	tr_desc(&tr, 3, T_BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	tr_desc(&tr, 5, T_BUF + 0x100, 100, VIRTQ_DESC_F_NEXT, 1);
	tr_desc(&tr, 1, T_BUF + 0x200, 1, VIRTQ_DESC_F_WRITE, 0);
	tr_kick(&tr, 3);
	CHECK_EQ(vq_pop(&vq, &ch), 1);
	CHECK_EQ(ch.head, 3);
	CHECK_EQ(ch.nr, 2);
	CHECK_EQ(ch.nw, 1);
	CHECK_EQ(ch.r_len, 116);
	CHECK_EQ(ch.w_len, 1);
	CHECK(ch.iov[0].iov_base == gm.host + T_BUF);
	CHECK(ch.iov[2].iov_base == gm.host + T_BUF + 0x200);
	CHECK_EQ(vq_pop(&vq, &ch), 0);
	CHECK_EQ(vq_push(&vq, 3, 1), 0);
	CHECK_EQ(tr_used_idx(&tr), 1);
	uint32_t id, len;
	tr_used_elem(&tr, 0, &id, &len);
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 1);
	/* Wrap-around of the 16-bit indices across many requests. */
	tr_desc(&tr, 0, T_BUF, 8, 0, 0);
	int ok = 0;
	for (int i = 0; i < 70000; i++) {
		tr_kick(&tr, 0);
		if (vq_pop(&vq, &ch) == 1 && ch.head == 0 && vq_push(&vq, 0, 0) == 0)
			ok++;
	}
	CHECK_EQ(ok, 70000);
	CHECK_EQ(tr_used_idx(&tr), (uint16_t)70001);
	/* Zero-length descriptors are allowed and add no iovec. */
	tr_desc(&tr, 2, T_BUF, 0, VIRTQ_DESC_F_NEXT, 4);
	tr_desc(&tr, 4, T_BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	tr_kick(&tr, 2);
	CHECK_EQ(vq_pop(&vq, &ch), 1);
	CHECK_EQ(ch.nr + ch.nw, 1);
}

static void test_indirect(void)
{
	setup(8, true, false);
	uint64_t tbl = 0x8000;
	tr_desc_at(&tr, tbl, 0, T_BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	tr_desc_at(&tr, tbl, 2, T_BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	tr_desc_at(&tr, tbl, 1, T_BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	tr_desc(&tr, 6, tbl, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	tr_kick(&tr, 6);
	CHECK_EQ(vq_pop(&vq, &ch), 1);
	CHECK_EQ(ch.head, 6);
	CHECK_EQ(ch.nr, 1);
	CHECK_EQ(ch.nw, 2);
	CHECK_EQ(ch.w_len, 513);
	CHECK(!vq.broken);
}

/* Builds the bad ring with fn, expects -1 and a queue that stays broken. */
static void expect_broken(const char *what, uint16_t size, bool indirect,
			  void (*fn)(void))
{
	setup(size, indirect, false);
	fn();
	int r = vq_pop(&vq, &ch);
	if (r != -1)
		fprintf(stderr, "case %s: vq_pop returned %d\n", what, r);
	CHECK_EQ(r, -1);
	CHECK(vq.broken);
	/* Fixing the ring does not revive a broken queue. */
	tr_desc(&tr, 0, T_BUF, 4, 0, 0);
	tr_kick(&tr, 0);
	CHECK_EQ(vq_pop(&vq, &ch), -1);
}

static void buf_outside(void) { tr_desc(&tr, 0, T_MEM_SIZE - 10, 100, 0, 0); tr_kick(&tr, 0); }
static void buf_wrap(void) { tr_desc(&tr, 0, ~0ULL - 15, 0x20, 0, 0); tr_kick(&tr, 0); }
static void buf_in_hole(void) { tr_desc(&tr, 0, 0xE0000000ULL, 16, 0, 0); tr_kick(&tr, 0); }
static void loop2(void)
{
	tr_desc(&tr, 0, T_BUF, 4, VIRTQ_DESC_F_NEXT, 1);
	tr_desc(&tr, 1, T_BUF, 4, VIRTQ_DESC_F_NEXT, 0);
	tr_kick(&tr, 0);
}
static void self_loop(void) { tr_desc(&tr, 0, T_BUF, 4, VIRTQ_DESC_F_NEXT, 0); tr_kick(&tr, 0); }
static void next_oob(void) { tr_desc(&tr, 0, T_BUF, 4, VIRTQ_DESC_F_NEXT, 8); tr_kick(&tr, 0); }
static void head_oob(void) { tr_kick(&tr, 8); }
static void head_huge(void) { tr_kick(&tr, 0xffff); }
static void avail_jump(void)
{
	tr_desc(&tr, 0, T_BUF, 4, 0, 0);
	tr_kick(&tr, 0);
	*tr_u16(&tr, tr.avail + 2) = 9; /* 9 new entries in an 8-entry ring */
}
static void indirect_unnegotiated(void) { tr_desc(&tr, 0, 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0); tr_kick(&tr, 0); }
static void indirect_nested(void)
{
	tr_desc_at(&tr, 0x8000, 0, 0x9000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	tr_desc_at(&tr, 0x9000, 0, T_BUF, 16, 0, 0);
	tr_desc(&tr, 0, 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	tr_kick(&tr, 0);
}
static void indirect_with_next(void)
{
	tr_desc_at(&tr, 0x8000, 0, T_BUF, 16, 0, 0);
	tr_desc(&tr, 0, 0x8000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	tr_desc(&tr, 1, T_BUF, 16, 0, 0);
	tr_kick(&tr, 0);
}
static void indirect_not_head(void)
{
	tr_desc_at(&tr, 0x8000, 0, T_BUF, 16, 0, 0);
	tr_desc(&tr, 0, T_BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	tr_desc(&tr, 1, 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	tr_kick(&tr, 0);
}
static void indirect_odd_len(void) { tr_desc(&tr, 0, 0x8000, 24, VIRTQ_DESC_F_INDIRECT, 0); tr_kick(&tr, 0); }
static void indirect_zero_len(void) { tr_desc(&tr, 0, 0x8000, 0, VIRTQ_DESC_F_INDIRECT, 0); tr_kick(&tr, 0); }
static void indirect_outside(void) { tr_desc(&tr, 0, T_MEM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0); tr_kick(&tr, 0); }
static void indirect_too_big(void) { tr_desc(&tr, 0, 0, 16 * (VQ_MAX_INDIRECT + 1), VIRTQ_DESC_F_INDIRECT, 0); tr_kick(&tr, 0); }
static void indirect_loop(void)
{
	tr_desc_at(&tr, 0x8000, 0, T_BUF, 4, VIRTQ_DESC_F_NEXT, 1);
	tr_desc_at(&tr, 0x8000, 1, T_BUF, 4, VIRTQ_DESC_F_NEXT, 0);
	tr_desc(&tr, 0, 0x8000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	tr_kick(&tr, 0);
}
static void indirect_next_oob(void)
{
	/* next=2 is inside the main table but outside this 2-entry table. */
	tr_desc_at(&tr, 0x8000, 0, T_BUF, 4, VIRTQ_DESC_F_NEXT, 2);
	tr_desc(&tr, 0, 0x8000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	tr_kick(&tr, 0);
}
static void read_after_write(void)
{
	tr_desc(&tr, 0, T_BUF, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	tr_desc(&tr, 1, T_BUF, 4, 0, 0);
	tr_kick(&tr, 0);
}

static void test_malformed(void)
{
	expect_broken("buffer outside RAM", 8, false, buf_outside);
	expect_broken("buffer address wraps", 8, false, buf_wrap);
	expect_broken("buffer in PCI hole", 8, false, buf_in_hole);
	expect_broken("two-descriptor loop", 8, false, loop2);
	expect_broken("self loop", 8, false, self_loop);
	expect_broken("next out of range", 8, false, next_oob);
	expect_broken("head out of range", 8, false, head_oob);
	expect_broken("head 0xffff", 8, false, head_huge);
	expect_broken("avail idx jump", 8, false, avail_jump);
	expect_broken("indirect not negotiated", 8, false, indirect_unnegotiated);
	expect_broken("indirect in indirect", 8, true, indirect_nested);
	expect_broken("indirect with next", 8, true, indirect_with_next);
	expect_broken("indirect not at head", 8, true, indirect_not_head);
	expect_broken("indirect len % 16", 8, true, indirect_odd_len);
	expect_broken("indirect len 0", 8, true, indirect_zero_len);
	expect_broken("indirect table outside RAM", 8, true, indirect_outside);
	expect_broken("indirect table too big", 8, true, indirect_too_big);
	expect_broken("indirect loop", 8, true, indirect_loop);
	expect_broken("indirect next out of range", 8, true, indirect_next_oob);
	expect_broken("readable after writable", 8, false, read_after_write);
}

/* Chains longer than VQ_MAX_IOV buffers or VQ_MAX_CHAIN_BYTES bytes. */
static void test_caps(void)
{
	/* 1025 one-byte buffers in a 2048-entry ring. */
	memset(gm.host, 0, gm.size);
	tr = (struct tring){ &gm, 2048, 0, 0x20000, 0x30000, 0x40000 };
	vq_reset(&vq, &gm, 2048);
	vq.desc = tr.desc; vq.avail = tr.avail; vq.used = tr.used;
	CHECK_EQ(vq_enable(&vq, 2048), 0);
	for (uint16_t i = 0; i < 1025; i++)
		tr_desc(&tr, i, T_BUF + i, 1, i < 1024 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	tr_kick(&tr, 0);
	CHECK_EQ(vq_pop(&vq, &ch), -1);
	/* Exactly VQ_MAX_IOV is fine. */
	vq.broken = false;
	tr_desc(&tr, 1023, T_BUF, 1, 0, 0);
	CHECK_EQ(vq_pop(&vq, &ch), 1);
	CHECK_EQ(ch.nr, 1024);

	/* Byte cap: one 2 MiB buffer listed 1024 times (2 GiB) via an indirect table. */
	setup(8, true, false);
	for (uint16_t i = 0; i < 1024; i++)
		tr_desc_at(&tr, 0x80000, i, 0x100000, 0x200000,
			   i < 1023 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	tr_desc(&tr, 0, 0x80000, 1024 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	tr_kick(&tr, 0);
	CHECK_EQ(vq_pop(&vq, &ch), -1);
}

static void test_enable_checks(void)
{
	vq_reset(&vq, &gm, 8);
	vq.desc = T_DESC; vq.avail = T_AVAIL; vq.used = T_USED;
	vq.size = 6;
	CHECK_EQ(vq_enable(&vq, 8), -1);     /* not a power of two */
	vq.size = 16;
	CHECK_EQ(vq_enable(&vq, 8), -1);     /* above max */
	vq.size = 0;
	CHECK_EQ(vq_enable(&vq, 8), -1);
	vq.size = 8;
	vq.desc = T_DESC + 8;
	CHECK_EQ(vq_enable(&vq, 8), -1);     /* misaligned */
	vq.desc = gm.size - 64;
	CHECK_EQ(vq_enable(&vq, 8), -1);     /* table runs off RAM */
	vq.desc = T_DESC;
	vq.used = gm.size - 8;
	CHECK_EQ(vq_enable(&vq, 8), -1);
	vq.used = T_USED;
	CHECK_EQ(vq_enable(&vq, 8), 0);
	CHECK(vq.ready);
	/* Not ready: pop sees nothing, push refuses. */
	vq_reset(&vq, &gm, 8);
	CHECK_EQ(vq_pop(&vq, &ch), 0);
	CHECK_EQ(vq_push(&vq, 0, 0), -1);
}

static void push_one(void)
{
	tr_desc(&tr, 0, T_BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	tr_kick(&tr, 0);
	CHECK_EQ(vq_pop(&vq, &ch), 1);
	CHECK_EQ(vq_push(&vq, 0, 4), 0);
}

static void test_notify(void)
{
	setup(8, false, false);
	push_one();
	CHECK(vq_should_notify(&vq));
	*tr_u16(&tr, tr.avail) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	push_one();
	CHECK(!vq_should_notify(&vq));

	setup(8, false, true);
	push_one();                   /* used idx 1 */
	CHECK(vq_should_notify(&vq)); /* first time: always */
	tr_set_used_event(&tr, 1);    /* interrupt once used idx passes 1 */
	push_one();                   /* used idx 2 */
	CHECK(vq_should_notify(&vq));
	tr_set_used_event(&tr, 5);
	push_one();                   /* 3 */
	CHECK(!vq_should_notify(&vq));
	push_one();                   /* 4 */
	CHECK(!vq_should_notify(&vq));
	push_one(); push_one();       /* 6: crossed 5 in this batch */
	CHECK(vq_should_notify(&vq));
	CHECK(!vq_should_notify(&vq)); /* nothing new since */
	/* An empty pop publishes avail_event = next entry we will read. */
	CHECK_EQ(vq_pop(&vq, &ch), 0);
	CHECK_EQ(tr_avail_event(&tr), 6);
	/* Wrap: used_event just behind a wrapped used idx. */
	vq.used_idx = 0xffff; vq.signalled_used = 0xfffe;
	tr_set_used_event(&tr, 0xffff);
	push_one(); /* used idx 0 */
	CHECK(vq_should_notify(&vq));
}

static void test_save_restore(void)
{
	setup(8, false, false);
	push_one();
	struct state_buf b;
	sb_init(&b);
	vq_save(&vq, &b);
	CHECK(!b.error);
	struct virtqueue r;
	vq_reset(&r, &gm, 8);
	struct state_buf rd;
	sb_reader(&rd, b.data, b.len);
	CHECK_EQ(vq_restore(&r, &rd, 8), 0);
	CHECK(sb_done(&rd));
	CHECK(r.ready);
	CHECK_EQ(r.last_avail, vq.last_avail);
	CHECK_EQ(r.used_idx, vq.used_idx);
	CHECK_EQ(r.desc, vq.desc);
	CHECK(r.gm == &gm);
	/* Continues where it stopped. */
	tr_desc(&tr, 0, T_BUF, 4, 0, 0);
	tr_kick(&tr, 0);
	CHECK_EQ(vq_pop(&r, &ch), 1);
	/* Truncated, oversized and misplaced states are refused. */
	sb_reader(&rd, b.data, b.len - 1);
	CHECK_EQ(vq_restore(&r, &rd, 8), -1);
	sb_reader(&rd, b.data, b.len);
	CHECK_EQ(vq_restore(&r, &rd, 4), -1); /* size 8 > max 4 */
	uint8_t bad[64];
	memcpy(bad, b.data, b.len);
	bad[0] = 6; /* size 6, ready */
	sb_reader(&rd, bad, b.len);
	CHECK_EQ(vq_restore(&r, &rd, 8), -1);
	memcpy(bad, b.data, b.len);
	bad[2] = 0xf0; /* unknown flag bits */
	sb_reader(&rd, bad, b.len);
	CHECK_EQ(vq_restore(&r, &rd, 8), -1);
	memcpy(bad, b.data, b.len);
	memset(bad + 3, 0xff, 8); /* desc table address far outside RAM */
	sb_reader(&rd, bad, b.len);
	CHECK_EQ(vq_restore(&r, &rd, 8), -1);
	sb_free(&b);
}

static void test_iov(void)
{
	uint8_t a[3] = { 1, 2, 3 }, c[5] = { 4, 5, 6, 7, 8 }, out[8] = { 0 };
	struct iovec iov[2] = { { a, 3 }, { c, 5 } }, s[4];
	CHECK_EQ(iov_to_buf(iov, 2, 2, out, 4), 4);
	CHECK_EQ(out[0], 3);
	CHECK_EQ(out[3], 6);
	CHECK_EQ(iov_to_buf(iov, 2, 7, out, 4), 1);
	int n = iov_slice(iov, 2, 1, 6, s, 4);
	CHECK_EQ(n, 2);
	CHECK(s[0].iov_base == a + 1 && s[0].iov_len == 2);
	CHECK(s[1].iov_base == c && s[1].iov_len == 4);
	uint8_t z = 9;
	CHECK_EQ(iov_from_buf(iov, 2, 7, &z, 1), 1);
	CHECK_EQ(c[4], 9);
	CHECK_EQ(iov_from_buf(iov, 2, 8, &z, 1), 0);
}

int main(void)
{
	tmem_init(&gm, T_MEM_SIZE);
	test_simple();
	test_indirect();
	test_malformed();
	test_enable_checks();
	test_notify();
	test_save_restore();
	test_iov();
	free(gm.host);
	/* The byte-cap case needs 3 MiB of RAM. */
	tmem_init(&gm, 4 * T_MEM_SIZE);
	test_caps();
	free(gm.host);
	UNIT_MAIN_END();
}
