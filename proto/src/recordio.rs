//! RecordIO framing, as the Mesos v1 streaming APIs use it: each record is its
//! byte length in decimal, a newline, then exactly that many bytes.

use bytes::{Buf, Bytes, BytesMut};

/// Frames one record.
pub fn encode(record: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(record.len() + 12);
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.extend_from_slice(b"\n");
    out.extend_from_slice(record);
    out.freeze()
}

/// Why a stream could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The length prefix was not a decimal number.
    #[error("invalid record length prefix {0:?}")]
    BadLength(String),
    /// A record announced a length above the decoder's limit.
    #[error("record of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

/// Incremental decoder: feed it chunks as they arrive, take whole records out.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    max_record: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(64 * 1024 * 1024)
    }
}

impl Decoder {
    /// A decoder that refuses records larger than `max_record` bytes.
    pub fn new(max_record: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_record,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole record, if one has fully arrived.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, Error> {
        let Some(nl) = self.buf.iter().position(|b| *b == b'\n') else {
            if self.buf.len() > 20 {
                return Err(Error::BadLength(
                    String::from_utf8_lossy(&self.buf[..20]).into(),
                ));
            }
            return Ok(None);
        };
        let text = std::str::from_utf8(&self.buf[..nl]).unwrap_or("");
        let len: usize = text
            .trim()
            .parse()
            .map_err(|_| Error::BadLength(String::from_utf8_lossy(&self.buf[..nl]).into()))?;
        if len > self.max_record {
            return Err(Error::TooLarge(len));
        }
        if self.buf.len() < nl + 1 + len {
            return Ok(None);
        }
        self.buf.advance(nl + 1);
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_arbitrary_chunking() {
        let mut wire = Vec::new();
        for r in [&b"{\"a\":1}"[..], b"", b"hello\nworld"] {
            wire.extend_from_slice(&encode(r));
        }
        for split in 1..wire.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(split) {
                d.feed(chunk);
                while let Some(r) = d.next_record().unwrap() {
                    got.push(r);
                }
            }
            assert_eq!(got, vec![&b"{\"a\":1}"[..], b"", b"hello\nworld"]);
        }
    }

    #[test]
    fn garbage_prefix_is_an_error() {
        let mut d = Decoder::default();
        d.feed(b"abc\n{}");
        assert!(matches!(d.next_record(), Err(Error::BadLength(_))));
    }
}
