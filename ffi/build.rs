//! Generates bindings to the system's DPDK (found with pkg-config) and compiles the C shim that wraps
//! DPDK's static-inline fast-path functions. The same cflags go to bindgen and to the shim's compiler.

use std::env;
use std::path::PathBuf;

fn main() {
    let dpdk = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .expect("DPDK 22.11 not found by pkg-config: apt-get install libdpdk-dev pkg-config");

    // `pkg-config --cflags` carries `-include rte_config.h -march=corei7` which pkg_config's include_paths
    // drop; ask for the verbatim flags.
    let output = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("run pkg-config --cflags libdpdk");
    let flags: Vec<String> =
        String::from_utf8(output.stdout).expect("utf-8 cflags").split_whitespace().map(str::to_owned).collect();

    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=build.rs");

    let mut build = cc::Build::new();
    build.file("shim/shim.c").include("shim").opt_level(3).warnings(false);
    for f in &flags {
        build.flag(f);
    }
    for p in &dpdk.include_paths {
        build.include(p);
    }
    build.compile("sluice_shim");

    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&flags)
        .clang_arg("-Ishim")
        .allowlist_function("sluice_.*")
        .allowlist_function("rte_eal_(init|cleanup|mp_wait_lcore|remote_launch|wait_lcore|process_type|get_runtime_dir)")
        .allowlist_function("rte_eth_(dev_configure|dev_info_get|dev_start|dev_stop|dev_close|rx_queue_setup|tx_queue_setup|macaddr_get|dev_count_avail|dev_get_port_by_name|dev_socket_id|promiscuous_enable|stats_get|stats_reset|dev_is_valid_port|link_get_nowait|dev_set_mtu|dev_get_mtu|dev_rss_hash_update|find_next_owned_by)")
        .allowlist_function("rte_pdump_(init|uninit)")
        .allowlist_function("rte_dev_probe|rte_dev_remove|rte_vdev_init|rte_vdev_uninit")
        .allowlist_function("rte_pktmbuf_pool_create|rte_pktmbuf_free_bulk|rte_mempool_(free|avail_count|in_use_count|lookup)")
        .allowlist_function("rte_ring_(create|free|lookup)")
        .allowlist_function("rte_telemetry_register_cmd|rte_tel_data_(start_dict|add_dict_u64|add_dict_string|add_dict_container|alloc)")
        .allowlist_function("rte_(strerror|lcore_count|get_main_lcore|get_next_lcore|lcore_is_enabled|socket_id|lcore_to_socket_id|get_tsc_hz|delay_us_block)")
        .allowlist_type("rte_mbuf|rte_mempool|rte_ring|rte_eth_conf|rte_eth_dev_info|rte_eth_stats|rte_ether_addr|rte_eth_link|rte_eth_rxconf|rte_eth_txconf")
        .allowlist_var("RTE_ETH_.*|RTE_MBUF_DEFAULT_.*|RTE_PKTMBUF_HEADROOM|RTE_MAX_LCORE|RTE_MAX_ETHPORTS|RING_F_.*|SOCKET_ID_ANY|RTE_ETHER_.*")
        .opaque_type("rte_l2tpv2_combined_msg_hdr|rte_gtp_psc_generic_hdr")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .generate()
        .expect("bindgen over DPDK headers (needs libclang-dev)");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings.write_to_file(out.join("bindings.rs")).expect("write bindings.rs");
}
