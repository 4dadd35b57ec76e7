//! Per-file checkpoints: for every tailed file, its identity and the offset just after the last
//! line that was fully processed (its alerts handed to the sinks, its correlation contributions
//! in the saved state, or — for mail being assembled — the offset of the first line of the
//! oldest message still open, so that nothing is skipped on restart).
//!
//! The file `checkpoints.json` in the state directory is replaced atomically (temporary file,
//! fsync, rename, fsync of the directory) by the engine at a bounded interval and at shutdown;
//! the tailer reads it at start. A file is recognised by device and inode *and* by a
//! fingerprint of its first bytes, so an inode reused by a new file is not mistaken for the old
//! one.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::feed::FileIdentity;
pub use super::feed::{FINGERPRINT_BYTES, Fingerprint};

/// The checkpoint file's name in the state directory.
pub const FILE_NAME: &str = "checkpoints.json";
/// The version written; a file of another version is refused with that reason.
const VERSION: u32 = 1;

/// One file's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub fingerprint: Fingerprint,
    /// Resume here: every line before it was fully processed.
    pub offset: u64,
}

impl FileCheckpoint {
    pub fn new(id: &FileIdentity, offset: u64) -> FileCheckpoint {
        FileCheckpoint {
            path: id.path.clone(),
            dev: id.dev,
            ino: id.ino,
            fingerprint: id.fingerprint,
            offset,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Document {
    version: u32,
    files: Vec<FileCheckpoint>,
}

/// Why the checkpoints could not be read or written; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct CheckpointError {
    pub path: PathBuf,
    pub reason: String,
}

/// The checkpoints saved in `state_dir` (none when the file does not exist yet).
pub fn load(state_dir: &Path) -> Result<Vec<FileCheckpoint>, CheckpointError> {
    let path = state_dir.join(FILE_NAME);
    let err = |reason: String| CheckpointError {
        path: path.clone(),
        reason,
    };
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(e.to_string())),
    };
    let doc: Document = serde_json::from_str(&text).map_err(|e| err(format!("not a checkpoint file: {e}")))?;
    if doc.version != VERSION {
        return Err(err(format!(
            "checkpoint file version {} (this reconwatch writes {VERSION})",
            doc.version
        )));
    }
    Ok(doc.files)
}

/// Replaces the checkpoints in `state_dir` atomically: a crash leaves the old file or the new
/// one, never a torn one.
pub fn save(state_dir: &Path, files: &[FileCheckpoint]) -> Result<(), CheckpointError> {
    let doc = Document {
        version: VERSION,
        files: files.to_vec(),
    };
    let json = serde_json::to_vec_pretty(&doc).expect("checkpoints serialize");
    write_atomically(&state_dir.join(FILE_NAME), &json).map_err(|e| CheckpointError {
        path: state_dir.join(FILE_NAME),
        reason: e.to_string(),
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory, fsyncs it, renames
/// it over `path` and fsyncs the directory: a reader or a crash sees the old file or the new
/// one, never a torn one. A new file gets mode 0600 (state is the daemon's own).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with_mode(path, bytes, 0o600)
}

/// [`write_atomically`] with the mode of the new file (the metrics textfile is 0644, for
/// node_exporter).
pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    // A leftover of a crashed process that had this pid; removing a link removes the link only.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        // create_new: never through a link or over anything planted at the temporary name.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_checkpoints_load_back_and_replace_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), []);
        let cp = FileCheckpoint {
            path: "/var/log/squid/access.log".into(),
            dev: 2049,
            ino: 77,
            fingerprint: Fingerprint::of(b"1700000000.000 12 10.0.0.1 TCP_MISS/200"),
            offset: 4096,
        };
        save(dir.path(), std::slice::from_ref(&cp)).unwrap();
        assert_eq!(load(dir.path()).unwrap(), [cp]);
        save(dir.path(), &[]).unwrap();
        assert_eq!(load(dir.path()).unwrap(), []);
        // No temporary file left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), "{\"version\": 9, \"files\": []}").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(FILE_NAME) && e.contains("version 9"), "{e}");
        fs::write(dir.path().join(FILE_NAME), "{trunc").unwrap();
        assert!(
            load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("not a checkpoint file")
        );
    }

    #[test]
    fn a_fingerprint_matches_a_grown_file_but_not_another() {
        let f = Fingerprint::of(b"line one\n");
        assert!(f.matches(b"line one\nline two\n"));
        assert!(!f.matches(b"line 1\n"));
        assert!(!f.matches(b"line"));
        let big = vec![b'x'; 5000];
        assert_eq!(Fingerprint::of(&big).len as usize, FINGERPRINT_BYTES);
        assert!(Fingerprint::of(&big).matches(&big));
    }
}
