//! Where a command's results go: standard output, a file named by an option (`--output`), or a
//! file replaced whole (`--metrics-textfile`). Every path here is checked before anything is
//! opened for writing, so that no log is ever clobbered:
//!
//! - an output that is also one of the inputs (same device and inode: the same path, a hard
//!   link or a symbolic link to it, or standard output redirected onto it) is refused;
//! - a file output is locked for the run (a second run writing the same file would interleave
//!   its JSON lines into the first's) and only then emptied;
//! - a file replaced atomically (temporary file, fsync, rename) must be a regular file or not
//!   exist: a FIFO, a device node or a directory at that path is refused, never replaced.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::source::Input;

/// A file's identity: device and inode.
type FileId = (u64, u64);

fn id(m: &std::fs::Metadata) -> FileId {
    (m.dev(), m.ino())
}

/// The identities of the inputs that are regular files, with their names; standard input too
/// when it is redirected from a regular file.
pub struct InputFiles(Vec<(FileId, String)>);

impl InputFiles {
    pub fn of(inputs: &[Input]) -> Self {
        let mut files = Vec::new();
        for input in inputs {
            let meta = match &input.path {
                Some(p) if input.unavailable.is_none() => p.metadata().ok(),
                Some(_) => None,
                None if input.unavailable.is_none() => fd_metadata(io::stdin().as_fd()),
                None => None,
            };
            if let Some(m) = meta.filter(|m| m.is_file()) {
                files.push((id(&m), input.name.clone()));
            }
        }
        InputFiles(files)
    }

    fn input_at(&self, m: &std::fs::Metadata) -> Option<&str> {
        if !m.is_file() {
            return None;
        }
        let target = id(m);
        self.0.iter().find(|(i, _)| *i == target).map(|(_, name)| name.as_str())
    }

    /// Refuses `path` (given as `option`) when it already exists as one of the inputs.
    pub fn refuse_input(&self, option: &str, path: &Path) -> anyhow::Result<()> {
        if let Ok(m) = path.metadata()
            && let Some(input) = self.input_at(&m)
        {
            bail!(
                "{option} {}: this file is also the input {input}; refusing to write over a log (name another file)",
                path.display()
            );
        }
        Ok(())
    }

    /// Refuses a file that is to be replaced whole at the end of the run (`--metrics-textfile`)
    /// when it is an input or not a regular file: said before the run, not after an hour of it.
    pub fn refuse_textfile(&self, option: &str, path: &Path) -> anyhow::Result<()> {
        self.refuse_input(option, path)?;
        replaceable(path).with_context(|| format!("{option} {}", path.display()))?;
        Ok(())
    }

    /// Refuses a standard output redirected onto one of the inputs (`scan a.log >> a.log` would
    /// read its own alerts back; with `>` the shell has already emptied it).
    pub fn refuse_stdout(&self) -> anyhow::Result<()> {
        if let Some(m) = fd_metadata(io::stdout().as_fd())
            && let Some(input) = self.input_at(&m)
        {
            bail!(
                "standard output is redirected to {input}, which is also an input; refusing to write into a log being read (redirect to another file)"
            );
        }
        Ok(())
    }
}

fn fd_metadata(fd: std::os::fd::BorrowedFd<'_>) -> Option<std::fs::Metadata> {
    let owned = fd.try_clone_to_owned().ok()?;
    File::from(owned).metadata().ok()
}

/// Opens `path` (the value of `option`) for a run's output: refused when it is an input or
/// another run holds it, locked for this run, then emptied. A FIFO or device is written as it
/// is (neither locked nor truncated).
pub fn create(option: &str, path: &Path, inputs: &InputFiles) -> anyhow::Result<File> {
    inputs.refuse_input(option, path)?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("{option} {}", path.display()))?;
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    if regular {
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!(
                "{option} {}: another process (another reconwatch run?) is writing this file; wait for it or name another file",
                path.display()
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("{option} {}: cannot lock", path.display()));
            }
        }
        file.set_len(0)
            .with_context(|| format!("{option} {}: cannot empty it", path.display()))?;
    }
    Ok(file)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`, so
/// a reader (node_exporter's textfile collector) never sees half a file. `path` must be a
/// regular file or not exist (a symbolic link is followed to one); anything else is refused.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target = replaceable(path)?;
    crate::source::checkpoint::write_atomically_with_mode(&target, bytes, 0o644)
}

/// The path a whole-file replacement may rename onto: `path` itself, or the file a symbolic
/// link at `path` points to. An error names what is there when it is not a regular file.
fn replaceable(path: &Path) -> io::Result<PathBuf> {
    let target = match path.symlink_metadata() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(e),
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(t) => t,
            // A dangling link: the file it names does not exist yet; create it there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let link = std::fs::read_link(path)?;
                path.parent().unwrap_or(Path::new(".")).join(link)
            }
            Err(e) => return Err(e),
        },
        Ok(_) => path.to_path_buf(),
    };
    match target.metadata() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(target),
        Err(e) => Err(e),
        Ok(m) if m.is_file() => Ok(target),
        Ok(m) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is {}, not a regular file: refusing to replace it",
                target.display(),
                crate::source::file_kind(&m.file_type())
            ),
        )),
    }
}

/// Standard output for a command's report lines: buffered, with every write error (a full disk,
/// `> /dev/full`) carrying the output's name. A closed pipe stays a `BrokenPipe` error, which
/// the entry point turns into a quiet exit 0.
pub struct Stdout(io::BufWriter<io::Stdout>);

impl Stdout {
    pub fn new() -> Self {
        Stdout(io::BufWriter::new(io::stdout()))
    }

    /// Writes one line (`format_args!`).
    pub fn line(&mut self, args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
        self.0
            .write_fmt(args)
            .and_then(|()| self.0.write_all(b"\n"))
            .context("writing to standard output")
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.0.flush().context("writing to standard output")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn an_output_that_is_an_input_is_refused_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        std::fs::write(&log, "line\n").unwrap();
        std::fs::hard_link(&log, dir.path().join("hard.log")).unwrap();
        std::os::unix::fs::symlink(&log, dir.path().join("soft.log")).unwrap();
        let inputs = InputFiles::of(&[Input::file(log.clone())]);
        for name in ["a.log", "hard.log", "soft.log"] {
            let e = create("--output", &dir.path().join(name), &inputs).unwrap_err();
            assert!(format!("{e:#}").contains("is also the input"), "{name}: {e:#}");
        }
        assert_eq!(std::fs::read(&log).unwrap(), b"line\n");
        let other = dir.path().join("alerts.jsonl");
        std::fs::write(&other, "old\n").unwrap();
        create("--output", &other, &inputs).unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"", "an ordinary output is emptied");
    }

    #[test]
    fn a_second_writer_of_the_same_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("alerts.jsonl");
        let none = InputFiles::of(&[]);
        let mut first = create("--output", &out, &none).unwrap();
        first.write_all(b"{}\n").unwrap();
        let e = create("--output", &out, &none).unwrap_err();
        assert!(format!("{e:#}").contains("another process"), "{e:#}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"{}\n",
            "the first run's output is untouched"
        );
        drop(first);
        create("--output", &out, &none).unwrap();
    }

    #[test]
    fn atomic_replacement_only_over_a_regular_file_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("m.prom");
        write_atomically(&fresh, b"a 1\n").unwrap();
        write_atomically(&fresh, b"a 2\n").unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"a 2\n");
        // Through a link: the link stays, its file is replaced.
        let link = dir.path().join("link.prom");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        write_atomically(&link, b"a 3\n").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&fresh).unwrap(), b"a 3\n");

        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let e = write_atomically(&fifo, b"x").unwrap_err();
        assert!(e.to_string().contains("is a FIFO, not a regular file"), "{e}");
        assert!(
            fifo.symlink_metadata().unwrap().file_type().is_fifo(),
            "the FIFO is still there"
        );

        // (A device node would be refused the same way; sockets need no privilege to make.)
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let e = write_atomically(&socket, b"x").unwrap_err();
        assert!(e.to_string().contains("is a socket"), "{e}");
        let e = write_atomically(dir.path(), b"x").unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind");
    }
}
