//! Bytes in: the inputs named on the command line (files, directories, globs, stdin), opened and
//! decompressed, then split into lines.
//!
//! - [`expand`] turns the user's arguments into a list of [`Input`]s (directories recursively,
//!   globs expanded, both sorted so runs are repeatable).
//! - [`Input::open`] opens one, recognising gzip, zstd and bzip2 by their magic bytes, never by
//!   name.
//! - [`LineReader`] splits the decompressed stream into lines in fixed-size buffers.
//!
//! Nothing here reads a whole file into memory, and nothing here knows about log formats.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

mod decompress;
mod lines;

pub use decompress::Compression;
pub use lines::{DEFAULT_MAX_LINE, LineReader, RawLine};

/// An input failed to open or read. Every variant names the input.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{pattern}: invalid glob pattern: {reason}")]
    BadGlob { pattern: String, reason: String },
    #[error("{pattern}: the pattern matches no file")]
    NoMatch { pattern: String },
}

/// One input: a file or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The name reported in `log.file.path`, stats and errors: the path as found, or `-`.
    pub name: String,
    /// `None` for standard input.
    pub path: Option<PathBuf>,
}

impl Input {
    pub fn stdin() -> Self {
        Input {
            name: "-".to_owned(),
            path: None,
        }
    }

    pub fn file(path: PathBuf) -> Self {
        Input {
            name: path.display().to_string(),
            path: Some(path),
        }
    }

    /// Opens the input and wraps it in the decompressor its first bytes call for.
    pub fn open(&self) -> Result<Opened, SourceError> {
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
pub fn expand(args: &[String]) -> Result<Vec<Input>, SourceError> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            out.push(Input::stdin());
            continue;
        }
        let path = Path::new(arg);
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut out)?,
            Ok(_) => out.push(Input::file(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !arg.contains(['*', '?', '[']) {
                    return Err(SourceError::NotFound { path: arg.clone() });
                }
                expand_glob(arg, &mut out)?;
            }
            Err(source) => {
                return Err(SourceError::Io {
                    path: arg.clone(),
                    source,
                });
            }
        }
    }
    Ok(out)
}

fn expand_glob(pattern: &str, out: &mut Vec<Input>) -> Result<(), SourceError> {
    let paths = glob::glob(pattern).map_err(|e| SourceError::BadGlob {
        pattern: pattern.to_owned(),
        reason: e.msg.to_owned(),
    })?;
    let mut found = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| SourceError::Io {
            path: e.path().display().to_string(),
            source: io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        if path.is_dir() {
            walk(&path, &mut found)?;
        } else {
            found.push(Input::file(path));
        }
    }
    if found.is_empty() {
        return Err(SourceError::NoMatch {
            pattern: pattern.to_owned(),
        });
    }
    out.extend(found);
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<(), SourceError> {
    let io_err = |source| SourceError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        // Hidden entries (`.world/`, editor swap files, `.git`) are not logs; name a hidden
        // file explicitly to read it.
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err)?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(Input::file(path));
        }
    }
    Ok(())
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
        let all = expand(&[d.display().to_string()]).unwrap();
        assert_eq!(names(all), ["a.log", "b/c/y.log.gz", "b/x.txt", "b/z.log"]);
        let globbed = expand(&[format!("{}/b/*.log", d.display())]).unwrap();
        assert_eq!(names(globbed), ["b/z.log"]);
        let err = expand(&[format!("{}/nope/*.log", d.display())]).unwrap_err();
        assert!(matches!(err, SourceError::NoMatch { .. }), "{err}");
        let err = expand(&[format!("{}/missing.log", d.display())]).unwrap_err();
        assert!(err.to_string().contains("missing.log: no such file"), "{err}");
        assert_eq!(expand(&["-".to_owned()]).unwrap(), vec![Input::stdin()]);
    }
}
