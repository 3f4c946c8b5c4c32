//! `scripts/launch-appliance.sh` for real on this NIC-less machine: its preflight output with hugepages
//! missing and then reserved, a dry run that changes nothing, bad input refused before anything changes,
//! a real launch on virtual devices with hugepages reserved and hugetlbfs mounted by the script, DPDK's
//! own tools (dpdk-proc-info, dpdk-dumpcap, dpdk-telemetry.py) attached to the running sluice, and a clean
//! stop that gives every page back. The systemd unit is checked with `systemd-analyze verify`.
//!
//! Hugepages are host-wide, so these tests run one at a time and put `nr_hugepages` back however they
//! end. Each runs the script in a private mount namespace with no hugetlbfs mounted, so mounting is the
//! script's job and the host's mounts are never touched.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use support::*;

static HUGEPAGES: Mutex<()> = Mutex::new(());

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/launch-appliance.sh")
}

fn sluice() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The default hugepage size's sysfs directory.
fn huge_sys() -> PathBuf {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb = meminfo.lines().find_map(|l| l.strip_prefix("Hugepagesize:")).unwrap().trim().trim_end_matches(" kB");
    PathBuf::from(format!("/sys/kernel/mm/hugepages/hugepages-{kb}kB"))
}

fn read_num(p: &Path) -> u64 {
    std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
}

/// Holds the test's lock; sets `nr_hugepages` so that no page is free, and puts it back when dropped.
struct Hugepages {
    original: u64,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl Hugepages {
    fn none_free() -> Hugepages {
        let lock = HUGEPAGES.lock().unwrap_or_else(|e| e.into_inner());
        let original = read_num(&huge_sys().join("nr_hugepages"));
        let in_use = original - read_num(&huge_sys().join("free_hugepages"));
        std::fs::write(huge_sys().join("nr_hugepages"), in_use.to_string()).unwrap();
        Hugepages { original, _lock: lock }
    }
    fn nr(&self) -> u64 {
        read_num(&huge_sys().join("nr_hugepages"))
    }
    fn set(&self, n: u64) {
        std::fs::write(huge_sys().join("nr_hugepages"), n.to_string()).unwrap();
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        self.set(self.original);
    }
}

/// `sh -c` in a private mount namespace from which every hugetlbfs mount has been removed.
fn in_namespace(script: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"]).arg(format!(
        "for m in $(awk '$3 == \"hugetlbfs\" {{ print $2 }}' /proc/mounts); do umount \"$m\" || exit 99; done; {script}"
    ));
    c
}

fn launch(args: &str) -> String {
    format!("env SLUICE_BIN={} {} {args}", sluice(), script().display())
}

/// A test directory with client traffic (TCP and UDP to the VIPs, ARP) in a pcap and a configuration that
/// runs on hugepages. The client port is a net_tap whose kernel side [`Sender`] feeds; the node port is a
/// net_null sink. (Not net_pcap: DPDK 22.11's secondary processes crash in their exit path on net_pcap
/// ports, so dpdk-proc-info and dpdk-dumpcap would fail there however sluice behaves.)
struct Setup {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    prefix: String,
    iface: String,
    frames: PathBuf,
}

fn setup(name: &str, edit: impl Fn(String) -> String) -> Setup {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("client.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&frames).unwrap()).unwrap();
    for i in 0..256u16 {
        let f = match i % 4 {
            0 => tcp4([172, 16, (i >> 8) as u8, i as u8], 30000 + i, VIP4, 2049, b"launch"),
            1 => udp4([172, 16, (i >> 8) as u8, i as u8], 30000 + i, VIP4, 2049, b"launch"),
            2 => tcp6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, i as u8], 40000 + i, vip6(), 3260, b"x"),
            _ => arp_request([192, 0, 2, 1], [192, 0, 2, 77]),
        };
        w.write_packet(&PcapPacket::new(Duration::from_micros(i.into()), f.len() as u32, &f)).unwrap();
    }
    drop(w);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let iface = format!("slt{}x{n}", std::process::id() % 100_000);
    let prefix = format!("sl-launch-{}-{name}", std::process::id());
    let toml = example_toml("unused-client", "unused-node")
        .replace("net_pcap0,rx_pcap=unused-client,infinite_rx=1", &format!("net_tap0,iface={iface}"))
        .replace("net_pcap1,rx_pcap=unused-node,infinite_rx=1", "net_null0,no-rx=1")
        .replace("no_huge = true", "no_huge = false")
        .replace("memory_mb = 1024", "memory_mb = 0")
        .replace("mbufs = 65535", "mbufs = 4095")
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"{prefix}\""));
    let cfg = dir.path().join("appliance.toml");
    std::fs::write(&cfg, edit(toml)).unwrap();
    Setup { dir, cfg, prefix, iface, frames }
}

/// Sends the setup's frames into its tap from the kernel side until dropped.
struct Sender(std::process::Child);

impl Sender {
    fn start(s: &Setup) -> Sender {
        let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/send_frames.py");
        let child = Command::new("python3")
            .arg(py)
            .args([&s.iface, s.frames.to_str().unwrap(), "120"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Sender(child)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn needed_pages(out: &str) -> u64 {
    let tail = out.split("sluice needs ").nth(1).unwrap_or_else(|| panic!("no page count in:\n{out}"));
    tail.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

fn leftovers(prefix: &str) -> Vec<String> {
    [
        format!("/run/sluice/launch-{prefix}.state"),
        format!("/var/run/dpdk/{prefix}"),
        format!("/run/sluice/{prefix}.sock"),
    ]
    .into_iter()
    .filter(|p| Path::new(p).exists())
    .collect()
}

#[test]
fn preflight_fails_without_hugepages_and_passes_once_they_are_reserved() {
    if support::skip_unless_root("hugepages and the launcher") {
        return;
    }
    let pages = Hugepages::none_free();
    let s = setup("preflight", |t| t);
    let check = launch(&format!("--config {} --check", s.cfg.display()));
    let out = in_namespace(&check).output().unwrap();
    let o = text(&out);
    assert_eq!(out.status.code(), Some(2), "{o}");
    for line in [
        "PASS  root",
        "PASS  config: ",
        "PASS  cpu flags: sse4_2 ssse3 popcnt",
        "PASS  lcores: 0@0(control) 1@1(worker)",
        "FAIL  hugepages: 0 free 2048 kB pages, sluice needs ",
        "      fix: run with --reserve-hugepages, or: echo ",
        "FAIL  hugetlbfs: no 2048 kB hugetlbfs mounted",
        "PASS  port client: virtual device, nothing to bind",
        "PASS  port nodes: virtual device, nothing to bind",
        "SKIP  iommu, vfio-pci: no PCI NICs configured (virtual devices only)",
        "preflight: 2 failed, ",
    ] {
        assert!(o.lines().any(|l| l.starts_with(line)), "no line {line:?} in:\n{o}");
    }
    // The kernel command line isolates nothing here: a warning, never a failure.
    assert!(o.contains("WARN  lcore isolation: worker CPUs 1 are not all in"), "{o}");

    // Reserve what it asked for and mount hugetlbfs: every check passes.
    let need = needed_pages(&o);
    pages.set(pages.nr() + need);
    let mnt = s.dir.path().join("huge");
    std::fs::create_dir(&mnt).unwrap();
    let out = in_namespace(&format!("mount -t hugetlbfs nodev {} && {check}", mnt.display())).output().unwrap();
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains(&format!("PASS  hugepages: {need} free 2048 kB pages, sluice needs {need}")), "{o}");
    assert!(o.contains(&format!("PASS  hugetlbfs: 2048 kB pages mounted at {}", mnt.display())), "{o}");
    assert!(o.contains("preflight: 0 failed"), "{o}");
}

#[test]
fn dry_run_prints_every_action_and_the_command_and_changes_nothing() {
    if support::skip_unless_root("hugepages and the launcher") {
        return;
    }
    let pages = Hugepages::none_free();
    let before = pages.nr();
    let s = setup("dry", |t| t);
    let out = in_namespace(&format!(
        "{} && echo mounts=$(grep -c hugetlbfs /proc/mounts)",
        launch(&format!("--config {} --dry-run --reserve-hugepages --bind -- --duration 1", s.cfg.display()))
    ))
    .output()
    .unwrap();
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    let need = needed_pages(&o);
    let sys = huge_sys();
    for line in [
        format!("PLAN  hugepages: 0 free 2048 kB pages, sluice needs {need}: reserving {need} more"),
        "PLAN  hugetlbfs: none mounted: mounting at /dev/hugepages".into(),
        format!("would run: echo {} > {}/nr_hugepages", before + need, sys.display()),
        "would run: mkdir -p /dev/hugepages".into(),
        "would run: mount -t hugetlbfs -o pagesize=2048K nodev /dev/hugepages".into(),
        format!("EAL arguments: -l 0,1 --main-lcore=0 --file-prefix {} --vdev ", s.prefix),
        format!("would start: {} --config {} --duration 1", sluice(), s.cfg.display()),
        "mounts=0".into(),
    ] {
        assert!(o.lines().any(|l| l.starts_with(&line)), "no line {line:?} in:\n{o}");
    }
    assert_eq!(pages.nr(), before, "a dry run reserved hugepages");
    assert!(leftovers(&s.prefix).is_empty(), "{:?}", leftovers(&s.prefix));
}

#[test]
fn bad_input_fails_naming_it_and_changes_nothing() {
    if support::skip_unless_root("hugepages and the launcher") {
        return;
    }
    let pages = Hugepages::none_free();
    let before = pages.nr();
    // The interface carrying this host's default route, and the PCI device under it when it has one.
    let route = String::from_utf8(Command::new("ip").args(["-o", "route", "show", "default"]).output().unwrap().stdout)
        .unwrap();
    let default_dev = route.split_whitespace().skip_while(|w| *w != "dev").nth(1).map(str::to_string);
    let default_pci = default_dev.as_ref().and_then(|d| {
        let real = std::fs::canonicalize(format!("/sys/class/net/{d}")).ok()?;
        real.iter().filter_map(|c| sluice_control::config::pci_address(c.to_str()?)).next_back()
    });
    let client_dev = "net_tap0,iface=";
    let device = |dev: String| {
        move |t: String| {
            let start = t.find(client_dev).unwrap();
            let end = start + t[start..].find('"').unwrap();
            format!("{}{}{}", &t[..start], dev, &t[end..])
        }
    };
    let mut cases: Vec<(Setup, &str, String)> = vec![
        (setup("table", |t| t.replace("table_size = 65537", "table_size = 65536")), "", "dataplane.table_size".into()),
        (
            setup("pci", device("0000:ff:1f.7".into())),
            "",
            "FAIL  port client: PCI device 0000:ff:1f.7 does not exist".into(),
        ),
        (
            setup("iface", device("net_af_packet0,iface=sl-nope0".into())),
            "",
            "FAIL  port client: interface sl-nope0 does not exist".into(),
        ),
        (
            setup("nocpu", |t| t.replace("lcores = \"0,1\"", "lcores = \"0,120\"")),
            "",
            "FAIL  lcores: lcore 120 (worker) runs on CPU 120, which does not exist".into(),
        ),
        (
            setup("overlap", |t| t.replace("lcores = \"0,1\"", "lcores = \"0-2\"\ncpus = \"0,1,1\"")),
            "",
            "FAIL  lcores: CPU 1 runs more than one lcore".into(),
        ),
        (setup("pages", |t| t), "no-reserve", "FAIL  hugepages: 0 free 2048 kB pages".into()),
    ];
    if let Some(dev) = &default_dev {
        let af = setup("route-iface", device(format!("net_af_packet0,iface={dev}")));
        cases.push((af, "", format!("FAIL  port client: interface {dev} carries the host's default route")));
    }
    if let (Some(dev), Some(pci)) = (&default_dev, &default_pci) {
        let line = format!("FAIL  port client: {pci} ({dev}) carries the host's default route");
        cases.push((setup("route-pci", device(pci.clone())), "", line));
        // --force turns that into a warning; the NIC is still not bound without --bind.
        let forced =
            format!("WARN  port client: {pci} ({dev}) carries the host's default route; going ahead (--force)");
        cases.push((setup("route-force", device(pci.clone())), "force", forced));
    }
    let missing = setup("missing", |t| t);
    std::fs::remove_file(&missing.cfg).unwrap();
    let line = format!("FAIL  config: {} does not exist or is not readable", missing.cfg.display());
    cases.push((missing, "", line));

    for (s, how, expect) in &cases {
        let opts = match *how {
            "no-reserve" => "",
            "force" => "--force --reserve-hugepages",
            _ => "--reserve-hugepages --bind",
        };
        let cmd = launch(&format!("--config {} {opts} -- --duration 1", s.cfg.display()));
        let out = in_namespace(&format!("{cmd}; rc=$?; echo mounts=$(grep -c hugetlbfs /proc/mounts); exit $rc"))
            .output()
            .unwrap();
        let o = text(&out);
        assert_eq!(out.status.code(), Some(2), "{expect}: {o}");
        assert!(o.contains(expect.as_str()), "no {expect:?} in:\n{o}");
        assert!(o.contains("launch-appliance: not starting sluice"), "{o}");
        assert!(o.contains("mounts=0") && !o.contains("\nrun: ") && !o.contains("start: "), "{o}");
        assert_eq!(pages.nr(), before, "{expect}: hugepages changed");
        assert!(leftovers(&s.prefix).is_empty(), "{expect}: {:?}", leftovers(&s.prefix));
    }
    if let Some(pci) = &default_pci {
        let drv = std::fs::read_link(format!("/sys/bus/pci/devices/{pci}/driver")).unwrap();
        assert_ne!(drv.file_name().unwrap(), "vfio-pci", "the default-route NIC was rebound");
    }
}

#[test]
fn an_action_that_fails_partway_undoes_the_ones_before_it() {
    if support::skip_unless_root("hugepages and the launcher") {
        return;
    }
    let pages = Hugepages::none_free();
    let before = pages.nr();
    let s = setup("undo", |t| t);
    // The hugepages get reserved, then the mount point cannot be made (a file is in the way).
    let blocker = s.dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let mnt = blocker.join("huge");
    let cmd = launch(&format!(
        "--config {} --reserve-hugepages --hugepage-mount {} -- --duration 1",
        s.cfg.display(),
        mnt.display()
    ));
    let out = in_namespace(&format!("{cmd}; rc=$?; echo mounts=$(grep -c hugetlbfs /proc/mounts); exit $rc"))
        .output()
        .unwrap();
    let o = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(o.contains("\nrun: echo ") && o.contains(&format!("run: mkdir -p {}", mnt.display())), "{o}");
    assert!(o.contains(&format!("launch-appliance: cannot create {}; undoing what was done", mnt.display())), "{o}");
    assert!(o.contains(&format!("restore: nr_hugepages back to {before}")), "{o}");
    assert!(o.contains("mounts=0") && !o.contains("start: "), "{o}");
    assert_eq!(pages.nr(), before);
    assert!(leftovers(&s.prefix).is_empty(), "{:?}", leftovers(&s.prefix));
}

/// Runs one DPDK tool inside the launched appliance's mount namespace (where its hugepages are).
fn in_appliance_ns(pid: u32, program: &str, args: &[&str]) -> Output {
    Command::new("nsenter").arg(format!("--mount=/proc/{pid}/ns/mnt")).arg(program).args(args).output().unwrap()
}

/// Starts the launcher with `--reserve-hugepages` in its own mount namespace, output to `launch.log` in
/// the setup's directory, and waits until sluice answers telemetry.
fn launch_in_background(s: &Setup) -> (std::process::Child, PathBuf) {
    let log = s.dir.path().join("launch.log");
    let cmd = format!(
        "exec {} > {} 2>&1",
        launch(&format!("--config {} --reserve-hugepages -- --stats-interval-ms 0", s.cfg.display())),
        log.display()
    );
    let mut child = in_namespace(&cmd).spawn().unwrap();
    let telemetry = format!("/var/run/dpdk/{}/dpdk_telemetry.v2", s.prefix);
    let t0 = Instant::now();
    while !Path::new(&telemetry).exists() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let running = child.try_wait().unwrap().is_none();
        assert!(t0.elapsed() < Duration::from_secs(30) && running, "not up:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, log)
}

struct Launched(std::process::Child);

impl Drop for Launched {
    fn drop(&mut self) {
        support::stop(&mut self.0);
    }
}

#[test]
fn launch_reserves_hugepages_dpdk_tools_attach_and_stop_gives_everything_back() {
    if support::skip_unless_root("hugepages and the launcher") {
        return;
    }
    let pages = Hugepages::none_free();
    let before = pages.nr();
    let s = setup("run", |t| t);
    let (child, log) = launch_in_background(&s);
    let mut child = Launched(child);
    let pid = child.0.id();
    let sender = Sender::start(&s);
    std::thread::sleep(Duration::from_millis(1500));
    let o = std::fs::read_to_string(&log).unwrap();
    assert!(
        o.contains("run: echo ") && o.contains("run: mount -t hugetlbfs -o pagesize=2048K nodev /dev/hugepages"),
        "{o}"
    );
    assert!(pages.nr() > before, "no hugepages reserved");

    // dpdk-proc-info: a secondary process reading the ports' stats.
    let out = in_appliance_ns(pid, "dpdk-proc-info", &["--file-prefix", &s.prefix, "--", "--stats"]);
    let info = text(&out);
    assert!(out.status.success(), "{info}");
    let rx0: u64 = info
        .split("NIC statistics for port 0")
        .nth(1)
        .and_then(|t| t.split("RX-packets:").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no port 0 rx in:\n{info}"));
    assert!(rx0 > 0 && info.contains("NIC statistics for port 1"), "{info}");

    // dpdk-dumpcap: captures what the client port receives (sluice called rte_pdump_init).
    let cap = s.dir.path().join("client-capture.pcap");
    let out = in_appliance_ns(
        pid,
        "dpdk-dumpcap",
        &[&format!("--file-prefix={}", s.prefix), "-i", "0", "-c", "40", "-q", "-P", "-w", cap.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let mut r = PcapReader::new(std::fs::File::open(&cap).unwrap()).unwrap();
    let mut frames = Vec::new();
    while let Some(p) = r.next_packet() {
        frames.push(p.unwrap().data.into_owned());
    }
    assert!(frames.len() >= 40, "{} frames captured", frames.len());
    let to_vip = frames.iter().filter(|f| check(f).is_ok_and(|s| s.dst == v4(VIP4))).count();
    assert!(to_vip > 0, "no captured frame is for the VIP");

    // dpdk-telemetry.py: DPDK's ports and sluice's own commands.
    let answers = telemetry(&s.prefix, &["/ethdev/list", "/", "/sluice/stats"]);
    assert_eq!(answers[0]["/ethdev/list"], serde_json::json!([0, 1]));
    let listed = answers[1]["/"].as_array().unwrap();
    assert!(["/sluice/stats", "/sluice/nodes", "/ethdev/stats"].iter().all(|c| listed.iter().any(|x| x == c)));
    assert!(answers[2]["/sluice/stats"]["rx"].as_u64().unwrap() > 0, "{}", answers[2]);

    drop(sender);
    // A second launch of the same configuration is refused while this one runs.
    let out = in_appliance_ns(
        pid,
        "env",
        &[&format!("SLUICE_BIN={}", sluice()), script().to_str().unwrap(), "--config", s.cfg.to_str().unwrap()],
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(2), "{o}");
    assert!(o.contains(&format!("FAIL  file prefix: '{}' is in use by a running DPDK process", s.prefix)), "{o}");

    // A clean stop: SIGTERM to the launcher stops sluice, then everything it changed is put back.
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let status = child.0.wait().unwrap();
    let o = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{o}");
    assert!(o.contains("mempool: 0 of 4095 mbufs in use at exit") && o.contains("[balanced]"), "{o}");
    assert!(o.contains("launch-appliance: sluice exited with 0 after a stop request"), "{o}");
    assert!(o.contains("restore: unmounting /dev/hugepages"), "{o}");
    assert!(o.contains(&format!("restore: nr_hugepages back to {before}")), "{o}");
    assert_eq!(pages.nr(), before);
    assert_eq!(read_num(&huge_sys().join("free_hugepages")), read_num(&huge_sys().join("nr_hugepages")));
    assert!(leftovers(&s.prefix).is_empty(), "{:?}", leftovers(&s.prefix));
}

#[test]
fn a_killed_launch_is_restored_by_cleanup() {
    if support::skip_unless_root("hugepages and the launcher") {
        return;
    }
    let pages = Hugepages::none_free();
    let before = pages.nr();
    let host_mounts = hugetlbfs_mounts();
    let s = setup("killed", |t| t);
    let (mut child, _log) = launch_in_background(&s);
    // SIGKILL both: nothing gets to clean up; the reservation stays.
    let pid = child.id().to_string();
    Command::new("pkill").args(["-KILL", "-P", &pid]).status().unwrap();
    Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    child.wait().unwrap();
    assert!(pages.nr() > before);
    assert!(Path::new(&format!("/run/sluice/launch-{}.state", s.prefix)).exists());
    let out = Command::new("bash")
        .arg(script())
        .args(["--config", s.cfg.to_str().unwrap(), "--cleanup"])
        .env("SLUICE_BIN", sluice())
        .output()
        .unwrap();
    let o = text(&out);
    assert!(out.status.success(), "{o}");
    assert!(o.contains(&format!("restore: nr_hugepages back to {before}")), "{o}");
    // The mount it made died with its namespace; the host's own mounts are left alone.
    assert!(o.contains("restore: /dev/hugepages is not the hugetlbfs this launcher mounted"), "{o}");
    assert_eq!(hugetlbfs_mounts(), host_mounts);
    assert_eq!(pages.nr(), before);
    assert!(leftovers(&s.prefix).is_empty(), "{:?}", leftovers(&s.prefix));
}

fn hugetlbfs_mounts() -> Vec<String> {
    let m = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    m.lines().filter(|l| l.contains(" - hugetlbfs ")).map(str::to_string).collect()
}

#[test]
fn systemd_unit_verifies_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let unit = std::fs::read_to_string(root.join("scripts/systemd/sluice@.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/sbin/sluice-launch --config /etc/sluice/%i.toml"));
    let dir = tempfile::tempdir().unwrap();
    // Installed paths → this checkout's, which exist here (verify checks that ExecStart is executable).
    for line in
        ["Type=notify", "NotifyAccess=all", "ExecReload=/usr/local/bin/sluicectl reload --config /etc/sluice/%i.toml"]
    {
        assert!(unit.lines().any(|l| l == line), "the unit has {line}");
    }
    let here = unit
        .replace("/usr/local/sbin/sluice-launch", script().to_str().unwrap())
        .replace("/usr/local/bin/sluicectl", support::lab::sluicectl().to_str().unwrap())
        .replace("/usr/local/bin/sluice", sluice());
    let verify = |text: &str| {
        let p = dir.path().join("sluice@.service");
        std::fs::write(&p, text).unwrap();
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.path().join("sluice@prod.service"))
            .output()
            .expect("systemd-analyze (Debian package systemd)")
    };
    let out = verify(&here);
    assert!(out.status.success() && text(&out).trim().is_empty(), "{}", text(&out));
    // The check is not vacuous: a misspelt key and a missing ExecStart binary are both reported.
    let out = verify(&here.replace("Restart=on-failure", "Restrat=on-failure"));
    assert!(text(&out).contains("Unknown key"), "{}", text(&out));
    let out = verify(&here.replace(script().to_str().unwrap(), "/nonexistent/sluice-launch"));
    assert!(!out.status.success(), "{}", text(&out));
    // The speaker's unit, next to it.
    let speaker = std::fs::read_to_string(root.join("scripts/systemd/sluice-speaker@.service")).unwrap();
    assert!(
        speaker.contains("After=sluice@%i.service") && speaker.contains("ExecStart=/usr/local/bin/sluicectl speaker")
    );
    let ctl = support::lab::sluicectl();
    let speaker = speaker.replace("/usr/local/bin/sluicectl", ctl.to_str().unwrap());
    std::fs::write(dir.path().join("sluice-speaker@.service"), &speaker).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("sluice-speaker@prod.service"))
        .output()
        .unwrap();
    assert!(out.status.success() && text(&out).trim().is_empty(), "{}", text(&out));
}
