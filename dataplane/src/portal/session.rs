//! One portal connection's iSCSI conversation, as a pure state machine over bytes: PDUs in, answers out.
//!
//! - A discovery session logs in (one step, or security then operational), asks SendTargets and logs
//!   out. The answer lists every configured target at the portal the initiator connected to.
//! - A normal session's first Login Request is answered "target moved temporarily" with the placed CVM's
//!   portal as TargetAddress; the initiator then logs in there.
//! - Everything else is refused: a Reject for an operation the portal does not do, a login error status
//!   for a login it cannot take, and the connection ends.
//!
//! A PDU is read only once whole, and one larger than `max_pdu` ends the connection before its data is
//! buffered: a client cannot make the portal hold more than that per connection.

use std::net::IpAddr;

use super::iscsi::{self, login_flags, opcode, stage, status, Bhs, ResponseRepr, BHS_LEN, FINAL};

/// The most data the portal puts in one answer (what every initiator takes: RFC 7143's default).
pub const MAX_ANSWER_DATA: usize = 8192;
/// Commands an initiator may have outstanding (MaxCmdSN - ExpCmdSN + 1).
const COMMAND_WINDOW: u32 = 16;

/// Why a connection was refused or cut; each is counted under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// A PDU the portal cannot read (bad lengths, additional headers, text that is not key=value).
    BadPdu,
    /// A PDU above `portal.max_pdu_bytes`.
    PduTooBig,
    /// A login without InitiatorName, or a normal one without TargetName.
    MissingKey,
    /// A login for a target the portal does not list.
    UnknownTarget,
    /// No CVM is active to take the login.
    NoCvm,
    /// An iSCSI version the portal does not speak, or text split over several PDUs.
    Unsupported,
    /// Neither AuthMethod=None nor a step the portal takes (CHAP is the CVMs' business).
    AuthRequired,
    /// An operation a portal does not do (SCSI commands, task management, ...).
    NotPortalWork,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::BadPdu => "bad_pdu",
            Refusal::PduTooBig => "pdu_too_big",
            Refusal::MissingKey => "missing_key",
            Refusal::UnknownTarget => "unknown_target",
            Refusal::NoCvm => "no_cvm",
            Refusal::Unsupported => "unsupported",
            Refusal::AuthRequired => "auth_required",
            Refusal::NotPortalWork => "not_portal_work",
        }
    }
}

/// What the session needs from the portal to answer: the targets, its own address, and placement.
pub trait Portal {
    /// The targets discovery lists, with their groups.
    fn targets(&self) -> &[sluice_control::config::PortalTarget];
    /// The address and port the initiator connected to, and the portal group tag.
    fn local(&self) -> (IpAddr, u16, u16);
    /// The CVM portal (address, port) a login to `target` goes to, or None when no CVM is active.
    fn place(&mut self, target: &str, group: Option<&str>) -> Option<(IpAddr, u16)>;
}

/// What one call to [`Session::input`] led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Keep reading.
    More,
    /// The answers written are the last: close after sending them.
    Close,
    /// A login was sent to a CVM; close after sending the answer.
    Redirected,
    /// Refused (counted); close after sending what was written.
    Refused(Refusal),
}

/// Where the conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Login,
    /// A discovery session in full feature phase.
    Discovery,
    Done,
}

/// One connection's conversation.
pub struct Session {
    max_pdu: usize,
    buf: Vec<u8>,
    phase: Phase,
    stat_sn: u32,
    /// What the first Login Request of this connection said (later ones may leave the keys out).
    initiator: Option<String>,
    discovery: Option<bool>,
    /// This session's identifying handle, once logged in.
    tsih: u16,
    /// Logged in as a discovery session (counted once).
    pub discovered: bool,
    /// SendTargets answered.
    pub send_targets: u64,
}

impl Session {
    /// A new conversation that reads PDUs of at most `max_pdu` bytes; `tsih` identifies its session
    /// (not 0).
    pub fn new(max_pdu: usize, tsih: u16) -> Session {
        Session {
            max_pdu,
            buf: Vec::with_capacity(BHS_LEN),
            phase: Phase::Login,
            stat_sn: 1,
            initiator: None,
            discovery: None,
            tsih: tsih.max(1),
            discovered: false,
            send_targets: 0,
        }
    }

    /// How many more bytes the session takes now (it reads no further than the PDU it is in).
    pub fn wants(&self) -> usize {
        if self.phase == Phase::Done {
            return 0;
        }
        match Bhs::new_checked(&self.buf[..]) {
            Ok(h) => h.pdu_len().min(self.max_pdu).saturating_sub(self.buf.len()),
            Err(_) => BHS_LEN - self.buf.len(),
        }
    }

    /// Takes bytes the initiator sent (at most [`Session::wants`]); answers go to `out`.
    pub fn input(&mut self, bytes: &[u8], portal: &mut dyn Portal, out: &mut Vec<u8>) -> Step {
        if self.phase == Phase::Done {
            return Step::Close;
        }
        self.buf.extend_from_slice(bytes);
        let Ok(h) = Bhs::new_checked(&self.buf[..]) else { return Step::More };
        if h.pdu_len() > self.max_pdu {
            self.phase = Phase::Done;
            return Step::Refused(Refusal::PduTooBig);
        }
        if self.buf.len() < h.pdu_len() {
            return Step::More;
        }
        let pdu = std::mem::take(&mut self.buf);
        let step = self.pdu(&pdu, portal, out);
        if step != Step::More {
            self.phase = Phase::Done;
        }
        step
    }

    fn pdu(&mut self, pdu: &[u8], portal: &mut dyn Portal, out: &mut Vec<u8>) -> Step {
        let h = Bhs::new_unchecked(pdu);
        if h.ahs_len() != 0 {
            self.reject(pdu, iscsi::reject::PROTOCOL_ERROR, out);
            return Step::Refused(Refusal::BadPdu);
        }
        let data = &pdu[BHS_LEN..BHS_LEN + h.data_len()];
        match (h.opcode(), self.phase) {
            (opcode::LOGIN_REQUEST, Phase::Login) => self.login(&h, data, portal, out),
            (opcode::TEXT_REQUEST, Phase::Discovery) => self.text(pdu, portal, out),
            (opcode::LOGOUT_REQUEST, Phase::Discovery) => {
                let mut r = self.answer(opcode::LOGOUT_RESPONSE, &h);
                r.flags = FINAL;
                emit(&r, &[], out);
                Step::Close
            }
            (opcode::NOP_OUT, Phase::Discovery) if h.itt() != iscsi::RESERVED_TAG => {
                let mut r = self.answer(opcode::NOP_IN, &h);
                r.flags = FINAL;
                emit(&r, data, out);
                Step::More
            }
            (opcode::NOP_OUT, Phase::Discovery) => Step::More,
            _ => {
                self.reject(pdu, iscsi::reject::COMMAND_NOT_SUPPORTED, out);
                Step::Refused(Refusal::NotPortalWork)
            }
        }
    }

    /// A response to request `h`: its task tag, the next StatSN, and the command window (an immediate
    /// request takes no CmdSN; another one advances ExpCmdSN past its own).
    fn answer(&mut self, op: u8, h: &Bhs<&[u8]>) -> ResponseRepr {
        let mut r = ResponseRepr::new(op);
        r.itt = h.itt();
        r.stat_sn = self.stat_sn;
        self.stat_sn = self.stat_sn.wrapping_add(1);
        r.exp_cmd_sn = h.cmd_sn().wrapping_add(u32::from(!h.immediate()));
        r.max_cmd_sn = r.exp_cmd_sn.wrapping_add(COMMAND_WINDOW - 1);
        r
    }

    fn reject(&mut self, pdu: &[u8], reason: u8, out: &mut Vec<u8>) {
        let h = Bhs::new_unchecked(pdu);
        let mut r = self.answer(opcode::REJECT, &h);
        r.itt = iscsi::RESERVED_TAG;
        r.flags = FINAL;
        r.byte2 = reason;
        emit(&r, &pdu[..BHS_LEN], out);
    }

    fn login(&mut self, h: &Bhs<&[u8]>, data: &[u8], portal: &mut dyn Portal, out: &mut Vec<u8>) -> Step {
        let mut r = self.answer(opcode::LOGIN_RESPONSE, h);
        r.isid = h.isid();
        r.flags = h.csg() << 2;
        let refuse = |r: &mut ResponseRepr, st: (u8, u8), why: Refusal, out: &mut Vec<u8>| {
            r.status = st;
            emit(r, &[], out);
            Step::Refused(why)
        };
        if h.version_min() != 0 {
            return refuse(&mut r, status::UNSUPPORTED_VERSION, Refusal::Unsupported, out);
        }
        if h.flags() & login_flags::CONTINUE != 0 {
            return refuse(&mut r, status::INITIATOR_ERROR, Refusal::Unsupported, out);
        }
        let Ok(keys) = iscsi::parse_text(data) else {
            return refuse(&mut r, status::INITIATOR_ERROR, Refusal::BadPdu, out);
        };
        // The first Login Request names the initiator and the session type; later ones may repeat them.
        let initiator = iscsi::value(&keys, "InitiatorName").or(self.initiator.as_deref());
        if initiator.is_none_or(|i| sluice_control::config::check_iscsi_name("InitiatorName", i).is_err()) {
            return refuse(&mut r, status::MISSING_PARAMETER, Refusal::MissingKey, out);
        }
        self.initiator = initiator.map(str::to_string);
        let kind = match (iscsi::value(&keys, "SessionType"), self.discovery) {
            (Some(t), _) => t,
            (None, Some(true)) => "Discovery",
            (None, _) => "Normal",
        };
        let mut text = Vec::new();
        match kind {
            "Discovery" => self.discovery = Some(true),
            "Normal" => {
                let Some(target) = iscsi::value(&keys, "TargetName") else {
                    return refuse(&mut r, status::MISSING_PARAMETER, Refusal::MissingKey, out);
                };
                let Some(t) = portal.targets().iter().find(|t| t.name == target) else {
                    return refuse(&mut r, status::NOT_FOUND, Refusal::UnknownTarget, out);
                };
                let group = t.group.clone();
                let tpgt = portal.local().2;
                let Some((ip, port)) = portal.place(target, group.as_deref()) else {
                    return refuse(&mut r, status::SERVICE_UNAVAILABLE, Refusal::NoCvm, out);
                };
                r.status = status::MOVED_TEMPORARILY;
                iscsi::push_key(&mut text, "TargetAddress", &iscsi::target_address(ip, port, tpgt));
                emit(&r, &text, out);
                return Step::Redirected;
            }
            _ => return refuse(&mut r, status::SESSION_TYPE_UNSUPPORTED, Refusal::Unsupported, out),
        }
        // A discovery session: the security stage takes AuthMethod=None only; the operational stage
        // answers what the portal does (no digests, its own receive limit) and takes the rest as given.
        if h.csg() == stage::SECURITY {
            if !iscsi::value(&keys, "AuthMethod").is_some_and(|m| m.split(',').any(|x| x == "None")) {
                return refuse(&mut r, (0x02, 0x01), Refusal::AuthRequired, out);
            }
            iscsi::push_key(&mut text, "AuthMethod", "None");
        } else if h.csg() != stage::OPERATIONAL {
            return refuse(&mut r, status::INITIATOR_ERROR, Refusal::BadPdu, out);
        }
        for (k, v) in [("HeaderDigest", "None"), ("DataDigest", "None")] {
            if iscsi::value(&keys, k).is_some() {
                iscsi::push_key(&mut text, k, v);
            }
        }
        if h.csg() == stage::OPERATIONAL || iscsi::value(&keys, "MaxRecvDataSegmentLength").is_some() {
            // What the portal reads in one PDU's data segment.
            let mine = self.max_pdu.saturating_sub(BHS_LEN) / 4 * 4;
            iscsi::push_key(&mut text, "MaxRecvDataSegmentLength", &mine.to_string());
        }
        let transit = h.flags() & login_flags::TRANSIT != 0;
        if transit {
            let next = h.nsg();
            if next <= h.csg() || next == 2 {
                return refuse(&mut r, status::INITIATOR_ERROR, Refusal::BadPdu, out);
            }
            r.flags |= login_flags::TRANSIT | next;
            if next == stage::FULL_FEATURE {
                r.tsih = self.tsih;
                self.phase = Phase::Discovery;
                self.discovered = true;
            }
        }
        emit(&r, &text, out);
        Step::More
    }

    fn text(&mut self, pdu: &[u8], portal: &mut dyn Portal, out: &mut Vec<u8>) -> Step {
        let h = Bhs::new_unchecked(pdu);
        let data = &pdu[BHS_LEN..BHS_LEN + h.data_len()];
        if h.flags() & login_flags::CONTINUE != 0 {
            self.reject(pdu, iscsi::reject::PROTOCOL_ERROR, out);
            return Step::Refused(Refusal::Unsupported);
        }
        let Ok(keys) = iscsi::parse_text(data) else {
            self.reject(pdu, iscsi::reject::PROTOCOL_ERROR, out);
            return Step::Refused(Refusal::BadPdu);
        };
        let mut r = self.answer(opcode::TEXT_RESPONSE, &h);
        r.flags = FINAL;
        let mut text = Vec::new();
        if let Some(which) = iscsi::value(&keys, "SendTargets") {
            let (ip, port, tpgt) = portal.local();
            let at = iscsi::target_address(ip, port, tpgt);
            for t in portal.targets() {
                if which == "All" || which == t.name {
                    let mut one = Vec::new();
                    iscsi::push_key(&mut one, "TargetName", &t.name);
                    iscsi::push_key(&mut one, "TargetAddress", &at);
                    if text.len() + one.len() > MAX_ANSWER_DATA {
                        break;
                    }
                    text.extend_from_slice(&one);
                }
            }
            self.send_targets += 1;
        }
        emit(&r, &text, out);
        Step::More
    }
}

fn emit(r: &ResponseRepr, data: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + ResponseRepr::buffer_len(data.len()), 0);
    r.emit(data, &mut out[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_control::config::PortalTarget;

    struct Fixed {
        targets: Vec<PortalTarget>,
        cvm: Option<(IpAddr, u16)>,
        asked: Vec<(String, Option<String>)>,
    }

    impl Portal for Fixed {
        fn targets(&self) -> &[PortalTarget] {
            &self.targets
        }
        fn local(&self) -> (IpAddr, u16, u16) {
            ("10.10.0.1".parse().unwrap(), 3260, 1)
        }
        fn place(&mut self, target: &str, group: Option<&str>) -> Option<(IpAddr, u16)> {
            self.asked.push((target.into(), group.map(Into::into)));
            self.cvm
        }
    }

    fn portal() -> Fixed {
        Fixed {
            targets: vec![
                PortalTarget { name: "iqn.2026-12.org.example:vol1".into(), group: None },
                PortalTarget { name: "iqn.2026-12.org.example:vol2".into(), group: Some("db".into()) },
            ],
            cvm: Some(("198.51.100.12".parse().unwrap(), 3260)),
            asked: Vec::new(),
        }
    }

    /// A request PDU: `op` (immediate), `flags`, ITT 0x10, CmdSN 5, and `text` as its data.
    fn pdu(op: u8, flags: u8, text: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; BHS_LEN];
        b[0] = op | iscsi::IMMEDIATE;
        b[1] = flags;
        b[5..8].copy_from_slice(&(text.len() as u32).to_be_bytes()[1..]);
        b[8] = 0x80;
        b[16..20].copy_from_slice(&0x10u32.to_be_bytes());
        b[24..28].copy_from_slice(&5u32.to_be_bytes());
        b.extend_from_slice(text);
        b.resize(BHS_LEN + text.len().div_ceil(4) * 4, 0);
        b
    }

    /// Feeds `bytes` a piece at a time, as the session asks for them.
    fn feed(s: &mut Session, p: &mut Fixed, mut bytes: &[u8], out: &mut Vec<u8>) -> Step {
        loop {
            let n = s.wants().min(bytes.len());
            let step = s.input(&bytes[..n], p, out);
            bytes = &bytes[n..];
            if step != Step::More || bytes.is_empty() {
                return step;
            }
        }
    }

    /// The answers in `out`, as (header, text) pairs.
    fn answers(out: &[u8]) -> Vec<(Vec<u8>, String)> {
        let mut v = Vec::new();
        let mut at = 0;
        while at < out.len() {
            let h = Bhs::new_checked(&out[at..]).unwrap();
            let text = String::from_utf8_lossy(&out[at + BHS_LEN..at + BHS_LEN + h.data_len()]).into_owned();
            v.push((out[at..at + BHS_LEN].to_vec(), text));
            at += h.pdu_len();
        }
        v
    }

    const DISCOVERY: &[u8] = b"InitiatorName=iqn.2026-12.org.example:c1\0SessionType=Discovery\0HeaderDigest=None\0\
DataDigest=None\0MaxRecvDataSegmentLength=262144\0";

    #[test]
    fn a_discovery_session_logs_in_in_one_step_lists_every_target_at_the_portal_and_logs_out() {
        let (mut s, mut p, mut out) = (Session::new(8192, 7), portal(), Vec::new());
        let login = pdu(opcode::LOGIN_REQUEST, login_flags::TRANSIT | 1 << 2 | 3, DISCOVERY);
        assert_eq!(feed(&mut s, &mut p, &login, &mut out), Step::More);
        assert!(s.discovered);
        let a = answers(&out);
        let h = Bhs::new_unchecked(&a[0].0[..]);
        assert_eq!((h.opcode(), h.status(), h.flags()), (opcode::LOGIN_RESPONSE, (0, 0), 0x87));
        assert_eq!(h.itt(), 0x10);
        assert_eq!(h.isid()[0], 0x80);
        assert_eq!(h.tsih(), 7);
        assert_eq!(Bhs::new_unchecked(&a[0].0[..]).cmd_sn(), 1, "StatSN 1 (read through the CmdSN offset)");
        assert!(a[0].1.contains("HeaderDigest=None\0"), "{:?}", a[0].1);
        out.clear();
        let text = pdu(opcode::TEXT_REQUEST, FINAL, b"SendTargets=All\0");
        assert_eq!(feed(&mut s, &mut p, &text, &mut out), Step::More);
        let a = answers(&out);
        assert_eq!(a[0].0[1], 0x80, "final, not continued: what libiscsi requires");
        assert_eq!(
            a[0].1,
            "TargetName=iqn.2026-12.org.example:vol1\0TargetAddress=10.10.0.1:3260,1\0\
TargetName=iqn.2026-12.org.example:vol2\0TargetAddress=10.10.0.1:3260,1\0"
        );
        assert_eq!(u32::from_be_bytes(a[0].0[28..32].try_into().unwrap()), 5, "ExpCmdSN stays at an immediate CmdSN");
        assert_eq!(u32::from_be_bytes(a[0].0[32..36].try_into().unwrap()), 5 + 15, "a window of 16");
        out.clear();
        assert_eq!(feed(&mut s, &mut p, &pdu(opcode::LOGOUT_REQUEST, FINAL, b""), &mut out), Step::Close);
        assert_eq!(answers(&out)[0].0[0], opcode::LOGOUT_RESPONSE);
        assert!(p.asked.is_empty(), "discovery places nothing");
    }

    #[test]
    fn a_normal_login_is_sent_to_the_placed_cvm_with_the_group_as_its_key() {
        let (mut s, mut p, mut out) = (Session::new(8192, 7), portal(), Vec::new());
        let text = b"InitiatorName=iqn.2026-12.org.example:c1\0TargetName=iqn.2026-12.org.example:vol2\0\
SessionType=Normal\0HeaderDigest=None,CRC32C\0";
        let login = pdu(opcode::LOGIN_REQUEST, login_flags::TRANSIT | 1 << 2 | 3, text);
        assert_eq!(feed(&mut s, &mut p, &login, &mut out), Step::Redirected);
        let a = answers(&out);
        assert_eq!(Bhs::new_unchecked(&a[0].0[..]).status(), status::MOVED_TEMPORARILY);
        assert_eq!(a[0].1, "TargetAddress=198.51.100.12:3260,1\0");
        assert_eq!(p.asked, vec![("iqn.2026-12.org.example:vol2".to_string(), Some("db".to_string()))]);
    }

    #[test]
    fn logins_the_portal_cannot_take_get_a_login_status_that_says_why() {
        let cases: [(&[u8], (u8, u8), Refusal); 4] = [
            (b"SessionType=Discovery\0", status::MISSING_PARAMETER, Refusal::MissingKey),
            (
                b"InitiatorName=iqn.2026-12.org.example:c1\0TargetName=iqn.2026-12.org.example:nope\0",
                status::NOT_FOUND,
                Refusal::UnknownTarget,
            ),
            (b"InitiatorName=iqn.2026-12.org.example:c1\0SessionType=Other\0", (2, 9), Refusal::Unsupported),
            (b"InitiatorName=iqn.2026-12.org.example:c1\0garbage\0", status::INITIATOR_ERROR, Refusal::BadPdu),
        ];
        for (text, st, why) in cases {
            let (mut s, mut p, mut out) = (Session::new(8192, 7), portal(), Vec::new());
            let login = pdu(opcode::LOGIN_REQUEST, login_flags::TRANSIT | 1 << 2 | 3, text);
            assert_eq!(feed(&mut s, &mut p, &login, &mut out), Step::Refused(why));
            assert_eq!(Bhs::new_unchecked(&answers(&out)[0].0[..]).status(), st);
            assert_eq!(s.wants(), 0, "the session reads nothing more");
        }
        let (mut s, mut p, mut out) = (Session::new(8192, 7), portal(), Vec::new());
        p.cvm = None;
        let login = pdu(
            opcode::LOGIN_REQUEST,
            login_flags::TRANSIT | 1 << 2 | 3,
            b"InitiatorName=iqn.2026-12.org.example:c1\0TargetName=iqn.2026-12.org.example:vol1\0",
        );
        assert_eq!(feed(&mut s, &mut p, &login, &mut out), Step::Refused(Refusal::NoCvm));
        assert_eq!(Bhs::new_unchecked(&answers(&out)[0].0[..]).status(), status::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_pdu_above_the_limit_is_refused_from_its_header_before_its_data_is_read() {
        let (mut s, mut p, mut out) = (Session::new(1024, 7), portal(), Vec::new());
        let mut h = pdu(opcode::LOGIN_REQUEST, 0x87, b"");
        h[5..8].copy_from_slice(&[0x10, 0, 0]);
        assert_eq!(s.wants(), BHS_LEN);
        assert_eq!(s.input(&h, &mut p, &mut out), Step::Refused(Refusal::PduTooBig));
        assert!(out.is_empty());
        assert_eq!(s.wants(), 0);
    }

    #[test]
    fn scsi_commands_and_full_feature_requests_before_login_are_rejected() {
        let (mut s, mut p, mut out) = (Session::new(8192, 7), portal(), Vec::new());
        assert_eq!(feed(&mut s, &mut p, &pdu(0x01, FINAL, b""), &mut out), Step::Refused(Refusal::NotPortalWork));
        let a = answers(&out);
        assert_eq!((a[0].0[0], a[0].0[2]), (opcode::REJECT, iscsi::reject::COMMAND_NOT_SUPPORTED));
        assert_eq!(Bhs::new_unchecked(&a[0].0[..]).data_len(), BHS_LEN, "a Reject carries the rejected header");
        let (mut s, mut out) = (Session::new(8192, 7), Vec::new());
        let text = pdu(opcode::TEXT_REQUEST, FINAL, b"SendTargets=All\0");
        assert_eq!(feed(&mut s, &mut p, &text, &mut out), Step::Refused(Refusal::NotPortalWork));
    }

    #[test]
    fn a_nop_out_is_echoed_and_a_pdu_split_byte_by_byte_is_read_whole() {
        let (mut s, mut p, mut out) = (Session::new(8192, 7), portal(), Vec::new());
        let login = pdu(opcode::LOGIN_REQUEST, login_flags::TRANSIT | 1 << 2 | 3, DISCOVERY);
        for b in &login {
            assert_eq!(s.input(std::slice::from_ref(b), &mut p, &mut out), Step::More);
        }
        assert_eq!(answers(&out).len(), 1);
        out.clear();
        assert_eq!(feed(&mut s, &mut p, &pdu(opcode::NOP_OUT, FINAL, b"ping"), &mut out), Step::More);
        let a = answers(&out);
        assert_eq!((a[0].0[0], a[0].1.as_str()), (opcode::NOP_IN, "ping"));
    }

    #[test]
    fn a_two_step_discovery_login_keeps_what_its_first_request_said() {
        let (mut s, mut p, mut out) = (Session::new(8192, 7), portal(), Vec::new());
        let first = b"InitiatorName=iqn.2026-12.org.example:c1\0SessionType=Discovery\0AuthMethod=CHAP,None\0";
        let security = pdu(opcode::LOGIN_REQUEST, login_flags::TRANSIT | stage::OPERATIONAL, first);
        assert_eq!(feed(&mut s, &mut p, &security, &mut out), Step::More);
        let a = answers(&out);
        assert_eq!((a[0].0[1], a[0].1.as_str()), (0x81, "AuthMethod=None\0"));
        assert!(!s.discovered);
        out.clear();
        let operational = pdu(opcode::LOGIN_REQUEST, 0x87, b"HeaderDigest=None\0MaxRecvDataSegmentLength=65536\0");
        assert_eq!(feed(&mut s, &mut p, &operational, &mut out), Step::More);
        let a = answers(&out);
        assert_eq!((a[0].0[1], Bhs::new_unchecked(&a[0].0[..]).status()), (0x87, (0, 0)));
        assert!(a[0].1.contains("MaxRecvDataSegmentLength=8144\0"), "what the portal reads: {:?}", a[0].1);
        assert!(s.discovered);
        let (mut s, mut out) = (Session::new(8192, 7), Vec::new());
        let chap_only = b"InitiatorName=iqn.2026-12.org.example:c1\0SessionType=Discovery\0AuthMethod=CHAP\0";
        let login = pdu(opcode::LOGIN_REQUEST, login_flags::TRANSIT | stage::OPERATIONAL, chap_only);
        assert_eq!(feed(&mut s, &mut p, &login, &mut out), Step::Refused(Refusal::AuthRequired));
    }
}
