/* vCPU snapshot state (vcpu_state.h). Each KVM structure is stored as a
 * tagged, length-checked record of its kernel ABI bytes; a record that does
 * not have the expected tag and size fails the restore before it is used. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "vcpu_state.h"
#include "vm.h"

enum rec {
	REC_MP = 1, REC_REGS, REC_SREGS, REC_SREGS2, REC_XSAVE, REC_XCRS,
	REC_DEBUGREGS, REC_LAPIC, REC_TSC_KHZ, REC_MSRS, REC_EVENTS,
};

#define MAX_MSRS 256
static uint32_t msr_list[MAX_MSRS];
static int msr_count = -1;

/* MSRs worth saving (DESIGN.md): architectural ones that hold guest state,
 * MTRRs, and KVM's paravirtual range. */
static bool wanted_msr(uint32_t i)
{
	switch (i) {
	case 0x10: case 0x1b: case 0x48: case 0x174: case 0x175: case 0x176:
	case 0x1a0: case 0x277: case 0x2ff: case 0x6e0: case 0xda0:
	case 0xc0000080: case 0xc0000081: case 0xc0000082: case 0xc0000083:
	case 0xc0000084: case 0xc0000100: case 0xc0000101: case 0xc0000102:
	case 0xc0000103:
		return true;
	}
	if (i >= 0x200 && i <= 0x20f) return true;           /* variable MTRRs */
	if (i == 0x250 || i == 0x258 || i == 0x259) return true;
	if (i >= 0x268 && i <= 0x26f) return true;           /* fixed MTRRs */
	return i >= 0x4b564d00 && i <= 0x4b564dff;           /* KVM PV */
}

static bool has_msr(uint32_t i)
{
	for (int k = 0; k < msr_count; k++)
		if (msr_list[k] == i)
			return true;
	return false;
}

int vcpu_state_probe_msrs(struct vm *vm, char err[256])
{
	if (msr_count >= 0)
		return 0;
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + 1024 * sizeof(uint32_t));
	if (!l)
		return -1;
	l->nmsrs = 1024;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		snprintf(err, 256, "KVM_GET_MSR_INDEX_LIST failed: %s", strerror(errno));
		free(l);
		return -1;
	}
	int n = 0;
	uint32_t cand[MAX_MSRS * 2];
	int nc = 0;
	for (uint32_t k = 0; k < l->nmsrs && nc < MAX_MSRS; k++)
		if (wanted_msr(l->indices[k]))
			cand[nc++] = l->indices[k];
	free(l);
	/* MTRRs and PAT are emulated by KVM but not always listed. */
	static const uint32_t extra[] = { 0x277, 0x2ff, 0x250, 0x258, 0x259,
		0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f };
	for (size_t k = 0; k < sizeof(extra) / sizeof(extra[0]); k++)
		cand[nc++] = extra[k];
	for (uint32_t k = 0; k < 16; k++)
		cand[nc++] = 0x200 + k;
	/* Keep each candidate once, and only if this vCPU can read it. */
	uint64_t onebuf[(sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)) / 8 + 1];
	struct kvm_msrs *one = (struct kvm_msrs *)onebuf;
	msr_count = 0;
	for (int k = 0; k < nc && n < MAX_MSRS; k++) {
		if (has_msr(cand[k]))
			continue;
		memset(onebuf, 0, sizeof(onebuf));
		one->nmsrs = 1;
		one->entries[0].index = cand[k];
		if (ioctl(vm->vcpu[0].fd, KVM_GET_MSRS, one) == 1) {
			msr_list[n++] = cand[k];
			msr_count = n;
		}
	}
	msr_count = n;
	/* TSC must be written before TSC_DEADLINE: sort by index puts 0x10 first. */
	return 0;
}

static bool model_has_xsave(const struct vm *vm)
{
	for (int i = 0; i < vm->cpu.nent; i++)
		if (vm->cpu.ent[i].function == 1)
			return vm->cpu.ent[i].ecx >> 26 & 1;
	return false;
}

static void put_rec(struct state_buf *b, enum rec tag, const void *p, uint32_t len)
{
	sb_put_u32(b, tag);
	sb_put_u32(b, len);
	sb_put_bytes(b, p, len);
}

/* Reads a record's header and checks its tag; returns its length or -1. */
static int64_t get_rec(struct state_buf *b, enum rec tag)
{
	uint32_t t = sb_get_u32(b), len = sb_get_u32(b);
	if (b->error || t != tag || len > b->len - b->pos)
		return -1;
	return len;
}

static int get_rec_exact(struct state_buf *b, enum rec tag, void *p, size_t len)
{
	if (get_rec(b, tag) != (int64_t)len)
		return -1;
	sb_get_bytes(b, p, len);
	return b->error ? -1 : 0;
}

#define IOCTL_OR_FAIL(fd, req, arg, what) do { \
	if (ioctl(fd, req, arg) < 0) { \
		snprintf(err, 256, "vCPU %d: " what " failed: %s", index, strerror(errno)); \
		return -1; \
	} } while (0)

int vcpu_state_save(struct vm *vm, int index, struct state_buf *b, char err[256])
{
	int fd = vm->vcpu[index].fd;
	if (vcpu_state_probe_msrs(vm, err) < 0)
		return -1;
	struct kvm_mp_state mp;
	IOCTL_OR_FAIL(fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
	put_rec(b, REC_MP, &mp, sizeof(mp));
	struct kvm_regs regs;
	IOCTL_OR_FAIL(fd, KVM_GET_REGS, &regs, "KVM_GET_REGS");
	put_rec(b, REC_REGS, &regs, sizeof(regs));
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0) {
		struct kvm_sregs2 s2;
		IOCTL_OR_FAIL(fd, KVM_GET_SREGS2, &s2, "KVM_GET_SREGS2");
		put_rec(b, REC_SREGS2, &s2, sizeof(s2));
	} else {
		struct kvm_sregs s;
		IOCTL_OR_FAIL(fd, KVM_GET_SREGS, &s, "KVM_GET_SREGS");
		put_rec(b, REC_SREGS, &s, sizeof(s));
	}
	int xsize = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (xsize < (int)sizeof(struct kvm_xsave))
		xsize = sizeof(struct kvm_xsave);
	struct kvm_xsave *xs = calloc(1, (size_t)xsize);
	if (!xs)
		return -1;
	if (ioctl(fd, xsize > (int)sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xs) < 0) {
		snprintf(err, 256, "vCPU %d: KVM_GET_XSAVE failed: %s", index, strerror(errno));
		free(xs);
		return -1;
	}
	put_rec(b, REC_XSAVE, xs, (uint32_t)xsize);
	free(xs);
	struct kvm_xcrs xcrs;
	IOCTL_OR_FAIL(fd, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS");
	put_rec(b, REC_XCRS, &xcrs, sizeof(xcrs));
	struct kvm_debugregs dr;
	IOCTL_OR_FAIL(fd, KVM_GET_DEBUGREGS, &dr, "KVM_GET_DEBUGREGS");
	put_rec(b, REC_DEBUGREGS, &dr, sizeof(dr));
	struct kvm_lapic_state la;
	IOCTL_OR_FAIL(fd, KVM_GET_LAPIC, &la, "KVM_GET_LAPIC");
	put_rec(b, REC_LAPIC, &la, sizeof(la));
	int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	uint32_t tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	put_rec(b, REC_TSC_KHZ, &tsc_khz, sizeof(tsc_khz));

	size_t msz = sizeof(struct kvm_msrs) + (size_t)msr_count * sizeof(struct kvm_msr_entry);
	struct kvm_msrs *m = calloc(1, msz);
	if (!m)
		return -1;
	m->nmsrs = (uint32_t)msr_count;
	for (int k = 0; k < msr_count; k++)
		m->entries[k].index = msr_list[k];
	int got = ioctl(fd, KVM_GET_MSRS, m);
	if (got != msr_count) {
		snprintf(err, 256, "vCPU %d: KVM_GET_MSRS read %d of %d MSRs (stopped at 0x%x)",
			 index, got, msr_count, got >= 0 && got < msr_count ? msr_list[got] : 0);
		free(m);
		return -1;
	}
	sb_put_u32(b, REC_MSRS);
	sb_put_u32(b, 4 + (uint32_t)msr_count * 12);
	sb_put_u32(b, (uint32_t)msr_count);
	for (int k = 0; k < msr_count; k++) {
		sb_put_u32(b, m->entries[k].index);
		sb_put_u64(b, m->entries[k].data);
	}
	free(m);
	struct kvm_vcpu_events ev;
	IOCTL_OR_FAIL(fd, KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS");
	put_rec(b, REC_EVENTS, &ev, sizeof(ev));
	return b->error ? -1 : 0;
}

/* Writes MSRs in order; KVM stops at the first it rejects and returns how
 * many it took. A rejected MSR holding 0 (a feature this session never
 * used) is skipped; any other is an error. */
static int set_msrs(int fd, int index, struct kvm_msr_entry *e, uint32_t n,
		    char err[256])
{
	uint32_t done = 0;
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(*e));
	if (!m)
		return -1;
	while (done < n) {
		m->nmsrs = n - done;
		memcpy(m->entries, e + done, (n - done) * sizeof(*e));
		int r = ioctl(fd, KVM_SET_MSRS, m);
		if (r < 0) {
			snprintf(err, 256, "vCPU %d: KVM_SET_MSRS failed: %s", index, strerror(errno));
			free(m);
			return -1;
		}
		done += (uint32_t)r;
		if (done < n) {
			if (e[done].data != 0) {
				snprintf(err, 256, "vCPU %d: this host's KVM rejects MSR 0x%x "
					 "(value 0x%llx) the session uses", index, e[done].index,
					 (unsigned long long)e[done].data);
				free(m);
				return -1;
			}
			done++;
		}
	}
	free(m);
	return 0;
}

int vcpu_state_restore(struct vm *vm, int index, struct state_buf *b, char err[256])
{
	int fd = vm->vcpu[index].fd;
	const char *bad = NULL;
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	if (get_rec_exact(b, REC_MP, &mp, sizeof(mp))) { bad = "MP state"; goto malformed; }
	IOCTL_OR_FAIL(fd, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
	if (get_rec_exact(b, REC_REGS, &regs, sizeof(regs))) { bad = "registers"; goto malformed; }
	IOCTL_OR_FAIL(fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");

	size_t save_pos = b->pos;
	uint32_t tag = sb_get_u32(b);
	b->pos = save_pos;
	if (tag == REC_SREGS2) {
		struct kvm_sregs2 s2;
		if (get_rec_exact(b, REC_SREGS2, &s2, sizeof(s2))) { bad = "segment registers"; goto malformed; }
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0) {
			IOCTL_OR_FAIL(fd, KVM_SET_SREGS2, &s2, "KVM_SET_SREGS2");
		} else {
			/* Older host: same state minus PAE PDPTRs (unused in long mode). */
			struct kvm_sregs s;
			memset(&s, 0, sizeof(s));
			s.cs = s2.cs; s.ds = s2.ds; s.es = s2.es; s.fs = s2.fs; s.gs = s2.gs;
			s.ss = s2.ss; s.tr = s2.tr; s.ldt = s2.ldt; s.gdt = s2.gdt; s.idt = s2.idt;
			s.cr0 = s2.cr0; s.cr2 = s2.cr2; s.cr3 = s2.cr3; s.cr4 = s2.cr4;
			s.cr8 = s2.cr8; s.efer = s2.efer; s.apic_base = s2.apic_base;
			IOCTL_OR_FAIL(fd, KVM_SET_SREGS, &s, "KVM_SET_SREGS");
		}
	} else {
		struct kvm_sregs s;
		if (get_rec_exact(b, REC_SREGS, &s, sizeof(s))) { bad = "segment registers"; goto malformed; }
		IOCTL_OR_FAIL(fd, KVM_SET_SREGS, &s, "KVM_SET_SREGS");
	}

	int64_t xlen = get_rec(b, REC_XSAVE);
	if (xlen < (int64_t)sizeof(struct kvm_xsave) || xlen > (1 << 20)) { bad = "XSAVE"; goto malformed; }
	int host_x = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	size_t xbuf = (size_t)xlen > (size_t)(host_x > 0 ? host_x : 0) ? (size_t)xlen : (size_t)host_x;
	struct kvm_xsave *xs = calloc(1, xbuf);
	if (!xs)
		return -1;
	sb_get_bytes(b, xs, (size_t)xlen);
	if (ioctl(fd, KVM_SET_XSAVE, xs) < 0) {
		snprintf(err, 256, "vCPU %d: KVM_SET_XSAVE failed: %s", index, strerror(errno));
		free(xs);
		return -1;
	}
	free(xs);
	struct kvm_xcrs xcrs;
	if (get_rec_exact(b, REC_XCRS, &xcrs, sizeof(xcrs))) { bad = "XCRs"; goto malformed; }
	/* KVM refuses XCR0 for a guest whose CPU model hides XSAVE. */
	if (model_has_xsave(vm))
		IOCTL_OR_FAIL(fd, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
	struct kvm_debugregs dr;
	if (get_rec_exact(b, REC_DEBUGREGS, &dr, sizeof(dr))) { bad = "debug registers"; goto malformed; }
	IOCTL_OR_FAIL(fd, KVM_SET_DEBUGREGS, &dr, "KVM_SET_DEBUGREGS");
	struct kvm_lapic_state la;
	if (get_rec_exact(b, REC_LAPIC, &la, sizeof(la))) { bad = "local APIC"; goto malformed; }
	IOCTL_OR_FAIL(fd, KVM_SET_LAPIC, &la, "KVM_SET_LAPIC");
	uint32_t tsc_khz;
	if (get_rec_exact(b, REC_TSC_KHZ, &tsc_khz, sizeof(tsc_khz))) { bad = "TSC frequency"; goto malformed; }

	int64_t mlen = get_rec(b, REC_MSRS);
	uint32_t n = sb_get_u32(b);
	if (mlen < 4 || n > MAX_MSRS || mlen != 4 + (int64_t)n * 12) { bad = "MSRs"; goto malformed; }
	struct kvm_msr_entry e[MAX_MSRS];
	memset(e, 0, sizeof(e));
	for (uint32_t k = 0; k < n; k++) {
		e[k].index = sb_get_u32(b);
		e[k].data = sb_get_u64(b);
	}
	if (b->error) { bad = "MSRs"; goto malformed; }
	/* TSC first and TSC_DEADLINE after it; a zero deadline stays unset. */
	struct kvm_msr_entry ordered[MAX_MSRS];
	uint32_t no = 0;
	for (uint32_t k = 0; k < n; k++)
		if (e[k].index == 0x10)
			ordered[no++] = e[k];
	for (uint32_t k = 0; k < n; k++)
		if (e[k].index != 0x10 && e[k].index != 0x6e0)
			ordered[no++] = e[k];
	for (uint32_t k = 0; k < n; k++)
		if (e[k].index == 0x6e0 && e[k].data)
			ordered[no++] = e[k];
	if (set_msrs(fd, index, ordered, no, err) < 0)
		return -1;

	struct kvm_vcpu_events ev;
	if (get_rec_exact(b, REC_EVENTS, &ev, sizeof(ev))) { bad = "pending events"; goto malformed; }
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		   KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
	IOCTL_OR_FAIL(fd, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
	/* Tell the guest it was stopped, so its watchdogs forgive the gap.
	 * Fails harmlessly when the guest never enabled kvmclock. */
	ioctl(fd, KVM_KVMCLOCK_CTRL, 0);
	if (!sb_done(b)) { bad = "trailing"; goto malformed; }
	return 0;
malformed:
	snprintf(err, 256, "saved vCPU %d state is malformed (%s)", index, bad);
	return -1;
}
