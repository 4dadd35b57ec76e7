//! Bytes in: the inputs named on the command line (files, directories, globs, stdin), opened and
//! decompressed, then split into lines.
//!
//! - [`expand`] turns the user's arguments into a list of [`Input`]s (directories recursively,
//!   globs expanded, both sorted so runs are repeatable).
//! - [`Input::open`] opens one, recognising gzip, zstd and bzip2 by their magic bytes, never by
//!   name.
//! - [`LineReader`] splits the decompressed stream into lines in fixed-size buffers.
//!
//! - For the daemon: [`feed`] is the contract between live sources and detection (streams of
//!   line batches through one bounded queue), [`checkpoint`] the per-file resume points.
//! - [`listen`]: the syslog listeners (UDP, TCP and TLS sockets to line streams: octet
//!   counting or a message per line, kernel drops counted, backpressure onto the sender).
//! - [`tail`] follows the files of a glob through rotation and truncation into that feed.
//!
//! Nothing here reads a whole file into memory, and nothing here knows about log formats.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

pub mod checkpoint;
mod decompress;
pub mod feed;
mod lines;
pub mod listen;
pub mod tail;

pub use decompress::Compression;
pub use lines::{DEFAULT_MAX_LINE, LineReader, Lines, RawLine, Run};

/// What a path is when it is not a regular file, for messages ("a FIFO", "a directory").
pub fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// An input failed to open or read. Every variant names the input.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Found while expanding the arguments (a path that does not exist, a glob that matches
    /// nothing, a directory that cannot be listed); reported when the input's turn comes.
    #[error("{path}: {reason}")]
    Unavailable { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// One input: a file or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The name reported in `log.file.path`, stats and errors: the path as found, or `-`.
    pub name: String,
    /// `None` for standard input.
    pub path: Option<PathBuf>,
    /// Why this argument yields nothing to read, found while expanding it. Kept in its place
    /// among the inputs so that it is reported in order and the others are still read.
    pub unavailable: Option<String>,
}

impl Input {
    pub fn stdin() -> Self {
        Input {
            name: "-".to_owned(),
            path: None,
            unavailable: None,
        }
    }

    pub fn file(path: PathBuf) -> Self {
        Input {
            name: path.display().to_string(),
            path: Some(path),
            unavailable: None,
        }
    }

    /// An argument that cannot be read, and why (without the name).
    pub fn unavailable(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Input {
            name: name.into(),
            path: None,
            unavailable: Some(reason.into()),
        }
    }

    /// True for a path to a regular file (following links): one that can be read twice, or
    /// read in pieces. Pipes, FIFOs, sockets, character devices (`/dev/stdin`, `<(cmd)`) and
    /// standard input can be read once only.
    pub fn is_regular_file(&self) -> bool {
        self.unavailable.is_none()
            && self
                .path
                .as_ref()
                .is_some_and(|p| p.metadata().is_ok_and(|m| m.is_file()))
    }

    /// Opens the input and wraps it in the decompressor its first bytes call for.
    pub fn open(&self) -> Result<Opened, SourceError> {
        if let Some(reason) = &self.unavailable {
            return Err(SourceError::Unavailable {
                path: self.name.clone(),
                reason: reason.clone(),
            });
        }
        let io_err = |source| SourceError::Io {
            path: self.name.clone(),
            source,
        };
        let (reader, modified): (Box<dyn Read + Send>, Option<Timestamp>) = match &self.path {
            None => (Box::new(io::stdin()), None),
            Some(p) => {
                let file = File::open(p).map_err(io_err)?;
                let modified = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| Timestamp::try_from(t).ok());
                (Box::new(file), modified)
            }
        };
        let (compression, reader) = decompress::wrap(reader).map_err(io_err)?;
        Ok(Opened {
            reader,
            compression,
            modified,
        })
    }
}

/// An opened input.
pub struct Opened {
    /// The decompressed bytes.
    pub reader: Box<dyn Read + Send>,
    pub compression: Compression,
    /// The file's modification time (used as the reference for RFC 3164 years).
    pub modified: Option<Timestamp>,
}

/// Expands command-line arguments into inputs: `-` is stdin, a directory is every regular file
/// below it (recursively, sorted, skipping hidden entries whose names start with `.`), an
/// existing file is itself, and anything else is tried as a glob pattern.
///
/// Never fails as a whole: an argument that does not exist, a glob that matches nothing, or a
/// directory that cannot be listed becomes an [`Input::unavailable`] in its place, so one bad
/// path is reported (when its turn comes) and every other input is still read.
pub fn expand(args: &[String]) -> Vec<Input> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            out.push(Input::stdin());
            continue;
        }
        let path = Path::new(arg);
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut out),
            Ok(_) => out.push(Input::file(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound && arg.contains(['*', '?', '[']) => {
                expand_glob(arg, &mut out)
            }
            Err(e) => out.push(Input::unavailable(arg.as_str(), os_reason(&e))),
        }
    }
    out
}

/// An I/O error's text for a message that already names the path (`No such file or
/// directory`, without the ` (os error 2)` suffix Rust adds).
fn os_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn expand_glob(pattern: &str, out: &mut Vec<Input>) {
    let paths = match glob::glob(pattern) {
        Ok(paths) => paths,
        Err(e) => {
            out.push(Input::unavailable(pattern, format!("invalid glob pattern: {}", e.msg)));
            return;
        }
    };
    let before = out.len();
    for entry in paths {
        match entry {
            Ok(path) if path.is_dir() => walk(&path, out),
            Ok(path) => out.push(Input::file(path)),
            Err(e) => out.push(Input::unavailable(e.path().display().to_string(), os_reason(e.error()))),
        }
    }
    if out.len() == before {
        out.push(Input::unavailable(pattern, "the pattern matches no file"));
    }
}

fn walk(dir: &Path, out: &mut Vec<Input>) {
    let unreadable = |path: &Path, e: &io::Error| Input::unavailable(path.display().to_string(), os_reason(e));
    let mut entries = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(list) => {
            for entry in list {
                match entry {
                    Ok(entry) => entries.push(entry),
                    Err(e) => out.push(unreadable(dir, &e)),
                }
            }
        }
        Err(e) => return out.push(unreadable(dir, &e)),
    }
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        // Hidden entries (`.world/`, editor swap files, `.git`) are not logs; name a hidden
        // file explicitly to read it.
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => walk(&path, out),
            // FIFOs, sockets and devices inside a directory are not log files (a FIFO would
            // block the walk's reader); links are followed to files only, so no cycle is walked.
            Ok(kind) if kind.is_file() => out.push(Input::file(path)),
            Ok(kind) if kind.is_symlink() => match path.metadata() {
                Ok(m) if m.is_file() => out.push(Input::file(path)),
                Ok(_) => {}
                // A dangling link names a log that is not there.
                Err(e) => out.push(unreadable(&path, &e)),
            },
            Ok(_) => {}
            Err(e) => out.push(unreadable(&path, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_dirs_recursively_sorted_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("b/c")).unwrap();
        std::fs::create_dir_all(d.join(".hidden")).unwrap();
        for f in ["a.log", "b/z.log", "b/c/y.log.gz", "b/x.txt", ".hidden/h.log", "b/.swp"] {
            std::fs::write(d.join(f), "x\n").unwrap();
        }
        let names = |inputs: Vec<Input>| -> Vec<String> {
            inputs
                .iter()
                .map(|i| i.path.as_ref().unwrap().strip_prefix(d).unwrap().display().to_string())
                .collect()
        };
        let all = expand(&[d.display().to_string()]);
        assert_eq!(names(all), ["a.log", "b/c/y.log.gz", "b/x.txt", "b/z.log"]);
        let globbed = expand(&[format!("{}/b/*.log", d.display())]);
        assert_eq!(names(globbed), ["b/z.log"]);
        assert_eq!(expand(&["-".to_owned()]), vec![Input::stdin()]);
    }

    #[test]
    fn a_bad_argument_takes_its_place_among_the_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.log"), "x\n").unwrap();
        std::os::unix::fs::symlink(d.join("gone.log"), d.join("dangling.log")).unwrap();
        let args = [
            format!("{}/missing.log", d.display()),
            format!("{}/a.log", d.display()),
            format!("{}/nope/*.log", d.display()),
            format!("{}/[", d.display()),
            format!("{}/dangling.log", d.display()),
        ];
        let inputs = expand(&args);
        let shown: Vec<String> = inputs
            .iter()
            .map(|i| match i.open() {
                Ok(_) => format!("ok {}", i.name),
                Err(e) => e.to_string(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                format!("{}/missing.log: No such file or directory", d.display()),
                format!("ok {}/a.log", d.display()),
                format!("{}/nope/*.log: the pattern matches no file", d.display()),
                format!("{}/[: invalid glob pattern: invalid range pattern", d.display()),
                format!("{}/dangling.log: No such file or directory", d.display()),
            ]
        );
        assert!(inputs[1].is_regular_file() && !inputs[0].is_regular_file());
        // Inside a directory, a dangling link is reported too; other entries are still read.
        let walked = expand(&[d.display().to_string()]);
        let names: Vec<_> = walked.iter().map(|i| (i.name.clone(), i.unavailable.clone())).collect();
        assert_eq!(
            names,
            [
                (format!("{}/a.log", d.display()), None),
                (
                    format!("{}/dangling.log", d.display()),
                    Some("No such file or directory".to_owned())
                ),
            ]
        );
    }
}
