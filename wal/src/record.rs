//! Record framing: encoding `walpb.Record`s into length-prefixed, 8-byte aligned frames with a
//! running CRC-32C, and decoding them back one segment file at a time, telling a torn tail
//! (repairable) from corruption (an error).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use proto::walpb::Record;
use proto::Message as _;

use crate::error::{Error, Result};

/// Size of the little-endian length word in front of every record.
pub const FRAME_LEN_BYTES: u64 = 8;

/// Sector size used to recognise torn writes (etcd `minSectorSize`).
pub const MIN_SECTOR_SIZE: u64 = 512;

/// WAL record types (etcd `wal.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum RecordType {
    /// Opaque metadata written at the head of every segment.
    Metadata = 1,
    /// A marshalled raft `Entry`.
    Entry = 2,
    /// A marshalled raft `HardState`.
    State = 3,
    /// The running CRC at the start of a segment.
    Crc = 4,
    /// A marshalled `walpb.Snapshot` marker.
    Snapshot = 5,
}

impl RecordType {
    /// Maps the on-disk number back to a type.
    pub fn from_i64(t: i64) -> Option<Self> {
        Some(match t {
            1 => Self::Metadata,
            2 => Self::Entry,
            3 => Self::State,
            4 => Self::Crc,
            5 => Self::Snapshot,
            _ => return None,
        })
    }
}

/// The length word for a record of `len` bytes and the padding that follows it: low 56 bits
/// are the length, and when padding is needed the top byte is `0x80 | pad`.
pub fn encode_frame_size(len: u64) -> (u64, u64) {
    let pad = (8 - len % 8) % 8;
    let mut word = len;
    if pad != 0 {
        word |= (0x80 | pad) << 56;
    }
    (word, pad)
}

/// Inverse of [`encode_frame_size`]: `(record bytes, padding bytes)`.
pub fn decode_frame_size(word: u64) -> (u64, u64) {
    let len = word & 0x00ff_ffff_ffff_ffff;
    let pad = if word >> 63 == 1 { (word >> 56) & 0x7 } else { 0 };
    (len, pad)
}

/// Appends one framed record to `buf`, advancing the running `crc` over `data` (except for
/// `Crc` records, which carry `crc` itself).
pub fn encode_record(buf: &mut Vec<u8>, crc: &mut u32, rtype: RecordType, data: Option<Vec<u8>>) {
    if let Some(d) = &data {
        *crc = crc32c::crc32c_append(*crc, d);
    }
    let rec = Record {
        r#type: rtype as i64,
        crc: *crc,
        data,
    };
    let len = rec.encoded_len() as u64;
    let (word, pad) = encode_frame_size(len);
    buf.reserve((FRAME_LEN_BYTES + len + pad) as usize);
    buf.extend_from_slice(&word.to_le_bytes());
    rec.encode_raw(buf);
    buf.resize(buf.len() + pad as usize, 0);
}

/// What [`SegmentDecoder::next`] found.
#[derive(Debug)]
pub enum Decoded {
    /// A whole, CRC-checked record; `offset` is where its frame starts.
    Record {
        /// The record.
        rec: Record,
        /// File offset of the length word.
        offset: u64,
    },
    /// Clean end of the segment: end of file or a zero length word (preallocated space).
    End,
    /// A torn write at `offset` in the last segment: everything from there on is discarded.
    Torn {
        /// File offset of the torn frame.
        offset: u64,
        /// What was torn (for the log).
        reason: String,
    },
}

/// Reads frames from one segment file.
///
/// `last` marks the newest segment: only there is a damaged tail treated as a torn write
/// (etcd accepts `ErrUnexpectedEOF` and torn sectors only in the last file). Everywhere else
/// the same damage is an [`Error`].
pub struct SegmentDecoder {
    path: PathBuf,
    reader: BufReader<File>,
    size: u64,
    off: u64,
    last: bool,
}

impl SegmentDecoder {
    /// Starts reading `file` (positioned at 0) at offset 0.
    pub fn new(path: &Path, file: File, last: bool) -> Result<Self> {
        let size = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        Ok(Self {
            path: path.to_owned(),
            reader: BufReader::with_capacity(128 * 1024, file),
            size,
            off: 0,
            last,
        })
    }

    /// Offset just past the last whole record returned.
    pub fn offset(&self) -> u64 {
        self.off
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.reader
            .read_exact(buf)
            .map_err(|e| Error::io("read", &self.path, e))
    }

    /// A damaged tail: torn in the last file, corruption anywhere else.
    fn torn_or_corrupt(&self, reason: String) -> Result<Decoded> {
        if self.last {
            Ok(Decoded::Torn {
                offset: self.off,
                reason,
            })
        } else {
            Err(self.corrupt(reason))
        }
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            offset: self.off,
            reason,
        }
    }

    /// etcd `isTornEntry`: in the last file, a record whose body has an all-zero 512-byte
    /// sector chunk was never completely written.
    fn is_torn(&self, body: &[u8]) -> bool {
        if !self.last {
            return false;
        }
        let mut file_off = self.off + FRAME_LEN_BYTES;
        let mut rest = body;
        while !rest.is_empty() {
            let chunk = ((MIN_SECTOR_SIZE - file_off % MIN_SECTOR_SIZE) as usize).min(rest.len());
            let (sect, tail) = rest.split_at(chunk);
            if sect.iter().all(|b| *b == 0) {
                return true;
            }
            file_off += chunk as u64;
            rest = tail;
        }
        false
    }

    /// After a zero length word in a segment that is not the last, the rest must be zeros
    /// (preallocated space); anything else would be silently skipped data.
    fn check_rest_zero(&mut self) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = self.off + FRAME_LEN_BYTES;
        loop {
            let n = self
                .reader
                .read(&mut buf)
                .map_err(|e| Error::io("read", &self.path, e))?;
            if n == 0 {
                return Ok(());
            }
            if let Some(i) = buf[..n].iter().position(|b| *b != 0) {
                return Err(self.corrupt(format!(
                    "zero length word followed by non-zero data at offset {} in a segment that is not the last",
                    pos + i as u64
                )));
            }
            pos += n as u64;
        }
    }

    /// Decodes the next frame. `crc` is the running CRC, updated for every non-`Crc` record.
    pub fn next(&mut self, crc: &mut u32) -> Result<Decoded> {
        let remaining = self.size - self.off;
        if remaining == 0 {
            return Ok(Decoded::End);
        }
        if remaining < FRAME_LEN_BYTES {
            return self.torn_or_corrupt(format!("partial length word ({remaining} bytes)"));
        }
        let mut word = [0u8; 8];
        self.read_exact(&mut word)?;
        let word = u64::from_le_bytes(word);
        if word == 0 {
            if !self.last {
                self.check_rest_zero()?;
            }
            return Ok(Decoded::End);
        }
        let (len, pad) = decode_frame_size(word);
        let avail = remaining - FRAME_LEN_BYTES;
        if len.saturating_add(pad) > avail {
            return self.torn_or_corrupt(format!(
                "record length {len} + padding {pad} runs past end of file ({avail} bytes left)"
            ));
        }
        let mut body = vec![0u8; (len + pad) as usize];
        self.read_exact(&mut body)?;
        let rec = match Record::decode(&body[..len as usize]) {
            Ok(rec) => rec,
            Err(e) => {
                if self.is_torn(&body) {
                    return self.torn_or_corrupt(format!("torn record (zeroed sector): {e}"));
                }
                return Err(self.corrupt(format!("undecodable record: {e}")));
            }
        };
        if rec.r#type != RecordType::Crc as i64 {
            let computed = crc32c::crc32c_append(*crc, rec.data.as_deref().unwrap_or_default());
            if computed != rec.crc {
                if self.is_torn(&body) {
                    return self.torn_or_corrupt("torn record (zeroed sector, crc mismatch)".into());
                }
                return Err(Error::CrcMismatch {
                    path: self.path.clone(),
                    offset: self.off,
                    stored: rec.crc,
                    computed,
                });
            }
            *crc = computed;
        }
        let offset = self.off;
        self.off += FRAME_LEN_BYTES + len + pad;
        Ok(Decoded::Record { rec, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_size_matches_etcd() {
        // etcd encoder_test/decoder_test: padding is signalled in the top byte.
        assert_eq!(encode_frame_size(0), (0, 0));
        assert_eq!(encode_frame_size(8), (8, 0));
        assert_eq!(encode_frame_size(5), (0x83u64 << 56 | 5, 3));
        assert_eq!(encode_frame_size(13), (0x83u64 << 56 | 13, 3));
        assert_eq!(encode_frame_size(15), (0x81u64 << 56 | 15, 1));
        for len in 0..64u64 {
            let (word, pad) = encode_frame_size(len);
            assert_eq!((len + pad) % 8, 0);
            assert_eq!(decode_frame_size(word), (len, pad));
        }
    }

    #[test]
    fn crc_record_frame_is_byte_exact() {
        // Crc{crc=0}: fields type=4, crc=0, no data -> 08 04 10 00, 4 bytes, 4 bytes padding.
        let mut buf = Vec::new();
        let mut crc = 0;
        encode_record(&mut buf, &mut crc, RecordType::Crc, None);
        assert_eq!(
            buf,
            [
                0x04, 0, 0, 0, 0, 0, 0, 0x84, // length 4, top byte 0x80|4
                0x08, 0x04, 0x10, 0x00, // type=4, crc=0
                0, 0, 0, 0, // padding
            ]
        );
    }

    #[test]
    fn metadata_record_frame_is_byte_exact() {
        let mut buf = Vec::new();
        let mut crc = 0;
        encode_record(&mut buf, &mut crc, RecordType::Metadata, Some(b"abc".to_vec()));
        let want_crc = crc32c::crc32c(b"abc");
        assert_eq!(crc, want_crc);
        // type=1 (2 bytes) + crc varint (1 + n) + data (1 + 1 + 3)
        let mut crc_varint = Vec::new();
        let mut v = want_crc;
        while v >= 0x80 {
            crc_varint.push((v as u8) | 0x80);
            v >>= 7;
        }
        crc_varint.push(v as u8);
        let mut body = vec![0x08, 0x01, 0x10];
        body.extend_from_slice(&crc_varint);
        body.extend_from_slice(&[0x1a, 0x03, b'a', b'b', b'c']);
        let len = body.len() as u64;
        let pad = (8 - len % 8) % 8;
        let mut want = Vec::new();
        let word = if pad == 0 { len } else { len | ((0x80 | pad) << 56) };
        want.extend_from_slice(&word.to_le_bytes());
        want.extend_from_slice(&body);
        want.resize(want.len() + pad as usize, 0);
        assert_eq!(buf, want);
        assert_eq!(buf.len() % 8, 0);
    }

    #[test]
    fn known_crc32c_vector() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
        // Chaining equals one pass, as Go's crc32.Update does.
        let a = crc32c::crc32c(b"hello ");
        assert_eq!(crc32c::crc32c_append(a, b"world"), crc32c::crc32c(b"hello world"));
    }

    #[test]
    fn etcd_record_test_vector() {
        // etcd server/storage/wal/record_test.go: infoData / infoRecord, an unpadded frame
        // from before padding existed (readers must still accept it).
        let info_data = b"\x08\xef\xfd\x02";
        let mut frame = b"\x0e\x00\x00\x00\x00\x00\x00\x00\x08\x01\x10\x99\xb5\xe4\xd0\x03\x1a\x04".to_vec();
        frame.extend_from_slice(info_data);
        let (_d, mut dec) = decoder_over(&frame, false);
        let mut crc = 0;
        match dec.next(&mut crc).expect("decode") {
            Decoded::Record { rec, offset: 0 } => {
                assert_eq!(rec.r#type, RecordType::Metadata as i64);
                assert_eq!(rec.data.as_deref(), Some(&info_data[..]));
                assert_eq!(rec.crc, 0x3a19_1a99);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(dec.next(&mut crc), Ok(Decoded::End)));
        // Our encoder produces the same record body, padded to 8 bytes.
        let mut buf = Vec::new();
        let mut crc = 0;
        encode_record(&mut buf, &mut crc, RecordType::Metadata, Some(info_data.to_vec()));
        assert_eq!(&buf[..8], &(0x82u64 << 56 | 14).to_le_bytes());
        assert_eq!(&buf[8..22], &frame[8..]);
        assert_eq!(&buf[22..], &[0, 0]);
    }

    fn decoder_over(bytes: &[u8], last: bool) -> (tempfile::TempDir, SegmentDecoder) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("seg.wal");
        std::fs::write(&p, bytes).expect("write");
        let f = File::open(&p).expect("open");
        let d = SegmentDecoder::new(&p, f, last).expect("decoder");
        (dir, d)
    }

    #[test]
    fn decode_round_trip_and_zero_word_ends() {
        let mut buf = Vec::new();
        let mut crc = 0;
        encode_record(&mut buf, &mut crc, RecordType::Crc, None);
        encode_record(&mut buf, &mut crc, RecordType::Metadata, Some(b"m".to_vec()));
        encode_record(&mut buf, &mut crc, RecordType::Entry, Some(vec![1; 600]));
        buf.resize(buf.len() + 4096, 0);
        let (_d, mut dec) = decoder_over(&buf, false);
        let mut rcrc = 0;
        let mut types = Vec::new();
        while let Decoded::Record { rec, .. } = dec.next(&mut rcrc).expect("decode") {
            types.push(rec.r#type);
        }
        assert_eq!(types, vec![4, 1, 2]);
        assert_eq!(rcrc, crc);
    }

    #[test]
    fn garbage_after_zero_word_in_middle_segment_is_an_error() {
        let mut buf = Vec::new();
        let mut crc = 0;
        encode_record(&mut buf, &mut crc, RecordType::Metadata, Some(b"m".to_vec()));
        buf.extend_from_slice(&[0u8; 8]);
        buf.extend_from_slice(&[0u8, 0, 9]);
        let bad_at = buf.len() - 1;
        let (_d, mut dec) = decoder_over(&buf, false);
        let mut rcrc = 0;
        assert!(matches!(dec.next(&mut rcrc), Ok(Decoded::Record { .. })));
        let err = dec.next(&mut rcrc).expect_err("must fail");
        let want = format!("non-zero data at offset {bad_at}");
        assert!(err.to_string().contains(&want), "{err}");
    }

    #[test]
    fn partial_word_is_torn_only_in_last_segment() {
        let buf = [1u8, 2, 3];
        let (_d, mut dec) = decoder_over(&buf, true);
        assert!(matches!(dec.next(&mut 0), Ok(Decoded::Torn { offset: 0, .. })));
        let (_d, mut dec) = decoder_over(&buf, false);
        let err = dec.next(&mut 0).expect_err("must fail");
        assert!(matches!(err, Error::Corrupt { offset: 0, .. }), "{err}");
    }
}
