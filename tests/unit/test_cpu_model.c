/* CPU models from a synthetic host CPUID: which features each level keeps,
 * XSAVE limits, hidden leaves, missing-feature checks for resume, per-vCPU
 * APIC ids, save/restore. */
#include <stdlib.h>
#include "unit.h"
#include "cpu_model.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define BIT(n) (1u << (n))

static struct kvm_cpuid_entry2 host[32];
static int host_n;

static void add(uint32_t fn, uint32_t idx, uint32_t flags, uint32_t a,
		uint32_t b, uint32_t c, uint32_t d)
{
	struct kvm_cpuid_entry2 *e = &host[host_n++];
	memset(e, 0, sizeof(*e));
	e->function = fn; e->index = idx; e->flags = flags;
	e->eax = a; e->ebx = b; e->ecx = c; e->edx = d;
}

/* A host that has everything (all feature bits set, AVX-512 XSAVE state,
 * invariant TSC, every KVM PV feature and some unknown ones). */
static void make_host(void)
{
	host_n = 0;
	add(0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(1, 0, 0, 0x000906ea, 0x07100800, 0xffffffff, 0xffffffff);
	add(6, 0, 0, 0x4, 0, 0, 0);
	add(7, 0, SIG, 1, 0xffffffff, 0xffffffff, 0xffffffff);
	add(7, 1, SIG, 0xffffffff, 0, 0, 0);
	add(0xb, 0, SIG, 1, 2, 0x100, 7);
	add(0xb, 1, SIG, 4, 16, 0x201, 7);
	add(0xd, 0, SIG, 0x2e7, 0xa88, 0xa88, 0);
	add(0xd, 1, SIG, 0xf, 0x988, 0, 0);
	add(0xd, 2, SIG, 256, 576, 0, 0);
	add(0xd, 5, SIG, 64, 1088, 0, 0);
	add(0xd, 9, SIG, 8, 2688, 0, 0);
	add(0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(0x40000001, 0, 0, 0xffffffff, 0, 0, 0);
	add(0x80000000, 0, 0, 0x80000008, 0, 0, 0);
	add(0x80000001, 0, 0, 0, 0, 0xffffffff, 0xffffffff);
	add(0x80000007, 0, 0, 0, 0, 0, 0x100);
	add(0x80000008, 0, 0, 0x3030, 0x0100d000, 0, 0);
	add(0x8000000a, 0, 0, 1, 0x8000, 0, 0x1);
}

static struct kvm_cpuid_entry2 *hfind(uint32_t fn, uint32_t idx)
{
	for (int i = 0; i < host_n; i++)
		if (host[i].function == fn && host[i].index == idx)
			return &host[i];
	return NULL;
}

static const struct kvm_cpuid_entry2 *mfind(const struct cpu_model *m,
					    uint32_t fn, uint32_t idx)
{
	for (int i = 0; i < m->nent; i++)
		if (m->ent[i].function == fn && m->ent[i].index == idx)
			return &m->ent[i];
	return NULL;
}

static const uint32_t V1_EDX = 0x3ff | BIT(11) | BIT(12) | BIT(13) | BIT(14) |
	BIT(15) | BIT(16) | BIT(17) | BIT(19) | BIT(23) | BIT(24) | BIT(25) | BIT(26);
static const uint32_t EMUL_ECX = BIT(21) | BIT(24) | BIT(31);
static const uint32_t V2_ECX = BIT(0) | BIT(9) | BIT(13) | BIT(19) | BIT(20) | BIT(23);
static const uint32_t V3_ECX = BIT(12) | BIT(22) | BIT(26) | BIT(28) | BIT(29);
static const uint32_t V3_7EBX = BIT(3) | BIT(5) | BIT(8);
static const uint32_t V4_7EBX = BIT(16) | BIT(17) | BIT(28) | BIT(30) | BIT(31);
static const uint32_t X_EDX = BIT(11) | BIT(20) | BIT(29);

static void build(struct cpu_model *m, const char *name)
{
	char err[256] = "";
	CHECK_EQ(cpu_model_build(m, name, host, host_n, err), 0);
	CHECK(!strcmp(m->name, name));
}

/* What every model shares. */
static void common(const struct cpu_model *m)
{
	const struct kvm_cpuid_entry2 *l1 = mfind(m, 1, 0);
	CHECK(l1 != NULL);
	if (!l1)
		return;
	CHECK_EQ(l1->eax, 0x000906ea);            /* family/model/stepping */
	CHECK_EQ(l1->ebx, 0x0800);                /* APIC id, count cleared */
	CHECK_EQ(l1->edx, V1_EDX);                /* no HTT, no other bits */
	CHECK(l1->ecx & BIT(31));                 /* hypervisor */
	CHECK(l1->ecx & BIT(21));                 /* x2apic */
	CHECK(l1->ecx & BIT(24));                 /* tsc-deadline */
	CHECK(!(l1->ecx & BIT(27)));              /* OSXSAVE never from the host */
	CHECK(!(l1->ecx & BIT(5)));               /* no VMX */
	const struct kvm_cpuid_entry2 *e = mfind(m, 0x80000007, 0);
	CHECK(e && e->edx == 0);                  /* no invariant TSC */
	e = mfind(m, 0x80000008, 0);
	CHECK(e && e->ebx == 0 && e->eax == 0x3030);
	CHECK(mfind(m, 6, 0) == NULL);            /* power management hidden */
	CHECK(mfind(m, 0x8000000a, 0) == NULL);   /* SVM hidden */
	CHECK(mfind(m, 0, 0) && mfind(m, 0x40000000, 0) && mfind(m, 0x80000000, 0));
	e = mfind(m, 0x40000001, 0);
	CHECK(e != NULL);
	if (e) {
		CHECK(e->eax & BIT(0));               /* kvmclock */
		CHECK(e->eax & BIT(3));               /* kvmclock2 */
		CHECK(e->eax & BIT(24));              /* stable bit */
		CHECK(!(e->eax & BIT(4)));            /* async PF: not in the list */
		CHECK(!(e->eax & BIT(2)));
	}
	const struct kvm_cpuid_entry2 *s1 = mfind(m, 7, 1);
	CHECK(s1 && s1->eax == 0 && s1->ebx == 0);
	const struct kvm_cpuid_entry2 *s0 = mfind(m, 7, 0);
	CHECK(s0 && s0->eax == 0 && s0->edx == 0);
	CHECK(m->nent <= CPU_MAX_ENTRIES);
}

static void test_models(void)
{
	struct cpu_model m;
	make_host();

	build(&m, "x86-64-v1");
	common(&m);
	CHECK_EQ(mfind(&m, 1, 0)->ecx, EMUL_ECX);
	CHECK_EQ(mfind(&m, 7, 0)->ebx, 0);
	CHECK_EQ(mfind(&m, 0x80000001, 0)->ecx, 0);
	CHECK_EQ(mfind(&m, 0x80000001, 0)->edx, X_EDX);
	CHECK(mfind(&m, 0xd, 0) == NULL);

	build(&m, "x86-64-v2");
	common(&m);
	CHECK_EQ(mfind(&m, 1, 0)->ecx, V2_ECX | EMUL_ECX);
	uint32_t ecx = mfind(&m, 1, 0)->ecx;
	CHECK(ecx & BIT(20) && ecx & BIT(23) && ecx & BIT(13));  /* sse4.2 popcnt cx16 */
	CHECK(!(ecx & BIT(28)) && !(ecx & BIT(26)));              /* no avx, xsave */
	CHECK_EQ(mfind(&m, 7, 0)->ebx, 0);                         /* no avx2, bmi */
	CHECK_EQ(mfind(&m, 7, 0)->ecx, 0);
	CHECK_EQ(mfind(&m, 0x80000001, 0)->ecx, BIT(0));           /* lahf_lm */
	CHECK_EQ(mfind(&m, 0x80000001, 0)->edx, X_EDX);
	for (uint32_t i = 0; i < 64; i++)
		CHECK(mfind(&m, 0xd, i) == NULL);                     /* XSAVE hidden */
	CHECK(mfind(&m, 0xb, 0) != NULL);

	build(&m, "x86-64-v3");
	common(&m);
	CHECK_EQ(mfind(&m, 1, 0)->ecx, V2_ECX | V3_ECX | EMUL_ECX);
	CHECK_EQ(mfind(&m, 7, 0)->ebx, V3_7EBX);
	CHECK_EQ(mfind(&m, 7, 0)->ecx, 0);
	CHECK_EQ(mfind(&m, 0x80000001, 0)->ecx, BIT(0) | BIT(5));  /* lahf_lm abm */
	const struct kvm_cpuid_entry2 *x = mfind(&m, 0xd, 0);
	CHECK(x != NULL);
	if (x) {
		CHECK_EQ(x->eax, 0x7);            /* x87 | SSE | AVX */
		CHECK_EQ(x->edx, 0);
	}
	x = mfind(&m, 0xd, 1);
	CHECK(x && x->eax == 0 && x->ebx == 0);  /* no XSAVEC/XSAVES */
	x = mfind(&m, 0xd, 2);
	CHECK(x && x->eax == 256 && x->ebx == 576);
	CHECK(mfind(&m, 0xd, 5) == NULL);
	CHECK(mfind(&m, 0xd, 9) == NULL);

	build(&m, "x86-64-v4");
	common(&m);
	CHECK_EQ(mfind(&m, 1, 0)->ecx, V2_ECX | V3_ECX | EMUL_ECX);
	CHECK_EQ(mfind(&m, 7, 0)->ebx, V3_7EBX | V4_7EBX);
	CHECK_EQ(mfind(&m, 0xd, 0)->eax, 0xe7);
	CHECK(mfind(&m, 0xd, 2) != NULL);
	CHECK(mfind(&m, 0xd, 5) != NULL);
	CHECK(mfind(&m, 0xd, 9) == NULL);            /* PKRU not in any model */

	build(&m, "host");
	common(&m);
	uint32_t extras1 = BIT(1) | BIT(25) | BIT(30);
	CHECK_EQ(mfind(&m, 1, 0)->ecx, V2_ECX | V3_ECX | EMUL_ECX | extras1);
	CHECK_EQ(mfind(&m, 7, 0)->ebx, V3_7EBX | V4_7EBX | BIT(0) | BIT(9) |
		 BIT(18) | BIT(19) | BIT(29));
	CHECK_EQ(mfind(&m, 7, 0)->ecx, BIT(9) | BIT(10));
	CHECK_EQ(mfind(&m, 0x80000001, 0)->edx, X_EDX | BIT(26) | BIT(27));
	CHECK_EQ(mfind(&m, 0x80000001, 0)->ecx, BIT(0) | BIT(5) | BIT(8));
	CHECK_EQ(mfind(&m, 0xd, 0)->eax, 0xe7);

	/* Every advertised name builds; the first is the default v2. */
	CHECK(!strcmp(cpu_model_names[0], "x86-64-v2"));
	int n = 0;
	for (const char *const *p = cpu_model_names; *p; p++, n++)
		build(&m, *p);
	CHECK_EQ(n, 5);

	/* Unknown name. */
	char err[256] = "";
	CHECK_EQ(cpu_model_build(&m, "pentium4", host, host_n, err), -1);
	CHECK(strstr(err, "pentium4") != NULL);
	CHECK(strstr(err, "x86-64-v2") != NULL);
	CHECK(!strchr(err, '\n'));
	err[0] = 0;
	CHECK_EQ(cpu_model_build(&m, "", host, host_n, err), -1);
	CHECK(err[0] != 0);
	CHECK_EQ(cpu_model_build(&m, "X86-64-V2", host, host_n, err), -1);

	/* A host without XSAVE: v3 still builds but leaf 0xd disappears and
	 * the model does not claim xsave. */
	hfind(1, 0)->ecx &= ~BIT(26);
	build(&m, "x86-64-v3");
	CHECK(mfind(&m, 0xd, 0) == NULL);
	CHECK(!(mfind(&m, 1, 0)->ecx & BIT(26)));
	/* Features the host lacks are never invented. */
	hfind(1, 0)->ecx &= ~(BIT(20) | BIT(21));
	hfind(7, 0)->ebx &= ~BIT(5);
	build(&m, "x86-64-v3");
	CHECK(!(mfind(&m, 1, 0)->ecx & BIT(20)));
	CHECK(!(mfind(&m, 1, 0)->ecx & BIT(21)));
	CHECK(!(mfind(&m, 7, 0)->ebx & BIT(5)));
	/* A host with fewer than CPU_MAX_ENTRIES leaves: no overrun with many. */
	struct kvm_cpuid_entry2 *many = calloc(150, sizeof(*many));
	for (int i = 0; i < 150; i++) {
		many[i].function = 0x80000002 + (uint32_t)(i % 3);
		many[i].index = (uint32_t)i;
		many[i].flags = SIG;
	}
	CHECK_EQ(cpu_model_build(&m, "host", many, 150, err), 0);
	CHECK_EQ(m.nent, CPU_MAX_ENTRIES);
	free(many);
}

static void test_missing(void)
{
	struct cpu_model m;
	char miss[256];
	make_host();
	build(&m, "x86-64-v2");
	CHECK_EQ(cpu_model_missing(&m, host, host_n, miss, sizeof(miss)), 0);
	CHECK_EQ(miss[0], 0);
	/* The model checked against itself (no host extras) also passes. */
	CHECK_EQ(cpu_model_missing(&m, m.ent, m.nent, miss, sizeof(miss)), 0);

	/* A host lacking sse4.2 and popcnt. */
	make_host();
	build(&m, "x86-64-v2");
	hfind(1, 0)->ecx &= ~(BIT(20) | BIT(23));
	CHECK_EQ(cpu_model_missing(&m, host, host_n, miss, sizeof(miss)), 2);
	CHECK(!strcmp(miss, "sse4.2 popcnt"));
	/* Truncated output buffer: count still right, no overrun. */
	char small[5];
	memset(small, 'Z', sizeof(small));
	CHECK_EQ(cpu_model_missing(&m, host, host_n, small, sizeof(small)), 2);
	CHECK(memchr(small, 0, sizeof(small)) != NULL);
	CHECK(!strncmp(small, "sse4", 4));

	/* Missing KVM PV feature. */
	make_host();
	build(&m, "x86-64-v2");
	hfind(0x40000001, 0)->eax &= ~BIT(3);
	CHECK_EQ(cpu_model_missing(&m, host, host_n, miss, sizeof(miss)), 1);
	CHECK(!strcmp(miss, "kvmclock2"));
	/* A bit the model never exposes is not required. */
	make_host();
	hfind(0x40000001, 0)->eax &= ~BIT(4);
	CHECK_EQ(cpu_model_missing(&m, host, host_n, miss, sizeof(miss)), 0);

	/* A host whose leaf 7 is gone entirely, for a v3 model. */
	make_host();
	build(&m, "x86-64-v3");
	struct kvm_cpuid_entry2 *l7 = hfind(7, 0);
	l7->function = 0x7777;  /* hide it */
	int n = cpu_model_missing(&m, host, host_n, miss, sizeof(miss));
	CHECK_EQ(n, 3);
	CHECK(!strcmp(miss, "bmi1 avx2 bmi2"));
	l7->function = 7;
	/* XSAVE components the host cannot save. */
	hfind(0xd, 0)->eax = 0x3;
	CHECK_EQ(cpu_model_missing(&m, host, host_n, miss, sizeof(miss)), 1);
	CHECK(!strcmp(miss, "xsave-components"));
	/* A v3 session on a v2-only host. */
	make_host();
	build(&m, "x86-64-v3");
	struct cpu_model v2;
	build(&v2, "x86-64-v2");
	n = cpu_model_missing(&m, v2.ent, v2.nent, miss, sizeof(miss));
	CHECK(n >= 9);
	CHECK(strstr(miss, "avx") && strstr(miss, "xsave") && strstr(miss, "fma"));
	CHECK(!strstr(miss, "sse4.2"));
}

static void test_for_vcpu(void)
{
	struct cpu_model m;
	make_host();
	build(&m, "x86-64-v2");
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPU_MAX_ENTRIES * sizeof(c->entries[0]));
	cpu_model_for_vcpu(&m, 5, 8, c);
	CHECK_EQ(c->nent, m.nent);
	int seen1 = 0, seenb = 0;
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 1) {
			seen1++;
			CHECK_EQ(e->ebx >> 24, 5);
			CHECK_EQ(e->ebx >> 16 & 0xff, 8);
			CHECK_EQ(e->ebx & 0xffff, 0x0800);
			CHECK(e->edx & BIT(28));          /* HTT */
			CHECK_EQ(e->edx & ~BIT(28), V1_EDX);
		} else if (e->function == 0xb) {
			seenb++;
			CHECK_EQ(e->edx, 5);
		} else {
			CHECK(!memcmp(e, &m.ent[i], sizeof(*e)));
		}
	}
	CHECK_EQ(seen1, 1);
	CHECK_EQ(seenb, 2);
	/* The model itself is untouched. */
	CHECK_EQ(mfind(&m, 1, 0)->ebx, 0x0800);
	/* One vCPU: id 0, no HTT. */
	cpu_model_for_vcpu(&m, 0, 1, c);
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1) {
			CHECK_EQ(c->entries[i].ebx >> 24, 0);
			CHECK_EQ(c->entries[i].ebx >> 16 & 0xff, 1);
			CHECK(!(c->entries[i].edx & BIT(28)));
		}
	/* Last of 64. */
	cpu_model_for_vcpu(&m, 63, 64, c);
	for (uint32_t i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 1)
			CHECK_EQ(c->entries[i].ebx >> 24, 63);
		if (c->entries[i].function == 0xb)
			CHECK_EQ(c->entries[i].edx, 63);
	}
	free(c);
}

static int same_model(const struct cpu_model *a, const struct cpu_model *b)
{
	if (strcmp(a->name, b->name) || a->nent != b->nent)
		return 0;
	for (int i = 0; i < a->nent; i++) {
		const struct kvm_cpuid_entry2 *x = &a->ent[i], *y = &b->ent[i];
		if (x->function != y->function || x->index != y->index ||
		    x->flags != y->flags || x->eax != y->eax || x->ebx != y->ebx ||
		    x->ecx != y->ecx || x->edx != y->edx)
			return 0;
	}
	return 1;
}

static void test_save_restore(void)
{
	struct cpu_model m, r;
	make_host();
	build(&m, "x86-64-v3");
	struct state_buf b, rd;
	sb_init(&b);
	cpu_model_save(&m, &b);
	CHECK(!b.error);
	CHECK_EQ(b.len, 32 + 4 + (size_t)m.nent * 28);
	sb_reader(&rd, b.data, b.len);
	CHECK_EQ(cpu_model_restore(&r, &rd), 0);
	CHECK(sb_done(&rd));
	CHECK(same_model(&m, &r));
	/* The restored model gives the same answers. */
	char miss[256];
	CHECK_EQ(cpu_model_missing(&r, host, host_n, miss, sizeof(miss)), 0);

	/* Every truncation is refused. */
	int refused = 0;
	for (size_t len = 0; len < b.len; len++) {
		sb_reader(&rd, b.data, len);
		refused += cpu_model_restore(&r, &rd) == -1;
	}
	CHECK_EQ(refused, b.len);

	/* Entry counts beyond the table are refused, not trusted. */
	uint8_t *big = calloc(1, 32 + 4 + (CPU_MAX_ENTRIES + 2) * 28);
	memcpy(big, b.data, 32);
	uint32_t counts[] = { CPU_MAX_ENTRIES + 1, 0x7fffffff, 0xffffffff };
	for (int i = 0; i < 3; i++) {
		memcpy(big + 32, &counts[i], 4);
		sb_reader(&rd, big, 32 + 4 + (CPU_MAX_ENTRIES + 2) * 28);
		CHECK_EQ(cpu_model_restore(&r, &rd), -1);
	}
	uint32_t max = CPU_MAX_ENTRIES;
	memcpy(big + 32, &max, 4);
	sb_reader(&rd, big, 32 + 4 + CPU_MAX_ENTRIES * 28);
	CHECK_EQ(cpu_model_restore(&r, &rd), 0);
	CHECK_EQ(r.nent, CPU_MAX_ENTRIES);
	/* An unterminated name is terminated on restore. */
	memset(big, 'A', 32);
	uint32_t zero = 0;
	memcpy(big + 32, &zero, 4);
	sb_reader(&rd, big, 36);
	CHECK_EQ(cpu_model_restore(&r, &rd), 0);
	CHECK_EQ(strlen(r.name), 31);
	free(big);
	sb_free(&b);
}

int main(void)
{
	test_models();
	test_missing();
	test_for_vcpu();
	test_save_restore();
	UNIT_MAIN_END();
}
