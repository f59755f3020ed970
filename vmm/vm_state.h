/* VM-wide KVM state for snapshots: PIT, kvmclock and the three irqchips.
 * Restored after the vCPUs and before the devices (DESIGN.md). */
#ifndef TABI_VM_STATE_H
#define TABI_VM_STATE_H
#include "state_buf.h"

struct vm;
int vm_state_save(struct vm *vm, struct state_buf *b, char err[256]);
/* Advances kvmclock by the real time that passed since the save, so the
 * guest's date is right after the journey. */
int vm_state_restore(struct vm *vm, struct state_buf *b, char err[256]);
#endif
