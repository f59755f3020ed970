/* Saving and restoring one vCPU's KVM state, in the order DESIGN.md gives
 * (MP_STATE before REGS/SREGS when saving; VCPU_EVENTS last both ways). */
#ifndef TABI_VCPU_STATE_H
#define TABI_VCPU_STATE_H
#include "state_buf.h"

struct vm;
/* Wanted MSRs this host's KVM can read; computed once per VM. */
int vcpu_state_probe_msrs(struct vm *vm, char err[256]);
int vcpu_state_save(struct vm *vm, int index, struct state_buf *b, char err[256]);
int vcpu_state_restore(struct vm *vm, int index, struct state_buf *b, char err[256]);
#endif
