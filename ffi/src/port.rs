//! Ethernet ports: lookup, configuration with multi-queue RSS, start/stop, statistics.

use std::ffi::{CStr, CString};

use crate::error::{Error, Result, ToResult};
use crate::lcore::SocketId;
use crate::mempool::Mempool;
use crate::raw;

/// A DPDK port id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u16);

/// IPv4/IPv6 with and without TCP/UDP ports (RTE_ETH_RSS_IPV4 .. IPV6_UDP_EX bits).
const RSS_IP_TCP_UDP: u64 = (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 11)
    | (1 << 13)
    | (1 << 15)
    | (1 << 16)
    | (1 << 17);

/// Ethernet header, CRC and one VLAN tag: what a frame adds to its MTU (RTE_ETHER_HDR_LEN + CRC + VLAN).
const ETHER_OVERHEAD: u32 = 14 + 4 + 4;

/// Whether the device carries frames of `mtu` without ethdev being told, while ethdev would refuse to be:
/// DPDK 22.11's af_packet PMD reports a 1518-byte frame limit whatever its ring frames (`framesz`) and
/// its kernel interface's MTU allow, and those two decide what it carries.
pub fn carries_mtu_unconfigured(info: &PortInfo, mtu: u16) -> bool {
    info.driver == "net_af_packet" && u32::from(mtu) + ETHER_OVERHEAD > info.max_rx_pktlen
}

/// What a port can do.
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    /// RSS hash types the device supports (`flow_type_rss_offloads`); 0 for devices without RSS.
    pub rss_offloads: u64,
    /// The device's RSS key length in bytes (0: not reported).
    pub rss_key_len: u8,
    pub socket: SocketId,
    pub max_mtu: u16,
    /// The largest frame the device receives (`max_rx_pktlen`).
    pub max_rx_pktlen: u32,
}

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConf {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// Toeplitz key to program when the device does RSS over several queues.
    pub rss_key: Vec<u8>,
    pub promiscuous: bool,
    /// The IP MTU to set on the device (the pool's data room must hold its frames).
    pub mtu: u16,
}

/// Port counters as the driver reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

impl PortId {
    /// Finds a probed port by device name (a vdev name such as `net_pcap0`, or a PCI address).
    pub fn by_name(name: &str) -> Result<PortId> {
        let c = CString::new(name).map_err(|_| Error::Invalid(format!("port name {name:?} contains NUL")))?;
        let mut id = 0u16;
        // SAFETY: c is a valid C string and id a valid out-pointer.
        let rc = unsafe { raw::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        rc.neg_errno("rte_eth_dev_get_port_by_name")?;
        Ok(PortId(id))
    }

    /// Number of ports EAL probed.
    pub fn count() -> u16 {
        // SAFETY: reads ethdev's port table.
        unsafe { raw::rte_eth_dev_count_avail() }
    }

    pub fn info(self) -> Result<PortInfo> {
        let mut info = raw::rte_eth_dev_info::default();
        // SAFETY: info is a valid out-parameter of the right type.
        unsafe { raw::rte_eth_dev_info_get(self.0, &mut info) }.neg_errno("rte_eth_dev_info_get")?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: driver_name is a static NUL-terminated string owned by the driver.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        // SAFETY: reads the port's socket from ethdev's table.
        let socket = unsafe { raw::rte_eth_dev_socket_id(self.0) };
        Ok(PortInfo {
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rss_offloads: info.flow_type_rss_offloads,
            rss_key_len: info.hash_key_size,
            socket: SocketId(socket),
            max_mtu: info.max_mtu,
            max_rx_pktlen: info.max_rx_pktlen,
        })
    }

    /// Configures queues (RSS over the rx queues when there are several and the device supports it) and
    /// starts the port. rx queues take their mbufs from `pool`.
    pub fn configure_and_start(self, conf: &PortConf, pool: &Mempool) -> Result<()> {
        let info = self.info()?;
        if conf.rx_queues > info.max_rx_queues || conf.tx_queues > info.max_tx_queues {
            return Err(Error::Invalid(format!(
                "port {} ({}) has {} rx / {} tx queues, {} / {} wanted",
                self.0, info.driver, info.max_rx_queues, info.max_tx_queues, conf.rx_queues, conf.tx_queues
            )));
        }
        if conf.mtu > info.max_mtu {
            return Err(Error::Invalid(format!(
                "port {} ({}): mtu {} is above the device's largest, {}",
                self.0, info.driver, conf.mtu, info.max_mtu
            )));
        }
        let mut eth = raw::rte_eth_conf::default();
        // Configure checks the MTU against the device's largest frame, which some drivers (af_packet)
        // report as 1518 and then raise through their MTU operation: configure with what fits, and set
        // the rest below.
        let fits = info.max_rx_pktlen.saturating_sub(ETHER_OVERHEAD).min(u32::from(conf.mtu));
        eth.rxmode.mtu = fits.max(u32::from(conf.mtu.min(1500)));
        let mut key = conf.rss_key.clone();
        let hf = info.rss_offloads & RSS_IP_TCP_UDP;
        if conf.rx_queues > 1 && hf != 0 {
            eth.rxmode.mq_mode = raw::RTE_ETH_MQ_RX_RSS;
            eth.rx_adv_conf.rss_conf.rss_hf = hf;
            if !key.is_empty() && (info.rss_key_len == 0 || info.rss_key_len as usize == key.len()) {
                eth.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
                eth.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
            }
        }
        // SAFETY: eth is a fully initialised rte_eth_conf; key outlives the call (the driver copies it).
        unsafe { raw::rte_eth_dev_configure(self.0, conf.rx_queues, conf.tx_queues, &eth) }
            .neg_errno("rte_eth_dev_configure")?;
        for q in 0..conf.rx_queues {
            // SAFETY: the port is configured with rx_queues queues; NULL rxconf means driver defaults;
            // pool is a live pktmbuf pool that outlives the port (the caller drops ports first).
            unsafe {
                raw::rte_eth_rx_queue_setup(
                    self.0,
                    q,
                    conf.rx_desc,
                    info.socket.0.max(0) as u32,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            }
            .neg_errno("rte_eth_rx_queue_setup")?;
        }
        for q in 0..conf.tx_queues {
            // SAFETY: as above; NULL txconf means driver defaults.
            unsafe {
                raw::rte_eth_tx_queue_setup(self.0, q, conf.tx_desc, info.socket.0.max(0) as u32, std::ptr::null())
            }
            .neg_errno("rte_eth_tx_queue_setup")?;
        }
        if !carries_mtu_unconfigured(&info, conf.mtu) {
            self.set_mtu(conf.mtu, eth.rxmode.mtu == u32::from(conf.mtu), &info.driver)?;
        }
        // SAFETY: the port is configured with all its queues set up.
        unsafe { raw::rte_eth_dev_start(self.0) }.neg_errno("rte_eth_dev_start")?;
        if conf.promiscuous {
            // SAFETY: plain call on a started port. Some vdevs do not support it; that is not an error here.
            let _ = unsafe { raw::rte_eth_promiscuous_enable(self.0) };
        }
        Ok(())
    }

    /// The device's IP MTU now.
    pub fn mtu(self) -> Result<u16> {
        let mut m = 0u16;
        // SAFETY: m is a valid out-parameter.
        unsafe { raw::rte_eth_dev_get_mtu(self.0, &mut m) }.neg_errno("rte_eth_dev_get_mtu")?;
        Ok(m)
    }

    /// Sets the device's MTU to `mtu` unless it already has it. A driver without an MTU operation
    /// (`-ENOTSUP`: pcap, ring and null vdevs) keeps what configure recorded, if configure took the whole
    /// MTU (`configured`); any other refusal is an error.
    fn set_mtu(self, mtu: u16, configured: bool, driver: &str) -> Result<()> {
        if self.mtu().ok() == Some(mtu) {
            return Ok(());
        }
        // SAFETY: plain call on a configured, stopped port.
        let rc = unsafe { raw::rte_eth_dev_set_mtu(self.0, mtu) };
        if rc == -libc::ENOTSUP && configured {
            return Ok(());
        }
        rc.neg_errno("rte_eth_dev_set_mtu")
            .map_err(|e| Error::Invalid(format!("port {} ({driver}): mtu {mtu}: {e}", self.0)))?;
        Ok(())
    }

    /// The port's MAC address.
    pub fn mac(self) -> Result<[u8; 6]> {
        let mut a = raw::rte_ether_addr::default();
        // SAFETY: a is a valid out-parameter.
        unsafe { raw::rte_eth_macaddr_get(self.0, &mut a) }.neg_errno("rte_eth_macaddr_get")?;
        Ok(a.addr_bytes)
    }

    /// Whether the port's link is up now (asked without waiting for the link to settle).
    pub fn link_up(self) -> Result<bool> {
        let mut l = raw::rte_eth_link::default();
        // SAFETY: l is a valid out-parameter.
        unsafe { raw::rte_eth_link_get_nowait(self.0, &mut l) }.neg_errno("rte_eth_link_get_nowait")?;
        Ok(l.link_status() != 0)
    }

    pub fn stats(self) -> Result<PortStats> {
        let mut s = raw::rte_eth_stats::default();
        // SAFETY: s is a valid out-parameter.
        unsafe { raw::rte_eth_stats_get(self.0, &mut s) }.neg_errno("rte_eth_stats_get")?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Stops the port (its rx queues release their mbufs on close).
    pub fn stop(self) -> Result<()> {
        // SAFETY: plain call; stopping a stopped port is harmless.
        unsafe { raw::rte_eth_dev_stop(self.0) }.neg_errno("rte_eth_dev_stop")?;
        Ok(())
    }

    /// Closes the port, releasing its queues and their mbufs.
    pub fn close(self) -> Result<()> {
        // SAFETY: plain call; the port is stopped by the caller and no lcore polls it any more.
        unsafe { raw::rte_eth_dev_close(self.0) }.neg_errno("rte_eth_dev_close")?;
        Ok(())
    }
}
