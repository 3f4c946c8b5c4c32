//! NFSv3 call keys: the file handle (and offset region) of an ONC RPC call (RFC 5531) to NFS version 3
//! (RFC 1813), parsed from a UDP payload without copying or allocating.
//!
//! GETATTR keys on the file handle; READ, WRITE and COMMIT on the file handle and `offset >> region_shift`,
//! so one file's regions spread over nodes while each region stays on one node.

/// NFS program number.
pub const NFS_PROGRAM: u32 = 100_003;
/// RFC 1813 NFS3_FHSIZE: the longest NFSv3 file handle.
pub const FHSIZE: usize = 64;
/// Longest key: a file handle and an 8-byte region number.
pub const KEY_MAX: usize = FHSIZE + 8;
/// RFC 5531: opaque authentication bodies are at most 400 bytes.
const AUTH_MAX: usize = 400;

pub mod proc3 {
    pub const GETATTR: u32 = 1;
    pub const READ: u32 = 6;
    pub const WRITE: u32 = 7;
    pub const COMMIT: u32 = 21;
}

/// Why a payload gave no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nfs3Error {
    /// The payload ends inside the header or arguments.
    Truncated,
    /// Not an RPC version 2 CALL.
    NotCall,
    /// A call to another program or version.
    NotNfs3,
    /// A procedure without a key (only GETATTR, READ, WRITE and COMMIT have one).
    Procedure(u32),
    /// A credential or verifier body longer than 400 bytes.
    BadAuth,
    /// A file handle longer than NFS3_FHSIZE (or empty).
    BadHandle(usize),
}

struct Xdr<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Xdr<'a> {
    fn u32(&mut self) -> Result<u32, Nfs3Error> {
        let w = self.b.get(self.at..self.at + 4).ok_or(Nfs3Error::Truncated)?;
        self.at += 4;
        Ok(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    }

    fn u64(&mut self) -> Result<u64, Nfs3Error> {
        Ok((self.u32()? as u64) << 32 | self.u32()? as u64)
    }

    /// Variable-length opaque data of at most `max` bytes (padded to 4 on the wire).
    fn opaque(&mut self, max: usize, too_long: fn(usize) -> Nfs3Error) -> Result<&'a [u8], Nfs3Error> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(too_long(n));
        }
        let body = self.b.get(self.at..self.at + n).ok_or(Nfs3Error::Truncated)?;
        self.at += (n + 3) & !3;
        if self.at > self.b.len() {
            return Err(Nfs3Error::Truncated);
        }
        Ok(body)
    }

    fn auth(&mut self) -> Result<(), Nfs3Error> {
        self.u32()?; // flavor
        self.opaque(AUTH_MAX, |_| Nfs3Error::BadAuth).map(|_| ())
    }
}

/// Writes the key of the NFSv3 call in `payload` into `out` and returns its length.
pub fn call_key(payload: &[u8], region_shift: u32, out: &mut [u8; KEY_MAX]) -> Result<usize, Nfs3Error> {
    let mut x = Xdr { b: payload, at: 0 };
    x.u32()?; // xid
    if x.u32()? != 0 || x.u32()? != 2 {
        return Err(Nfs3Error::NotCall);
    }
    if x.u32()? != NFS_PROGRAM || x.u32()? != 3 {
        return Err(Nfs3Error::NotNfs3);
    }
    let proc_ = x.u32()?;
    x.auth()?; // credential
    x.auth()?; // verifier
    if !matches!(proc_, proc3::GETATTR | proc3::READ | proc3::WRITE | proc3::COMMIT) {
        return Err(Nfs3Error::Procedure(proc_));
    }
    let fh = x.opaque(FHSIZE, Nfs3Error::BadHandle)?;
    if fh.is_empty() {
        return Err(Nfs3Error::BadHandle(0));
    }
    out[..fh.len()].copy_from_slice(fh);
    if proc_ == proc3::GETATTR {
        return Ok(fh.len());
    }
    let region = x.u64()? >> region_shift;
    // The rest of the fixed arguments must be there too: count (READ, WRITE, COMMIT) and stable (WRITE).
    x.u32()?;
    if proc_ == proc3::WRITE {
        x.u32()?;
    }
    out[fh.len()..fh.len() + 8].copy_from_slice(&region.to_be_bytes());
    Ok(fh.len() + 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A READ call as a Linux client sends it: AUTH_UNIX credential, 28-byte handle, offset 3 MiB + 5.
    fn read_call(fh_len: usize, offset: u64) -> Vec<u8> {
        let mut v = Vec::new();
        let w = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_be_bytes());
        w(&mut v, 0x1234_5678); // xid
        w(&mut v, 0); // CALL
        w(&mut v, 2); // RPC version
        w(&mut v, NFS_PROGRAM);
        w(&mut v, 3);
        w(&mut v, proc3::READ);
        w(&mut v, 1); // AUTH_UNIX
        let cred = [0u8, 0, 0, 1, 0, 0, 0, 4, b'h', b'o', b's', b't', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        w(&mut v, cred.len() as u32);
        v.extend_from_slice(&cred);
        w(&mut v, 0); // AUTH_NONE verifier
        w(&mut v, 0);
        w(&mut v, fh_len as u32);
        v.extend((0..fh_len).map(|i| i as u8));
        v.resize((v.len() + 3) & !3, 0);
        v.extend_from_slice(&offset.to_be_bytes());
        w(&mut v, 4096);
        v
    }

    #[test]
    fn read_key_is_handle_and_region() {
        let mut k = [0u8; KEY_MAX];
        let n = call_key(&read_call(28, (3 << 20) + 5), 20, &mut k).unwrap();
        assert_eq!(n, 36);
        assert_eq!(k[..28], (0..28u8).collect::<Vec<_>>()[..]);
        assert_eq!(k[28..36], 3u64.to_be_bytes());
    }

    #[test]
    fn every_truncation_and_long_handles_are_refused() {
        let call = read_call(30, 1);
        let mut k = [0u8; KEY_MAX];
        for len in 0..call.len() {
            assert!(call_key(&call[..len], 20, &mut k).is_err(), "len {len}");
        }
        assert_eq!(call_key(&read_call(65, 1), 20, &mut k), Err(Nfs3Error::BadHandle(65)));
        assert!(call_key(&read_call(64, 1), 20, &mut k).is_ok());
        let mut reply = read_call(8, 0);
        reply[7] = 1;
        assert_eq!(call_key(&reply, 20, &mut k), Err(Nfs3Error::NotCall));
    }
}
