/* How devices raise interrupts. A table of functions so that unit tests can
 * record interrupts without KVM; the VMM's own implementation (kvm_irq.c)
 * turns them into KVM_SIGNAL_MSI / KVM_IRQ_LINE. */
#ifndef TABI_IRQ_H
#define TABI_IRQ_H
#include <stdint.h>

struct irq_sink {
	/* Message-signalled interrupt (PCI MSI/MSI-X). */
	void (*msi)(void *ctx, uint64_t addr, uint32_t data);
	/* Level of a line into the in-kernel PIC/IOAPIC. */
	void (*line)(void *ctx, uint32_t gsi, int level);
	void *ctx;
};

static inline void irq_msi(const struct irq_sink *s, uint64_t addr, uint32_t data)
{
	s->msi(s->ctx, addr, data);
}
static inline void irq_line(const struct irq_sink *s, uint32_t gsi, int level)
{
	s->line(s->ctx, gsi, level);
}
#endif
