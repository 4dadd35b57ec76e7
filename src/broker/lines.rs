//! The message that carries lines from the shipper to the workers: a batch of complete lines of
//! one shipped stream for one partition, and the headers that say what the lines are.
//!
//! Body: `RWL1`, then per line its offset in the stream (u64, little-endian), its length (u32;
//! the top bit says the line was cut at the line cap) and its bytes. Offsets are the file's own,
//! so a worker's events carry the `log.offset` a `scan` of the file writes; a partition gets a
//! subsequence of a stream's lines, so offsets are not contiguous. A stream's end is a message
//! with [`CLOSE`] set and no body, sent to every partition; its start, before anything else, a
//! message with [`OPEN`] set, also to every partition, so that every partition knows every
//! stream that may still bring events (a correlation must not move past them).
//!
//! Decoding never panics: a damaged body is an error that says where it stopped.

use super::transport::Headers;
use crate::parse::Format;
use crate::parse::detect::Framing;

/// Which stream (unique per shipped file or connection: host, source, path, device and inode).
pub const STREAM: &str = "Reconwatch-Stream";
/// The configured source's label (`tail:GLOB`, `syslog_tcp:ADDR`): metrics and correlation
/// sources.
pub const SOURCE: &str = "Reconwatch-Source";
pub const FORMAT: &str = "Reconwatch-Format";
/// `syslog` or `plain`.
pub const FRAMING: &str = "Reconwatch-Framing";
/// `log.file.path` of its events.
pub const NAME: &str = "Reconwatch-Name";
/// Unix milliseconds that date RFC 3164 lines (which carry no year): a file's modification time.
pub const REFERENCE_TIME: &str = "Reconwatch-Reference-Time";
/// Present on the message that ends a stream.
pub const CLOSE: &str = "Reconwatch-Close";
/// Present on the message that announces a stream to every partition before its first line
/// (it carries only [`STREAM`] and [`SOURCE`]: the format is not decided yet).
pub const OPEN: &str = "Reconwatch-Open";

/// The announcement of stream `stream` of source `source`.
pub fn announcement(stream: &str, source: &str) -> Headers {
    let mut h = Headers::new();
    h.insert(STREAM, stream);
    h.insert(SOURCE, source);
    h.insert(OPEN, "1");
    h
}

/// The stream an announcement announces, if `h` is one.
pub fn announced(h: &Headers) -> Option<&str> {
    h.get(OPEN)?;
    h.get(STREAM)
}

const MAGIC: &[u8; 4] = b"RWL1";
const TRUNCATED: u32 = 1 << 31;

/// What every message of a stream says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    pub stream: String,
    pub source: String,
    pub format: Format,
    pub framing: Framing,
    pub name: String,
    pub reference_ms: i64,
}

impl StreamHeader {
    /// The headers of a batch of lines; `close` for the message that ends the stream.
    pub fn headers(&self, close: bool) -> Headers {
        let mut h = Headers::new();
        h.insert(STREAM, self.stream.as_str());
        h.insert(SOURCE, self.source.as_str());
        h.insert(FORMAT, self.format.name());
        h.insert(
            FRAMING,
            match self.framing {
                Framing::Syslog => "syslog",
                Framing::None => "plain",
            },
        );
        h.insert(NAME, self.name.as_str());
        h.insert(REFERENCE_TIME, self.reference_ms.to_string());
        if close {
            h.insert(CLOSE, "1");
        }
        h
    }

    /// Reads the headers back; `Err` names the header that is missing or wrong.
    pub fn read(h: &Headers) -> Result<(StreamHeader, bool), String> {
        let get = |name: &str| {
            h.get(name)
                .map(str::to_owned)
                .ok_or_else(|| format!("header {name} missing"))
        };
        let format = get(FORMAT)?;
        let format = Format::from_name(&format).ok_or_else(|| format!("header {FORMAT}: unknown format {format}"))?;
        let framing = match get(FRAMING)?.as_str() {
            "syslog" => Framing::Syslog,
            "plain" => Framing::None,
            other => return Err(format!("header {FRAMING}: {other:?} is neither syslog nor plain")),
        };
        let reference_ms = get(REFERENCE_TIME)?
            .parse()
            .map_err(|_| format!("header {REFERENCE_TIME}: not a number"))?;
        Ok((
            StreamHeader {
                stream: get(STREAM)?,
                source: get(SOURCE)?,
                format,
                framing,
                name: get(NAME)?,
                reference_ms,
            },
            h.get(CLOSE).is_some(),
        ))
    }
}

/// Appends one line to a body being built (the magic first, when `body` is empty).
pub fn push(body: &mut Vec<u8>, offset: u64, truncated: bool, line: &[u8]) {
    if body.is_empty() {
        body.extend_from_slice(MAGIC);
    }
    // A line is at most the line cap (far below 2 GiB): the length always fits in 31 bits.
    let len = (line.len() as u32 & !TRUNCATED) | if truncated { TRUNCATED } else { 0 };
    body.extend_from_slice(&offset.to_le_bytes());
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(line);
}

/// One line of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub offset: u64,
    pub truncated: bool,
    pub bytes: &'a [u8],
}

/// The lines of a body, in order; an error (and the end) where the body is damaged.
pub fn lines(body: &[u8]) -> impl Iterator<Item = Result<Line<'_>, String>> {
    let mut rest: Option<&[u8]> = match body.strip_prefix(MAGIC) {
        Some(r) => Some(r),
        None if body.is_empty() => Some(body),
        None => None,
    };
    let mut bad_magic = rest.is_none();
    std::iter::from_fn(move || {
        if bad_magic {
            bad_magic = false;
            return Some(Err("the body does not start with RWL1".to_owned()));
        }
        let r = rest?;
        if r.is_empty() {
            rest = None;
            return None;
        }
        if r.len() < 12 {
            rest = None;
            return Some(Err(format!("{} bytes left, less than a line's header", r.len())));
        }
        let offset = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(r[8..12].try_into().expect("4 bytes"));
        let n = (len & !TRUNCATED) as usize;
        let Some(bytes) = r.get(12..12 + n) else {
            rest = None;
            return Some(Err(format!("a line at offset {offset} runs past the body's end")));
        };
        rest = Some(&r[12 + n..]);
        Some(Ok(Line {
            offset,
            truncated: len & TRUNCATED != 0,
            bytes,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_with_their_offsets() {
        let mut body = Vec::new();
        push(&mut body, 10, false, b"first");
        push(&mut body, 4096, true, b"");
        push(&mut body, 5000, false, "ünï".as_bytes());
        let got: Vec<_> = lines(&body).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                Line {
                    offset: 10,
                    truncated: false,
                    bytes: b"first"
                },
                Line {
                    offset: 4096,
                    truncated: true,
                    bytes: b""
                },
                Line {
                    offset: 5000,
                    truncated: false,
                    bytes: "ünï".as_bytes()
                },
            ]
        );
        assert_eq!(lines(b"").count(), 0);
    }

    #[test]
    fn a_damaged_body_is_an_error_not_a_panic() {
        let mut body = Vec::new();
        push(&mut body, 1, false, b"a line");
        for cut in 0..body.len() {
            let _ = lines(&body[..cut]).count();
        }
        assert!(lines(&body[..body.len() - 1]).any(|l| l.is_err()));
        assert!(lines(b"XXXXanything").next().unwrap().is_err());
    }

    #[test]
    fn headers_round_trip() {
        let h = StreamHeader {
            stream: "mx1|tail:/var/log/mail.log|/var/log/mail.log|2049:77".into(),
            source: "tail:/var/log/mail.log".into(),
            format: Format::Postfix,
            framing: Framing::Syslog,
            name: "/var/log/mail.log".into(),
            reference_ms: 1_610_000_000_000,
        };
        assert_eq!(StreamHeader::read(&h.headers(true)).unwrap(), (h.clone(), true));
        assert_eq!(StreamHeader::read(&h.headers(false)).unwrap(), (h, false));
        assert!(StreamHeader::read(&Headers::new()).unwrap_err().contains("missing"));
    }
}
