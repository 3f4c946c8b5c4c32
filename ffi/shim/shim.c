#include "shim.h"

uint16_t sluice_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t sluice_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *sluice_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
void sluice_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
char *sluice_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
char *sluice_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *sluice_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }

unsigned int sluice_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n)
{
	return rte_ring_enqueue_burst(r, objs, n, NULL);
}

unsigned int sluice_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n)
{
	return rte_ring_dequeue_burst(r, objs, n, NULL);
}

unsigned int sluice_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }
int sluice_errno(void) { return rte_errno; }
unsigned int sluice_lcore_id(void) { return rte_lcore_id(); }
uint64_t sluice_rdtsc(void) { return rte_rdtsc(); }
uint64_t sluice_tsc_hz(void) { return rte_get_tsc_hz(); }

uint32_t sluice_softrss(const uint32_t *input_tuple, uint32_t input_len, const uint8_t *rss_key)
{
	return rte_softrss((uint32_t *)input_tuple, input_len, rss_key);
}

uint32_t sluice_softrss_be(const uint32_t *input_tuple, uint32_t input_len, const uint8_t *rss_key)
{
	return rte_softrss_be((uint32_t *)input_tuple, input_len, rss_key);
}

void sluice_prepare_rss_key_be(uint8_t *key_be, const uint8_t *key, int len)
{
	rte_convert_rss_key((const uint32_t *)key, (uint32_t *)key_be, len);
}
