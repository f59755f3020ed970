/* MSI-X table, PBA and capability (msix.h). */
#include <string.h>
#include "msix.h"

int msix_init(struct msix *m, struct pci_device *pci, const struct irq_sink *irq,
	      uint16_t nvec, int bar, uint32_t table_off, uint32_t pba_off)
{
	memset(m, 0, sizeof(*m));
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS)
		return -1;
	m->pci = pci;
	m->irq = irq;
	m->nvec = nvec;
	uint16_t ctrl = (uint16_t)(nvec - 1);
	uint32_t t = table_off | (uint32_t)bar, p = pba_off | (uint32_t)bar;
	uint8_t body[10] = { (uint8_t)ctrl, (uint8_t)(ctrl >> 8),
			     (uint8_t)t, (uint8_t)(t >> 8), (uint8_t)(t >> 16), (uint8_t)(t >> 24),
			     (uint8_t)p, (uint8_t)(p >> 8), (uint8_t)(p >> 16), (uint8_t)(p >> 24) };
	uint8_t wmask[10] = { 0, 0xC0 }; /* only enable and function mask */
	m->cap = pci_device_add_cap(pci, PCI_CAP_ID_MSIX, body, wmask, 12);
	if (!m->cap)
		return -1;
	for (int v = 0; v < nvec; v++)
		m->table[v * MSIX_ENTRY_SIZE + 12] = 1; /* masked until programmed */
	return 0;
}

static bool entry_masked(const struct msix *m, int v)
{
	return m->table[v * MSIX_ENTRY_SIZE + 12] & 1;
}

static void deliver(struct msix *m, int v)
{
	const uint8_t *e = m->table + v * MSIX_ENTRY_SIZE;
	uint32_t lo, hi, data;
	memcpy(&lo, e, 4);
	memcpy(&hi, e + 4, 4);
	memcpy(&data, e + 8, 4);
	irq_msi(m->irq, (uint64_t)hi << 32 | lo, data);
}

/* Fires every pending vector that is now deliverable. */
static void flush_pending(struct msix *m)
{
	if (!m->enabled || m->fmask)
		return;
	for (int v = 0; v < m->nvec; v++)
		if ((m->pba >> v & 1) && !entry_masked(m, v)) {
			m->pba &= ~(1ULL << v);
			deliver(m, v);
		}
}

void msix_table_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	uint64_t end = (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (!is_write)
			data[i] = o < end ? m->table[o] : 0;
		else if (o < end)
			m->table[o] = data[i];
	}
	if (is_write)
		flush_pending(m); /* an entry may have been unmasked */
}

void msix_pba_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	if (is_write)
		return; /* read-only */
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < 8 ? (uint8_t)(m->pba >> (8 * (off + i))) : 0;
}

void msix_sync_cfg(struct msix *m)
{
	uint16_t ctrl = pci_get16(m->pci, m->cap + 2);
	m->enabled = ctrl & MSIX_CTRL_ENABLE;
	m->fmask = ctrl & MSIX_CTRL_FMASK;
	flush_pending(m);
}

bool msix_notify(struct msix *m, uint16_t v)
{
	if (!m->enabled)
		return false;
	if (v >= m->nvec)
		return true;
	if (m->fmask || entry_masked(m, v))
		m->pba |= 1ULL << v;
	else
		deliver(m, v);
	return true;
}

void msix_save(const struct msix *m, struct state_buf *b)
{
	sb_put_u16(b, m->nvec);
	sb_put_bytes(b, m->table, (size_t)m->nvec * MSIX_ENTRY_SIZE);
	sb_put_u64(b, m->pba);
}

int msix_restore(struct msix *m, struct state_buf *b)
{
	uint8_t table[sizeof(m->table)];
	if (sb_get_u16(b) != m->nvec)
		return -1;
	sb_get_bytes(b, table, (size_t)m->nvec * MSIX_ENTRY_SIZE);
	uint64_t pba = sb_get_u64(b);
	if (b->error || (m->nvec < 64 && (pba >> m->nvec)))
		return -1;
	memcpy(m->table, table, (size_t)m->nvec * MSIX_ENTRY_SIZE);
	m->pba = pba;
	return 0;
}
