/* C shim over DPDK's static-inline functions and macros, which bindgen cannot emit.
 * Every function here is a one-line forward; the Rust safe layer lives in src/. */
#ifndef SLUICE_SHIM_H
#define SLUICE_SHIM_H

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_cycles.h>
#include <rte_thash.h>
#include <rte_launch.h>
#include <rte_bus_vdev.h>
#include <rte_telemetry.h>
#include <rte_pdump.h>

uint16_t sluice_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t sluice_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *sluice_pktmbuf_alloc(struct rte_mempool *mp);
void sluice_pktmbuf_free(struct rte_mbuf *m);
char *sluice_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *sluice_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *sluice_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
unsigned int sluice_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n);
unsigned int sluice_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n);
unsigned int sluice_ring_count(const struct rte_ring *r);
int sluice_errno(void);
unsigned int sluice_lcore_id(void);
uint64_t sluice_rdtsc(void);
uint64_t sluice_tsc_hz(void);
uint32_t sluice_softrss(const uint32_t *input_tuple, uint32_t input_len, const uint8_t *rss_key);
uint32_t sluice_softrss_be(const uint32_t *input_tuple, uint32_t input_len, const uint8_t *rss_key);
void sluice_prepare_rss_key_be(uint8_t *key_be, const uint8_t *key, int len);

#endif
