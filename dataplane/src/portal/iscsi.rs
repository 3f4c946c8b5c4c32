//! iSCSI PDUs as the portal reads and writes them (RFC 7143): the 48-byte basic header segment as a
//! smoltcp-style view with field ranges, the text keys of a data segment, and `Repr`s for the answers
//! the portal sends (login, text, logout and NOP-In responses, and Reject).

use std::fmt;

/// The basic header segment's length.
pub const BHS_LEN: usize = 48;

/// Opcodes (the low six bits of byte 0).
pub mod opcode {
    pub const NOP_OUT: u8 = 0x00;
    pub const LOGIN_REQUEST: u8 = 0x03;
    pub const TEXT_REQUEST: u8 = 0x04;
    pub const LOGOUT_REQUEST: u8 = 0x06;
    pub const NOP_IN: u8 = 0x20;
    pub const LOGIN_RESPONSE: u8 = 0x23;
    pub const TEXT_RESPONSE: u8 = 0x24;
    pub const LOGOUT_RESPONSE: u8 = 0x26;
    pub const REJECT: u8 = 0x3f;
}

/// Field ranges of the basic header segment.
mod field {
    use std::ops::Range;
    pub const OPCODE: usize = 0;
    pub const FLAGS: usize = 1;
    pub const VERSION_MAX: usize = 2;
    pub const VERSION_MIN: usize = 3;
    pub const AHS_WORDS: usize = 4;
    pub const DATA_LEN: Range<usize> = 5..8;
    pub const ISID: Range<usize> = 8..14;
    pub const TSIH: Range<usize> = 14..16;
    pub const ITT: Range<usize> = 16..20;
    pub const TTT: Range<usize> = 20..24;
    pub const CID: Range<usize> = 20..22;
    pub const CMD_SN: Range<usize> = 24..28;
    pub const EXP_STAT_SN: Range<usize> = 28..32;
    /// In responses: StatSN, ExpCmdSN and MaxCmdSN.
    pub const STAT_SN: Range<usize> = 24..28;
    pub const EXP_CMD_SN: Range<usize> = 28..32;
    pub const MAX_CMD_SN: Range<usize> = 32..36;
    pub const STATUS_CLASS: usize = 36;
    pub const STATUS_DETAIL: usize = 37;
}

/// Login flags (byte 1 of a login PDU).
pub mod login_flags {
    /// Transit: the sender is ready to move to the next stage.
    pub const TRANSIT: u8 = 0x80;
    /// Continue: the text is not complete.
    pub const CONTINUE: u8 = 0x40;
}

/// The final bit of text, logout and other PDUs.
pub const FINAL: u8 = 0x80;
/// The immediate bit of byte 0.
pub const IMMEDIATE: u8 = 0x40;
/// "No task tag" (an unsolicited NOP) and "no target transfer tag".
pub const RESERVED_TAG: u32 = 0xffff_ffff;

/// Login stages (CSG/NSG).
pub mod stage {
    pub const SECURITY: u8 = 0;
    pub const OPERATIONAL: u8 = 1;
    pub const FULL_FEATURE: u8 = 3;
}

/// Why a header cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduError {
    /// Fewer than 48 bytes.
    Truncated { len: usize },
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PduError::Truncated { len } => write!(f, "{len} bytes, fewer than the {BHS_LEN}-byte header"),
        }
    }
}

/// A view of a basic header segment.
#[derive(Debug, Clone, Copy)]
pub struct Bhs<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Bhs<T> {
    pub fn new_unchecked(buffer: T) -> Bhs<T> {
        Bhs { buffer }
    }

    /// A view after checking that the buffer holds a whole header; no accessor panics afterwards.
    pub fn new_checked(buffer: T) -> Result<Bhs<T>, PduError> {
        let len = buffer.as_ref().len();
        if len < BHS_LEN {
            return Err(PduError::Truncated { len });
        }
        Ok(Bhs { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    fn u32_at(&self, r: std::ops::Range<usize>) -> u32 {
        u32::from_be_bytes(self.b()[r].try_into().expect("4-byte field"))
    }

    pub fn opcode(&self) -> u8 {
        self.b()[field::OPCODE] & 0x3f
    }
    pub fn immediate(&self) -> bool {
        self.b()[field::OPCODE] & IMMEDIATE != 0
    }
    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }
    /// A login request's current stage.
    pub fn csg(&self) -> u8 {
        self.flags() >> 2 & 3
    }
    /// A login request's next stage (meaningful with the transit bit).
    pub fn nsg(&self) -> u8 {
        self.flags() & 3
    }
    pub fn version_max(&self) -> u8 {
        self.b()[field::VERSION_MAX]
    }
    pub fn version_min(&self) -> u8 {
        self.b()[field::VERSION_MIN]
    }
    /// The additional header segments' length in bytes.
    pub fn ahs_len(&self) -> usize {
        self.b()[field::AHS_WORDS] as usize * 4
    }
    /// The data segment's length in bytes, without its padding.
    pub fn data_len(&self) -> usize {
        let d = &self.b()[field::DATA_LEN];
        (d[0] as usize) << 16 | (d[1] as usize) << 8 | d[2] as usize
    }
    /// The whole PDU's length: header, additional headers, data and its padding to 4 bytes.
    pub fn pdu_len(&self) -> usize {
        BHS_LEN + self.ahs_len() + self.data_len().div_ceil(4) * 4
    }
    pub fn isid(&self) -> [u8; 6] {
        self.b()[field::ISID].try_into().expect("6-byte field")
    }
    pub fn tsih(&self) -> u16 {
        u16::from_be_bytes(self.b()[field::TSIH].try_into().expect("2-byte field"))
    }
    pub fn itt(&self) -> u32 {
        self.u32_at(field::ITT)
    }
    pub fn ttt(&self) -> u32 {
        self.u32_at(field::TTT)
    }
    pub fn cid(&self) -> u16 {
        u16::from_be_bytes(self.b()[field::CID].try_into().expect("2-byte field"))
    }
    pub fn cmd_sn(&self) -> u32 {
        self.u32_at(field::CMD_SN)
    }
    pub fn exp_stat_sn(&self) -> u32 {
        self.u32_at(field::EXP_STAT_SN)
    }
    /// A login response's status class and detail.
    pub fn status(&self) -> (u8, u8) {
        (self.b()[field::STATUS_CLASS], self.b()[field::STATUS_DETAIL])
    }
    /// A logout request's reason code.
    pub fn logout_reason(&self) -> u8 {
        self.flags() & 0x7f
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Bhs<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    fn set_u32(&mut self, r: std::ops::Range<usize>, v: u32) {
        self.m()[r].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_opcode(&mut self, op: u8) {
        self.m()[field::OPCODE] = op & 0x3f;
    }
    pub fn set_flags(&mut self, f: u8) {
        self.m()[field::FLAGS] = f;
    }
    pub fn set_byte2(&mut self, v: u8) {
        self.m()[field::VERSION_MAX] = v;
    }
    pub fn set_byte3(&mut self, v: u8) {
        self.m()[field::VERSION_MIN] = v;
    }
    pub fn set_data_len(&mut self, len: usize) {
        let l = (len as u32).to_be_bytes();
        self.m()[field::DATA_LEN].copy_from_slice(&l[1..]);
    }
    pub fn set_isid(&mut self, isid: [u8; 6]) {
        self.m()[field::ISID].copy_from_slice(&isid);
    }
    pub fn set_tsih(&mut self, v: u16) {
        self.m()[field::TSIH].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_itt(&mut self, v: u32) {
        self.set_u32(field::ITT, v);
    }
    pub fn set_ttt(&mut self, v: u32) {
        self.set_u32(field::TTT, v);
    }
    pub fn set_sns(&mut self, stat_sn: u32, exp_cmd_sn: u32, max_cmd_sn: u32) {
        self.set_u32(field::STAT_SN, stat_sn);
        self.set_u32(field::EXP_CMD_SN, exp_cmd_sn);
        self.set_u32(field::MAX_CMD_SN, max_cmd_sn);
    }
    pub fn set_status(&mut self, class: u8, detail: u8) {
        self.m()[field::STATUS_CLASS] = class;
        self.m()[field::STATUS_DETAIL] = detail;
    }
}

/// Login response statuses (class, detail).
pub mod status {
    pub const SUCCESS: (u8, u8) = (0x00, 0x00);
    /// The target moved temporarily: log in at TargetAddress.
    pub const MOVED_TEMPORARILY: (u8, u8) = (0x01, 0x01);
    pub const INITIATOR_ERROR: (u8, u8) = (0x02, 0x00);
    pub const NOT_FOUND: (u8, u8) = (0x02, 0x03);
    pub const MISSING_PARAMETER: (u8, u8) = (0x02, 0x07);
    pub const UNSUPPORTED_VERSION: (u8, u8) = (0x02, 0x05);
    pub const SESSION_TYPE_UNSUPPORTED: (u8, u8) = (0x02, 0x09);
    /// The target cannot serve now (no CVM is active).
    pub const SERVICE_UNAVAILABLE: (u8, u8) = (0x03, 0x01);
    pub const OUT_OF_RESOURCES: (u8, u8) = (0x03, 0x02);
}

/// Reject reasons.
pub mod reject {
    pub const COMMAND_NOT_SUPPORTED: u8 = 0x05;
    pub const PROTOCOL_ERROR: u8 = 0x04;
}

/// A response the portal sends: everything but the data segment, which the caller supplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseRepr {
    pub opcode: u8,
    pub flags: u8,
    /// Login: version-max; logout: response; reject: reason.
    pub byte2: u8,
    /// Login: version-active.
    pub byte3: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub itt: u32,
    /// Text and NOP-In: the target transfer tag.
    pub ttt: u32,
    pub stat_sn: u32,
    pub exp_cmd_sn: u32,
    pub max_cmd_sn: u32,
    pub status: (u8, u8),
}

impl ResponseRepr {
    /// A response of `opcode` with every other field zero (tags reserved).
    pub fn new(opcode: u8) -> ResponseRepr {
        ResponseRepr {
            opcode,
            flags: 0,
            byte2: 0,
            byte3: 0,
            isid: [0; 6],
            tsih: 0,
            itt: RESERVED_TAG,
            ttt: RESERVED_TAG,
            stat_sn: 0,
            exp_cmd_sn: 0,
            max_cmd_sn: 0,
            status: (0, 0),
        }
    }

    /// The PDU's length with `data` bytes of data segment (padded to 4).
    pub fn buffer_len(data: usize) -> usize {
        BHS_LEN + data.div_ceil(4) * 4
    }

    /// Writes the header and `data` (padded with zeros) at the start of `buf`, which holds at least
    /// [`ResponseRepr::buffer_len`] bytes. Returns the bytes written.
    pub fn emit(&self, data: &[u8], buf: &mut [u8]) -> usize {
        let len = Self::buffer_len(data.len());
        let out = &mut buf[..len];
        out.fill(0);
        let mut h = Bhs::new_unchecked(&mut out[..BHS_LEN]);
        h.set_opcode(self.opcode);
        h.set_flags(self.flags);
        h.set_byte2(self.byte2);
        h.set_byte3(self.byte3);
        h.set_data_len(data.len());
        match self.opcode {
            opcode::LOGIN_RESPONSE => {
                h.set_isid(self.isid);
                h.set_tsih(self.tsih);
                h.set_status(self.status.0, self.status.1);
            }
            opcode::TEXT_RESPONSE | opcode::NOP_IN => h.set_ttt(self.ttt),
            _ => {}
        }
        h.set_itt(self.itt);
        h.set_sns(self.stat_sn, self.exp_cmd_sn, self.max_cmd_sn);
        out[BHS_LEN..BHS_LEN + data.len()].copy_from_slice(data);
        len
    }
}

/// Why a data segment's text cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// A key=value pair without '='.
    NoEquals,
    /// Not UTF-8.
    NotUtf8,
    /// A key or value past its limit (RFC 7143: keys 63 bytes, values 255 unless said otherwise).
    TooLong,
    /// A key given twice.
    Repeated(String),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::NoEquals => f.write_str("a key=value pair without '='"),
            TextError::NotUtf8 => f.write_str("text that is not UTF-8"),
            TextError::TooLong => f.write_str("a key or value past its length limit"),
            TextError::Repeated(k) => write!(f, "key {k} given twice"),
        }
    }
}

/// The longest key and value the portal reads.
const MAX_KEY: usize = 63;
const MAX_VALUE: usize = 4096;

/// The key=value pairs of a text data segment (each ends with a NUL; a missing last NUL is tolerated).
pub fn parse_text(data: &[u8]) -> Result<Vec<(&str, &str)>, TextError> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for pair in data.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let s = std::str::from_utf8(pair).map_err(|_| TextError::NotUtf8)?;
        let (k, v) = s.split_once('=').ok_or(TextError::NoEquals)?;
        if k.is_empty() || k.len() > MAX_KEY || v.len() > MAX_VALUE {
            return Err(TextError::TooLong);
        }
        if out.iter().any(|(x, _)| *x == k) {
            return Err(TextError::Repeated(k.to_string()));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// The value of `key` in parsed text.
pub fn value<'a>(keys: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    keys.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Appends `key=value` and its NUL to a text segment being built.
pub fn push_key(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value.as_bytes());
    out.push(0);
}

/// A portal address as iSCSI writes it: `ip:port,tpgt`, IPv6 in brackets.
pub fn target_address(ip: std::net::IpAddr, port: u16, tpgt: u16) -> String {
    match ip {
        std::net::IpAddr::V4(a) => format!("{a}:{port},{tpgt}"),
        std::net::IpAddr::V6(a) => format!("[{a}]:{port},{tpgt}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Login Request as an initiator writes it: immediate, transit from security to operational,
    /// ISID 80:12:34:56:78:9a, ITT 0x11223344, CID 1, CmdSN 7, ExpStatSN 0, 44 bytes of text.
    const LOGIN: [u8; 48] = [
        0x43, 0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x80, 0x12, 0x34, 0x56, 0x78, 0x9a, 0x00, 0x00, 0x11, 0x22,
        0x33, 0x44, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn a_login_request_header_reads_field_by_field() {
        let h = Bhs::new_checked(&LOGIN[..]).unwrap();
        assert_eq!(h.opcode(), opcode::LOGIN_REQUEST);
        assert!(h.immediate());
        assert_eq!(h.flags() & login_flags::TRANSIT, login_flags::TRANSIT);
        assert_eq!((h.csg(), h.nsg()), (stage::SECURITY, stage::OPERATIONAL));
        assert_eq!(h.data_len(), 44);
        assert_eq!(h.pdu_len(), 48 + 44);
        assert_eq!(h.isid(), [0x80, 0x12, 0x34, 0x56, 0x78, 0x9a]);
        assert_eq!(h.itt(), 0x1122_3344);
        assert_eq!(h.cid(), 1);
        assert_eq!(h.cmd_sn(), 7);
        assert_eq!(h.exp_stat_sn(), 0);
    }

    #[test]
    fn a_short_header_is_refused_with_its_length() {
        assert_eq!(Bhs::new_checked(&LOGIN[..47]).unwrap_err(), PduError::Truncated { len: 47 });
    }

    #[test]
    fn the_data_segment_is_padded_to_four_bytes_and_additional_headers_count() {
        let mut b = LOGIN;
        b[4] = 2;
        b[7] = 45;
        assert_eq!(Bhs::new_checked(&b[..]).unwrap().pdu_len(), 48 + 8 + 48);
    }

    #[test]
    fn a_redirect_login_response_is_written_byte_for_byte() {
        let mut r = ResponseRepr::new(opcode::LOGIN_RESPONSE);
        r.isid = [0x80, 0x12, 0x34, 0x56, 0x78, 0x9a];
        r.itt = 0x1122_3344;
        r.stat_sn = 0x0a0b_0c0d;
        r.exp_cmd_sn = 7;
        r.max_cmd_sn = 7;
        r.status = status::MOVED_TEMPORARILY;
        let mut text = Vec::new();
        push_key(&mut text, "TargetAddress", "10.0.0.2:3260,1");
        let mut buf = [0xeeu8; 128];
        let n = r.emit(&text, &mut buf);
        assert_eq!(n, 48 + 32, "30 bytes of text padded to 32");
        let expected_header: [u8; 48] = [
            0x23, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 30, 0x80, 0x12, 0x34, 0x56, 0x78, 0x9a, 0x00, 0x00, 0x11, 0x22,
            0x33, 0x44, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 7, 0, 0, 0, 7, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0,
        ];
        assert_eq!(buf[..48], expected_header);
        assert_eq!(&buf[48..78], b"TargetAddress=10.0.0.2:3260,1\0");
        assert_eq!(buf[78..80], [0, 0], "padding is zero");
        let h = Bhs::new_checked(&buf[..n]).unwrap();
        assert_eq!((h.opcode(), h.status(), h.data_len()), (opcode::LOGIN_RESPONSE, (1, 1), 30));
    }

    #[test]
    fn text_keys_parse_and_refuse_what_is_malformed() {
        let t = b"InitiatorName=iqn.2026-12.org.example:c1\0SessionType=Discovery\0AuthMethod=None,CHAP\0";
        let k = parse_text(t).unwrap();
        assert_eq!(value(&k, "SessionType"), Some("Discovery"));
        assert_eq!(value(&k, "AuthMethod"), Some("None,CHAP"));
        assert_eq!(value(&k, "TargetName"), None);
        assert_eq!(parse_text(b"A=1\0B\0"), Err(TextError::NoEquals));
        assert_eq!(parse_text(b"A=1\0A=2\0"), Err(TextError::Repeated("A".into())));
        assert_eq!(parse_text(b"A=\xff\0"), Err(TextError::NotUtf8));
        let long = format!("{}=1", "K".repeat(64));
        assert_eq!(parse_text(long.as_bytes()), Err(TextError::TooLong));
        assert_eq!(parse_text(b"A=1").unwrap(), vec![("A", "1")], "a missing last NUL is tolerated");
    }

    #[test]
    fn portal_addresses_bracket_ipv6() {
        assert_eq!(target_address("10.0.0.2".parse().unwrap(), 3260, 1), "10.0.0.2:3260,1");
        assert_eq!(target_address("2001:db8::2".parse().unwrap(), 3260, 2), "[2001:db8::2]:3260,2");
    }
}
