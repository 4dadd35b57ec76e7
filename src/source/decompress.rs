//! Recognises compressed streams by their magic bytes and wraps them in a decoder.
//!
//! gzip (`1f 8b`) and bzip2 (`BZh`) streams may be concatenations of members, as `cat a.gz b.gz`
//! and parallel compressors write them; all members are read. zstd frames (`28 b5 2f fd`) are read
//! in sequence too. Anything else is passed through untouched.

use std::io::{self, Cursor, Read};

/// The compression an input was found to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
}

impl Compression {
    /// Identifies a stream from its first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b'B', b'Z', b'h', b'1'..=b'9', ..] => Compression::Bzip2,
            _ => Compression::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// Reads the first bytes of `reader`, picks the decoder, and returns a reader of the decompressed
/// stream (the sniffed bytes are put back in front).
pub fn wrap(mut reader: Box<dyn Read + Send>) -> io::Result<(Compression, Box<dyn Read + Send>)> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let compression = Compression::sniff(&head[..n]);
    let whole = Cursor::new(head[..n].to_vec()).chain(reader);
    let out: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(whole)),
    };
    Ok((compression, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"line one\nline two\n";

    fn round_trip(compressed: Vec<u8>, expected: Compression) {
        let (c, mut r) = wrap(Box::new(Cursor::new(compressed))).unwrap();
        assert_eq!(c, expected);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, TEXT);
    }

    #[test]
    fn each_compression_by_magic() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(TEXT).unwrap();
        round_trip(gz.finish().unwrap(), Compression::Gzip);

        round_trip(zstd::encode_all(TEXT, 1).unwrap(), Compression::Zstd);

        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(TEXT).unwrap();
        round_trip(bz.finish().unwrap(), Compression::Bzip2);

        round_trip(TEXT.to_vec(), Compression::None);
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let member = |s: &[u8]| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(s).unwrap();
            gz.finish().unwrap()
        };
        let mut both = member(b"line one\n");
        both.extend(member(b"line two\n"));
        round_trip(both, Compression::Gzip);
    }

    #[test]
    fn short_and_empty_inputs_pass_through() {
        for input in [&b""[..], b"a", b"\x1f"] {
            let (c, mut r) = wrap(Box::new(Cursor::new(input.to_vec()))).unwrap();
            assert_eq!(c, Compression::None);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, input);
        }
    }
}
