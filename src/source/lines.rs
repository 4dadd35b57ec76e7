//! Splits a byte stream into lines, reading it in fixed-size buffers.
//!
//! Lines end at `\n`; a `\r` before it is dropped. A line longer than the cap is cut at the cap,
//! handed out with `truncated` set, and the rest of it is skipped: one runaway line costs one
//! counted, shortened line, never the process or the lines after it. A last line without a
//! newline is still a line. A read error (a truncated archive, say) is returned after every
//! complete line before it has been handed out.
//!
//! A reader made with [`LineReader::following`] reads a file that is still being written (a
//! tailed log): at the end of the data it returns `None` but keeps an unfinished last line (a
//! writer may be half-way through it) and reads on from there at the next call, once more data
//! has arrived. [`LineReader::consumed`] is then the offset just after the last line handed
//! out: where a restart resumes. [`LineReader::end_of_input`] says no more will come (the file
//! was rotated away), so that an unfinished last line is handed out after all.
//!
//! [`LineReader::next_run`] hands out the complete lines of a buffer together, checked as UTF-8
//! once for the whole run instead of once per line (a buffer holds thousands of lines); a line
//! with invalid UTF-8, or cut at the cap inside a character, comes out unchecked for its reader to
//! replace and count, and the check resumes after it.

use std::io::{self, Read};

/// The default cap on line length: 64 KiB.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Read size. Large enough that per-read overhead vanishes, small enough to stay in L2.
const CHUNK: usize = 256 * 1024;

/// One line, borrowed from the reader's buffer until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLine<'b> {
    /// The line's bytes, without `\r\n` / `\n`.
    pub bytes: &'b [u8],
    /// Byte offset of the line's start in the stream.
    pub offset: u64,
    /// 1-based line number.
    pub number: u64,
    /// The line was longer than the cap and has been cut.
    pub truncated: bool,
}

/// What [`LineReader::next_run`] hands out.
pub enum Run<'b> {
    /// The complete lines of a buffer, in order.
    Lines(Lines<'b>),
    /// One line, as [`LineReader::next`] hands it out (a line without its newline yet, the head of
    /// an over-long line that did not arrive whole, the last line of the stream).
    Line(RawLine<'b>),
}

/// Complete lines of one buffer, each with its text when it is valid UTF-8 (the run is checked as
/// a whole, not line by line). The reader moves past each line as it is handed out, so a caller
/// that stops part-way leaves it where a line-by-line reader would be.
pub struct Lines<'b> {
    /// The rest of the run: complete lines, each ending with `\n`.
    rest: &'b [u8],
    /// The longest prefix of `rest` that is whole lines of valid UTF-8.
    valid: &'b str,
    cursor: Cursor<'b>,
    max_line: usize,
    bytes_read: u64,
}

/// The reader's position, which a run moves as it hands out lines.
struct Cursor<'b> {
    start: &'b mut usize,
    offset: &'b mut u64,
    number: &'b mut u64,
}

impl<'b> Lines<'b> {
    fn new(run: &'b [u8], cursor: Cursor<'b>, max_line: usize, bytes_read: u64) -> Self {
        let mut lines = Lines {
            rest: run,
            valid: "",
            cursor,
            max_line,
            bytes_read,
        };
        lines.check();
        lines
    }

    /// Decompressed bytes the reader had read when the run was handed out.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Checks `rest` as UTF-8 up to the end of the last line before any invalid byte.
    fn check(&mut self) {
        self.valid = match std::str::from_utf8(self.rest) {
            Ok(s) => s,
            Err(e) => {
                let whole = memchr::memrchr(b'\n', &self.rest[..e.valid_up_to()]).map_or(0, |i| i + 1);
                // A prefix of the valid prefix that ends at a newline: valid too.
                std::str::from_utf8(&self.rest[..whole]).unwrap_or_default()
            }
        };
    }
}

impl<'b> Iterator for Lines<'b> {
    /// A line, and its text when it is valid UTF-8 (`None`: it must be checked and replaced).
    type Item = (RawLine<'b>, Option<&'b str>);

    fn next(&mut self) -> Option<Self::Item> {
        let len = memchr::memchr(b'\n', self.rest)?;
        let line = &self.rest[..len];
        // Slicing valid text at a newline (ASCII) stays on a character boundary.
        let text = (len < self.valid.len()).then(|| &self.valid[..len]);
        self.rest = &self.rest[len + 1..];
        let offset = *self.cursor.offset;
        *self.cursor.start += len + 1;
        *self.cursor.offset += len as u64 + 1;
        *self.cursor.number += 1;
        let number = *self.cursor.number;
        let item = if len > self.max_line {
            // Cut at the cap, which may fall inside a character: then it is checked again.
            let head = &line[..self.max_line];
            let raw = RawLine {
                bytes: head,
                offset,
                number,
                truncated: true,
            };
            (raw, text.and_then(|t| t.get(..self.max_line)))
        } else {
            let bytes = line.strip_suffix(b"\r").unwrap_or(line);
            let raw = RawLine {
                bytes,
                offset,
                number,
                truncated: false,
            };
            (raw, text.map(|t| &t[..bytes.len()]))
        };
        match text {
            Some(_) => self.valid = &self.valid[len + 1..],
            // The line with the invalid byte is behind: check what follows it.
            None => self.check(),
        }
        Some(item)
    }
}

/// A lending iterator over the lines of a stream. See the module documentation.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Unconsumed data is `buf[start..end]`.
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    number: u64,
    max_line: usize,
    eof: bool,
    /// Inside an over-long line whose head was already handed out.
    skipping: bool,
    bytes_read: u64,
    /// A file still being written: the end of the data is not the end of the input.
    follow: bool,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_max_line(inner, DEFAULT_MAX_LINE)
    }

    pub fn with_max_line(inner: R, max_line: usize) -> Self {
        let max_line = max_line.max(1);
        LineReader {
            inner,
            buf: vec![0; CHUNK.max(max_line * 2)],
            start: 0,
            end: 0,
            offset: 0,
            number: 0,
            max_line,
            eof: false,
            skipping: false,
            bytes_read: 0,
            follow: false,
        }
    }

    /// A reader of a stream that may grow: see the module documentation.
    pub fn following(inner: R, max_line: usize) -> Self {
        let mut r = Self::with_max_line(inner, max_line);
        r.follow = true;
        r
    }

    /// The stream offset just after the last line handed out (or skipped): what has been fully
    /// consumed. An unfinished line waiting for its newline is not.
    pub fn consumed(&self) -> u64 {
        self.offset
    }

    /// Bytes read but not yet handed out (an unfinished last line, for a following reader).
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// No more data will come (a followed file was rotated away or the source closed): the
    /// next calls hand out an unfinished last line, then end.
    pub fn end_of_input(&mut self) {
        self.follow = false;
        self.eof = false;
    }

    /// Decompressed bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The complete lines in the buffer as one [`Run::Lines`], checked as UTF-8 together; else
    /// the next line as [`next`](LineReader::next) reads it. `None` at the end of the stream.
    pub fn next_run(&mut self) -> Option<io::Result<Run<'_>>> {
        if !self.skipping
            && let Some(last) = memchr::memrchr(b'\n', &self.buf[self.start..self.end])
        {
            let run = &self.buf[self.start..self.start + last + 1];
            let cursor = Cursor {
                start: &mut self.start,
                offset: &mut self.offset,
                number: &mut self.number,
            };
            return Some(Ok(Run::Lines(Lines::new(run, cursor, self.max_line, self.bytes_read))));
        }
        self.next().map(|line| line.map(Run::Line))
    }

    /// The next line, `None` at the end of the stream, or the read error that stopped it.
    #[allow(clippy::should_implement_trait)] // a lending iterator cannot implement Iterator
    pub fn next(&mut self) -> Option<io::Result<RawLine<'_>>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(i) = memchr::memchr(b'\n', pending) {
                let line_start = self.start;
                self.advance(i + 1);
                if self.skipping {
                    self.skipping = false;
                    continue;
                }
                if i > self.max_line {
                    // A long line that arrived whole, newline included, in one read.
                    return Some(Ok(self.emit(line_start, self.max_line, true)));
                }
                return Some(Ok(self.emit(line_start, i, false)));
            }
            if self.skipping {
                self.advance(pending.len());
            } else if pending.len() >= self.max_line {
                let line_start = self.start;
                self.advance(self.max_line);
                self.skipping = true;
                return Some(Ok(self.emit(line_start, self.max_line, true)));
            }
            if self.eof {
                if self.follow {
                    // The end of the data for now: keep any unfinished line, read on later.
                    self.eof = false;
                    return None;
                }
                if self.start == self.end {
                    return None;
                }
                let (line_start, len) = (self.start, self.end - self.start);
                self.advance(len);
                return Some(Ok(self.emit(line_start, len, false)));
            }
            if let Err(e) = self.fill() {
                let lost = self.end - self.start;
                self.start = self.end;
                self.eof = true;
                let msg = if lost > 0 && !self.skipping {
                    format!(
                        "{e} (after line {}; {lost} bytes of an unfinished line could not be read)",
                        self.number
                    )
                } else {
                    format!("{e} (after line {})", self.number)
                };
                return Some(Err(io::Error::new(e.kind(), msg)));
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Builds the line `buf[start..start + len]`, whose stream offset is `self.offset` minus
    /// what has been consumed since `start`.
    fn emit(&mut self, start: usize, len: usize, truncated: bool) -> RawLine<'_> {
        self.number += 1;
        let consumed = (self.start - start) as u64;
        let mut bytes = &self.buf[start..start + len];
        if !truncated && bytes.last() == Some(&b'\r') {
            bytes = &bytes[..bytes.len() - 1];
        }
        RawLine {
            bytes,
            offset: self.offset - consumed,
            number: self.number,
            truncated,
        }
    }

    /// Moves unconsumed bytes to the front and reads more after them.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    self.bytes_read += n as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file being appended to, as a tail sees it: each read returns what has been written.
    struct Growing {
        data: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
        at: usize,
    }

    impl Read for Growing {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let data = self.data.borrow();
            let n = (data.len() - self.at).min(out.len());
            out[..n].copy_from_slice(&data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn drain<R: Read>(r: &mut LineReader<R>) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while let Some(l) = r.next() {
            let l = l.unwrap();
            out.push((String::from_utf8_lossy(l.bytes).into_owned(), l.offset));
        }
        out
    }

    #[test]
    fn a_following_reader_waits_for_the_newline_of_a_half_written_line() {
        let data = std::rc::Rc::new(std::cell::RefCell::new(b"one\ntw".to_vec()));
        let mut r = LineReader::following(
            Growing {
                data: data.clone(),
                at: 0,
            },
            100,
        );
        assert_eq!(drain(&mut r), [("one".into(), 0)]);
        assert_eq!((r.consumed(), r.pending()), (4, 2), "`tw` waits");
        assert_eq!(drain(&mut r), [], "still no newline");
        data.borrow_mut().extend_from_slice(b"o\nthree\nfo");
        assert_eq!(drain(&mut r), [("two".into(), 4), ("three".into(), 8)]);
        assert_eq!(r.consumed(), 14);
        data.borrow_mut().extend_from_slice(b"ur");
        r.end_of_input();
        assert_eq!(drain(&mut r), [("four".into(), 14)], "handed out once no more can come");
        assert_eq!(r.next().map(|l| l.is_ok()), None);
    }

    fn collect(input: &[u8], max: usize) -> Vec<(String, u64, u64, bool)> {
        let mut r = LineReader::with_max_line(input, max);
        let mut out = Vec::new();
        while let Some(l) = r.next() {
            let l = l.unwrap();
            out.push((
                String::from_utf8_lossy(l.bytes).into_owned(),
                l.offset,
                l.number,
                l.truncated,
            ));
        }
        out
    }

    #[test]
    fn lines_offsets_and_endings() {
        let got = collect(b"ab\r\n\ncd\nlast", 100);
        assert_eq!(
            got,
            vec![
                ("ab".into(), 0, 1, false),
                ("".into(), 4, 2, false),
                ("cd".into(), 5, 3, false),
                ("last".into(), 8, 4, false)
            ]
        );
        assert!(collect(b"", 100).is_empty());
    }

    #[test]
    fn over_long_line_is_cut_and_the_next_line_survives() {
        let mut input = vec![b'x'; 10];
        input.extend_from_slice(b"\nok\n");
        let got = collect(&input, 4);
        assert_eq!(got, vec![("xxxx".into(), 0, 1, true), ("ok".into(), 11, 2, false)]);
        // Over-long last line without newline.
        let got = collect(b"ok\nyyyyyyyy", 4);
        assert_eq!(got, vec![("ok".into(), 0, 1, false), ("yyyy".into(), 3, 2, true)]);
    }

    #[test]
    fn lines_across_buffer_refills_keep_offsets() {
        // Lines of varying length spanning many CHUNK boundaries.
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for i in 0..40_000u64 {
            let line = format!("line {i} {}", "z".repeat((i % 97) as usize));
            expected.push((line.clone(), input.len() as u64));
            input.extend_from_slice(line.as_bytes());
            input.push(b'\n');
        }
        let got = collect(&input, DEFAULT_MAX_LINE);
        assert_eq!(got.len(), expected.len());
        for ((l, off, n, _), (el, eoff)) in got.iter().zip(&expected) {
            assert_eq!((l, off), (el, eoff), "line {n}");
        }
    }

    /// Reads `input` with [`LineReader::next_run`]: each line with whether its text came checked.
    fn collect_runs(input: &[u8], max: usize) -> Vec<(String, u64, u64, bool, bool)> {
        let mut r = LineReader::with_max_line(input, max);
        let mut out = Vec::new();
        let mut push = |l: RawLine<'_>, text: Option<&str>| {
            if let Some(t) = text {
                assert_eq!(t.as_bytes(), l.bytes, "the text is the line");
            }
            let valid = std::str::from_utf8(l.bytes).is_ok();
            let lossy = String::from_utf8_lossy(l.bytes).into_owned();
            out.push((lossy, l.offset, l.number, l.truncated, valid));
            text.is_some()
        };
        while let Some(run) = r.next_run() {
            match run.unwrap() {
                Run::Lines(lines) => {
                    for (l, text) in lines {
                        // A cut line is checked again when its whole was not valid.
                        let valid = std::str::from_utf8(l.bytes).is_ok() && !l.truncated;
                        assert!(push(l, text) || !valid, "a run checks every valid line");
                    }
                }
                Run::Line(l) => {
                    push(l, None);
                }
            }
        }
        out
    }

    /// A run hands out what line-by-line reading does, whatever the bytes: invalid UTF-8 at any
    /// place, characters cut by the cap, `\r\n`, long lines, a last line without newline.
    #[test]
    fn runs_hand_out_the_lines_that_next_does() {
        let pieces: [&[u8]; 9] = [
            b"plain ascii",
            "caf\u{e9} \u{1F600}".as_bytes(),
            b"bad \xff byte",
            b"cut \xe2\x82",
            b"\r",
            b"",
            b"\xc3",
            &[b'x'; 40],
            "\u{20AC}\u{20AC}\u{20AC}\u{20AC}".as_bytes(),
        ];
        // A small deterministic generator: many mixes, over several buffer refills.
        let mut seed: u64 = 7;
        let mut input = Vec::new();
        for _ in 0..60_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            input.extend_from_slice(pieces[(seed >> 33) as usize % pieces.len()]);
            if (seed >> 20).is_multiple_of(3) {
                input.push(b'\n');
            }
        }
        for max in [7, 13, 64, DEFAULT_MAX_LINE] {
            for input in [&input[..], &input[..input.len() - 1], b"a\xffb\nc\n\xe2\x82\xac\n"] {
                let lines: Vec<_> = collect(input, max);
                let runs = collect_runs(input, max);
                assert_eq!(runs.len(), lines.len(), "max {max}");
                for (run, line) in runs.iter().zip(&lines) {
                    assert_eq!((&run.0, run.1, run.2, run.3), (&line.0, line.1, line.2, line.3));
                }
            }
        }
    }

    /// A reader that returns data, then an error, like a truncated gzip member.
    struct Broken<'a>(&'a [u8]);
    impl Read for Broken<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "corrupt deflate stream"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_error_comes_after_the_complete_lines() {
        let mut r = LineReader::new(Broken(b"one\ntwo\nthr"));
        assert_eq!(r.next().unwrap().unwrap().bytes, b"one");
        assert_eq!(r.next().unwrap().unwrap().bytes, b"two");
        let err = r.next().unwrap().unwrap_err();
        assert!(err.to_string().contains("after line 2; 3 bytes"), "{err}");
        assert!(r.next().is_none());
    }
}
