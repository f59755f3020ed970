/* CPU model baselines (cpu_model.h). Feature masks follow the x86-64
 * micro-architecture levels (psABI), plus what KVM emulates on any host
 * (x2APIC, TSC deadline, the hypervisor bit and KVM's paravirtual leaf). */
#include <stdio.h>
#include <string.h>
#include "cpu_model.h"

enum reg { EAX, EBX, ECX, EDX };

struct feature {
	uint32_t leaf, index;
	enum reg reg;
	int bit;
	const char *name;
};

/* Every feature bit a model may expose. Bits not listed are cleared. */
static const struct feature features[] = {
	/* x86-64-v1: what every x86-64 CPU has. */
	{1, 0, EDX, 0, "fpu"}, {1, 0, EDX, 1, "vme"}, {1, 0, EDX, 2, "de"},
	{1, 0, EDX, 3, "pse"}, {1, 0, EDX, 4, "tsc"}, {1, 0, EDX, 5, "msr"},
	{1, 0, EDX, 6, "pae"}, {1, 0, EDX, 7, "mce"}, {1, 0, EDX, 8, "cx8"},
	{1, 0, EDX, 9, "apic"}, {1, 0, EDX, 11, "sep"}, {1, 0, EDX, 12, "mtrr"},
	{1, 0, EDX, 13, "pge"}, {1, 0, EDX, 14, "mca"}, {1, 0, EDX, 15, "cmov"},
	{1, 0, EDX, 16, "pat"}, {1, 0, EDX, 17, "pse36"}, {1, 0, EDX, 19, "clflush"},
	{1, 0, EDX, 23, "mmx"}, {1, 0, EDX, 24, "fxsr"}, {1, 0, EDX, 25, "sse"},
	{1, 0, EDX, 26, "sse2"},
	{0x80000001, 0, EDX, 11, "syscall"}, {0x80000001, 0, EDX, 20, "nx"},
	{0x80000001, 0, EDX, 29, "lm"},
	/* x86-64-v2 */
	{1, 0, ECX, 0, "sse3"}, {1, 0, ECX, 9, "ssse3"}, {1, 0, ECX, 13, "cx16"},
	{1, 0, ECX, 19, "sse4.1"}, {1, 0, ECX, 20, "sse4.2"}, {1, 0, ECX, 23, "popcnt"},
	{0x80000001, 0, ECX, 0, "lahf_lm"},
	/* x86-64-v3 */
	{1, 0, ECX, 12, "fma"}, {1, 0, ECX, 22, "movbe"}, {1, 0, ECX, 26, "xsave"},
	{1, 0, ECX, 28, "avx"}, {1, 0, ECX, 29, "f16c"},
	{7, 0, EBX, 3, "bmi1"}, {7, 0, EBX, 5, "avx2"}, {7, 0, EBX, 8, "bmi2"},
	{0x80000001, 0, ECX, 5, "abm"},
	/* x86-64-v4 */
	{7, 0, EBX, 16, "avx512f"}, {7, 0, EBX, 17, "avx512dq"},
	{7, 0, EBX, 28, "avx512cd"}, {7, 0, EBX, 30, "avx512bw"},
	{7, 0, EBX, 31, "avx512vl"},
	/* Emulated by KVM on every host. */
	{1, 0, ECX, 21, "x2apic"}, {1, 0, ECX, 24, "tsc-deadline"},
	{1, 0, ECX, 31, "hypervisor"},
	/* Common extras the "host" model keeps. */
	{1, 0, ECX, 1, "pclmulqdq"}, {1, 0, ECX, 25, "aes"}, {1, 0, ECX, 30, "rdrand"},
	{7, 0, EBX, 0, "fsgsbase"}, {7, 0, EBX, 9, "erms"}, {7, 0, EBX, 18, "rdseed"},
	{7, 0, EBX, 19, "adx"}, {7, 0, EBX, 29, "sha"}, {7, 0, ECX, 9, "vaes"},
	{7, 0, ECX, 10, "vpclmulqdq"}, {0x80000001, 0, EDX, 26, "pdpe1gb"},
	{0x80000001, 0, EDX, 27, "rdtscp"}, {0x80000001, 0, ECX, 8, "3dnowprefetch"},
};

struct model_def {
	const char *name;
	const char *last;   /* features up to and including this entry */
	bool extras;        /* also keep the "common extras" */
	uint64_t xcr0;      /* XSAVE components allowed */
};

static const struct model_def models[] = {
	{ "x86-64-v2", "lahf_lm", false, 0x3 },
	{ "x86-64-v1", "lm", false, 0x3 },
	{ "x86-64-v3", "abm", false, 0x7 },
	{ "x86-64-v4", "avx512vl", false, 0xe7 },
	{ "host", "avx512vl", true, 0xe7 },
};

const char *const cpu_model_names[] = {
	"x86-64-v2", "x86-64-v1", "x86-64-v3", "x86-64-v4", "host", NULL
};

/* KVM paravirtual features (leaf 0x40000001 EAX) a session may rely on. */
static const struct { int bit; const char *name; } kvm_pv[] = {
	{0, "kvmclock"}, {1, "kvm-nopiodelay"}, {3, "kvmclock2"},
	{5, "kvm-steal-time"}, {6, "kvm-pv-eoi"}, {7, "kvm-pv-unhalt"},
	{9, "kvm-pv-tlb-flush"}, {11, "kvm-pv-ipi"}, {12, "kvm-poll-control"},
	{13, "kvm-pv-sched-yield"}, {15, "kvm-msi-ext-dest-id"},
	{24, "kvmclock-stable-bit"},
};

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum reg r)
{
	switch (r) {
	case EAX: return &e->eax;
	case EBX: return &e->ebx;
	case ECX: return &e->ecx;
	default: return &e->edx;
	}
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid_entry2 *e,
					   int n, uint32_t leaf, uint32_t index)
{
	for (int i = 0; i < n; i++)
		if (e[i].function == leaf &&
		    (!(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e[i].index == index))
			return &e[i];
	return NULL;
}

static bool is_feature_leaf(uint32_t leaf)
{
	return leaf == 1 || leaf == 7 || leaf == 0x80000001;
}

int cpu_model_build(struct cpu_model *out, const char *name,
		    const struct kvm_cpuid_entry2 *host, int host_n,
		    char err[256])
{
	const struct model_def *def = NULL;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (!strcmp(models[i].name, name))
			def = &models[i];
	if (!def) {
		snprintf(err, 256, "unknown CPU model '%s' — use one of x86-64-v1, "
			 "x86-64-v2, x86-64-v3, x86-64-v4, host", name);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", def->name);
	for (int i = 0; i < host_n && out->nent < CPU_MAX_ENTRIES; i++) {
		struct kvm_cpuid_entry2 e = host[i];
		if (is_feature_leaf(e.function)) {
			struct kvm_cpuid_entry2 keep = e;
			if (e.function == 1) {
				keep.ecx = keep.edx = 0;
				keep.eax = e.eax;  /* family/model/stepping */
				keep.ebx = e.ebx & 0x0000ffff;
			} else if (e.function == 7) {
				keep.ebx = keep.ecx = keep.edx = 0;
				keep.eax = e.index == 0 ? 0 : keep.eax;
			} else {
				keep.ecx = keep.edx = 0;
			}
			if (e.function == 7 && e.index != 0) {
				keep.eax = keep.ebx = keep.ecx = keep.edx = 0;
			}
			bool in_level = true;
			for (size_t f = 0; f < sizeof(features) / sizeof(features[0]); f++) {
				const struct feature *ft = &features[f];
				bool extra = f > 0 && !in_level;
				if (ft->leaf == e.function && ft->index == e.index &&
				    (in_level || (def->extras && extra)) &&
				    (*reg_of(&e, ft->reg) >> ft->bit & 1))
					*reg_of(&keep, ft->reg) |= 1u << ft->bit;
				if (!strcmp(ft->name, def->last))
					in_level = false;
			}
			/* Emulated by KVM (vm_host_cpuid adds the ones KVM
			 * reports only as capabilities). */
			if (e.function == 1)
				keep.ecx |= e.ecx & ((1u << 21) | (1u << 24) | (1u << 31));
			e = keep;
		} else if (e.function == 0xd) {
			/* XSAVE state is limited to the model's components so
			 * the save image has the same layout on every host. */
			bool xsave = false;
			const struct kvm_cpuid_entry2 *l1 = find(host, host_n, 1, 0);
			bool level_has_xsave = def->xcr0 > 0x3;
			if (l1 && (l1->ecx >> 26 & 1) && level_has_xsave)
				xsave = true;
			if (!xsave)
				continue;
			if (e.index == 0) {
				e.eax &= (uint32_t)def->xcr0;
				e.edx &= (uint32_t)(def->xcr0 >> 32);
			} else if (e.index == 1) {
				e.eax = 0;  /* no compacted formats */
				e.ebx = e.ecx = e.edx = 0;
			} else if (e.index < 64 && !(def->xcr0 >> e.index & 1)) {
				continue;
			}
		} else if (e.function == 0x40000001) {
			uint32_t keep = 0;
			for (size_t f = 0; f < sizeof(kvm_pv) / sizeof(kvm_pv[0]); f++)
				keep |= e.eax & (1u << kvm_pv[f].bit);
			e.eax = keep;
		} else if (e.function == 0x80000008) {
			e.ebx = 0;  /* extended feature flags: none exposed */
		} else if (e.function == 0x80000007) {
			/* No invariant TSC: the guest then keeps time with
			 * kvmclock, which survives a frozen gap and another
			 * PC's TSC rate; a TSC clocksource would do neither. */
			e.edx = 0;
		} else if (e.function == 6 || e.function == 0x14 ||
			   e.function == 0x12 || e.function == 0x10 ||
			   e.function == 0x0f || e.function == 0x1d ||
			   e.function == 0x1e || e.function == 0x24 ||
			   e.function == 0x80000020 || e.function == 0x80000021 ||
			   e.function == 0x8000000a || e.function == 0x8000001f) {
			continue;  /* PM, PT, SGX, RDT, AMX, SVM, SEV: not modelled */
		}
		out->ent[out->nent++] = e;
	}
	/* With XSAVE hidden, OSXSAVE/AVX must not leak through leaf 1. */
	for (int i = 0; i < out->nent; i++)
		if (out->ent[i].function == 1 && !(def->xcr0 > 0x3))
			out->ent[i].ecx &= ~((1u << 26) | (1u << 27) | (1u << 28) | (1u << 12) | (1u << 29));
	return 0;
}

int cpu_model_missing(const struct cpu_model *m,
		      const struct kvm_cpuid_entry2 *host, int host_n,
		      char *missing, size_t cap)
{
	int n = 0;
	size_t used = 0;
	missing[0] = 0;
#define NOTE(nm) do { n++; used += (size_t)snprintf(missing + used, used < cap ? cap - used : 0, "%s%s", n > 1 ? " " : "", nm); if (used >= cap) used = cap; } while (0)
	for (size_t f = 0; f < sizeof(features) / sizeof(features[0]); f++) {
		const struct feature *ft = &features[f];
		const struct kvm_cpuid_entry2 *s = find(m->ent, m->nent, ft->leaf, ft->index);
		if (!s || !(*reg_of((struct kvm_cpuid_entry2 *)s, ft->reg) >> ft->bit & 1))
			continue;
		const struct kvm_cpuid_entry2 *h = find(host, host_n, ft->leaf, ft->index);
		if (!h || !(*reg_of((struct kvm_cpuid_entry2 *)h, ft->reg) >> ft->bit & 1))
			NOTE(ft->name);
	}
	const struct kvm_cpuid_entry2 *s = find(m->ent, m->nent, 0x40000001, 0);
	const struct kvm_cpuid_entry2 *h = find(host, host_n, 0x40000001, 0);
	for (size_t f = 0; s && f < sizeof(kvm_pv) / sizeof(kvm_pv[0]); f++)
		if ((s->eax >> kvm_pv[f].bit & 1) && (!h || !(h->eax >> kvm_pv[f].bit & 1)))
			NOTE(kvm_pv[f].name);
	/* XSAVE components the guest may have enabled. */
	s = find(m->ent, m->nent, 0xd, 0);
	h = find(host, host_n, 0xd, 0);
	if (s && (s->eax & ~(h ? h->eax : 0)))
		NOTE("xsave-components");
#undef NOTE
	return n;
}

void cpu_model_for_vcpu(const struct cpu_model *m, int index, int ncpus,
			struct kvm_cpuid2 *out)
{
	out->nent = (uint32_t)m->nent;
	out->padding = 0;
	for (int i = 0; i < m->nent; i++) {
		struct kvm_cpuid_entry2 *e = &out->entries[i];
		*e = m->ent[i];
		if (e->function == 1) {
			/* Initial APIC id and logical processor count. */
			e->ebx = (e->ebx & 0x0000ffff) | (uint32_t)index << 24 |
				 (uint32_t)(ncpus > 255 ? 255 : ncpus) << 16;
			if (ncpus > 1)
				e->edx |= 1u << 28;  /* HTT: count field valid */
		} else if (e->function == 0xb || e->function == 0x1f) {
			e->edx = (uint32_t)index;  /* x2APIC id */
		}
	}
}

void cpu_model_save(const struct cpu_model *m, struct state_buf *b)
{
	sb_put_bytes(b, m->name, sizeof(m->name));
	sb_put_u32(b, (uint32_t)m->nent);
	for (int i = 0; i < m->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &m->ent[i];
		sb_put_u32(b, e->function); sb_put_u32(b, e->index);
		sb_put_u32(b, e->flags); sb_put_u32(b, e->eax);
		sb_put_u32(b, e->ebx); sb_put_u32(b, e->ecx); sb_put_u32(b, e->edx);
	}
}

int cpu_model_restore(struct cpu_model *m, struct state_buf *b)
{
	memset(m, 0, sizeof(*m));
	sb_get_bytes(b, m->name, sizeof(m->name));
	m->name[sizeof(m->name) - 1] = 0;
	uint32_t n = sb_get_u32(b);
	if (b->error || n > CPU_MAX_ENTRIES)
		return -1;
	m->nent = (int)n;
	for (uint32_t i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *e = &m->ent[i];
		e->function = sb_get_u32(b); e->index = sb_get_u32(b);
		e->flags = sb_get_u32(b); e->eax = sb_get_u32(b);
		e->ebx = sb_get_u32(b); e->ecx = sb_get_u32(b); e->edx = sb_get_u32(b);
	}
	return b->error ? -1 : 0;
}
