/* Guest CPU model: the CPUID a session is created with, from a named
 * portable baseline intersected with what the host's KVM supports. It is
 * stored in the session, and a resume first checks that the new host
 * supports every feature in it (Linux patched itself for them at boot). */
#ifndef TABI_CPU_MODEL_H
#define TABI_CPU_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "state_buf.h"

#define CPU_MAX_ENTRIES 100

struct cpu_model {
	char name[32];
	int nent;
	struct kvm_cpuid_entry2 ent[CPU_MAX_ENTRIES];
};

/* Names a user may pass to --cpu-model; the first is the default. */
extern const char *const cpu_model_names[];

/* Builds the named model from the host's supported CPUID (as returned by
 * KVM_GET_SUPPORTED_CPUID). -1 with err if the name is unknown. */
int cpu_model_build(struct cpu_model *out, const char *name,
		    const struct kvm_cpuid_entry2 *host, int host_n,
		    char err[256]);
/* Writes into `missing` (space-separated names) the features of the model
 * the host lacks; returns how many. */
int cpu_model_missing(const struct cpu_model *m,
		      const struct kvm_cpuid_entry2 *host, int host_n,
		      char *missing, size_t cap);
/* Per-vCPU copy with that vCPU's APIC id filled in. */
void cpu_model_for_vcpu(const struct cpu_model *m, int index, int ncpus,
			struct kvm_cpuid2 *out);
void cpu_model_save(const struct cpu_model *m, struct state_buf *b);
int cpu_model_restore(struct cpu_model *m, struct state_buf *b);
#endif
