//! Progress of a batch run: shared counters the workers add to, and a one-line status on stderr.
//!
//! [`Progress`] is a handful of atomics. Workers add to them once per pipeline [`Tick`]
//! (every few thousand lines) and once per finished input, never per line, so counting costs
//! nothing measurable. The measure is **bytes on disk**: the total is the sum of the inputs'
//! file sizes, known before the run starts; a plain file advances as it is read, while a
//! compressed file (whose decompressed size is unknown until it has been read) counts its
//! on-disk size at once when it is finished. Standard input has no size and only counts lines.
//!
//! [`report_while`] draws the status line (percentage, MB/s, inputs done, elapsed, ETA) on
//! stderr at most four times a second, only when stderr is a terminal, and clears it at the
//! end. Messages printed through [`Progress::message`] clear the line first, so they never mix
//! with it. Nothing here ever writes to stdout.
//!
//! [`Tick`]: crate::pipeline::Tick

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Time between two redraws: at most four a second, so the terminal stays readable and drawing
/// costs nothing.
const REDRAW: Duration = Duration::from_millis(250);

/// Clears the terminal line the cursor is on: carriage return, erase to end of line.
const CLEAR: &str = "\r\x1b[K";

/// Counters of a run, shared by the threads that read inputs. See the module documentation.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    total_bytes: AtomicU64,
    bytes: AtomicU64,
    lines: AtomicU64,
    inputs: AtomicU64,
    inputs_done: AtomicU64,
    /// Whether a status line is on the screen (and must be cleared before a message). Held
    /// while drawing and by [`Progress::suspended`], so the two never interleave.
    shown: Mutex<bool>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Bytes on disk read (see the module documentation).
    pub bytes: u64,
    /// Bytes on disk of all inputs (0 when unknown).
    pub total_bytes: u64,
    pub lines: u64,
    pub inputs: u64,
    pub inputs_done: u64,
    pub elapsed: Duration,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Counters at zero; the clock starts now.
    pub fn new() -> Self {
        Progress {
            started: Instant::now(),
            total_bytes: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            inputs: AtomicU64::new(0),
            inputs_done: AtomicU64::new(0),
            shown: Mutex::new(false),
        }
    }

    /// Adds inputs to do and their size on disk.
    pub fn add_total(&self, inputs: u64, bytes: u64) {
        self.inputs.fetch_add(inputs, Relaxed);
        self.total_bytes.fetch_add(bytes, Relaxed);
    }

    /// Adds bytes on disk and lines read.
    pub fn add_read(&self, bytes: u64, lines: u64) {
        if bytes > 0 {
            self.bytes.fetch_add(bytes, Relaxed);
        }
        if lines > 0 {
            self.lines.fetch_add(lines, Relaxed);
        }
    }

    /// Counts one input as finished.
    pub fn input_done(&self) {
        self.inputs_done.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            bytes: self.bytes.load(Relaxed),
            total_bytes: self.total_bytes.load(Relaxed),
            lines: self.lines.load(Relaxed),
            inputs: self.inputs.load(Relaxed),
            inputs_done: self.inputs_done.load(Relaxed),
            elapsed: self.started.elapsed(),
        }
    }

    /// Prints `msg` and a newline on stderr, with the status line out of the way.
    pub fn message(&self, msg: &str) {
        self.suspended(|| {
            // Nothing useful can be done when stderr itself fails.
            let _ = writeln!(io::stderr(), "{msg}");
        });
    }

    /// Runs `f` with the status line cleared and not redrawn until `f` returns: for writing to
    /// stderr, or to stdout when it may be the same terminal.
    pub fn suspended<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        if *shown {
            let mut err = io::stderr().lock();
            let _ = write!(err, "{CLEAR}");
            let _ = err.flush();
            *shown = false;
        }
        f()
    }

    fn draw(&self, line: Option<&str>) {
        let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        let mut err = io::stderr().lock();
        let _ = match line {
            Some(l) => write!(err, "{CLEAR}{l}"),
            None if *shown => write!(err, "{CLEAR}"),
            None => Ok(()),
        };
        let _ = err.flush();
        *shown = line.is_some();
    }
}

impl Snapshot {
    /// The status line: `reconwatch: 42% of 1210.0 MB on disk, 310.2 MB/s, inputs 3/17, 0:12
    /// elapsed, ETA 0:17`. Parts that are unknown (no size, nothing read yet) are left out.
    pub fn status_line(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let mb = |b: u64| b as f64 / 1e6;
        let mut s = String::from("reconwatch: ");
        if self.total_bytes > 0 {
            let done = self.bytes.min(self.total_bytes);
            let pct = done as f64 * 100.0 / self.total_bytes as f64;
            s += &format!("{pct:.0}% of {:.1} MB on disk, ", mb(self.total_bytes));
        }
        if secs > 0.0 && self.bytes > 0 {
            s += &format!("{:.1} MB/s, ", mb(self.bytes) / secs);
        } else {
            s += &format!("{} lines, ", self.lines);
        }
        s += &format!(
            "inputs {}/{}, {} elapsed",
            self.inputs_done,
            self.inputs,
            clock(self.elapsed.as_secs())
        );
        if self.total_bytes > self.bytes && self.bytes > 0 && secs > 0.0 {
            let rate = self.bytes as f64 / secs;
            let left = (self.total_bytes - self.bytes) as f64 / rate;
            s += &format!(", ETA {}", clock(left.min(1e9) as u64));
        }
        s
    }
}

/// `m:ss`, or `h:mm:ss` from an hour on.
fn clock(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Whether a status line may be drawn: stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// Runs `work` while, when `show` is set, a reporter thread redraws `progress`'s status line on
/// stderr every [`REDRAW`]; the line is cleared before this returns. The caller decides `show`
/// (at least [`stderr_is_terminal`]; also not when the data itself goes to the same terminal).
pub fn report_while<T>(progress: &Progress, show: bool, work: impl FnOnce() -> T) -> T {
    if !show {
        return work();
    }
    let done = (Mutex::new(false), Condvar::new());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let (lock, changed) = &done;
            let mut finished = lock.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                let (guard, _) = changed
                    .wait_timeout(finished, REDRAW)
                    .unwrap_or_else(PoisonError::into_inner);
                finished = guard;
                if *finished {
                    break;
                }
                progress.draw(Some(&progress.snapshot().status_line()));
            }
            progress.draw(None);
        });
        let out = work();
        let (lock, changed) = &done;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        changed.notify_all();
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_shows_what_is_known() {
        let snap = |bytes, total_bytes, lines, secs| Snapshot {
            bytes,
            total_bytes,
            lines,
            inputs: 17,
            inputs_done: 3,
            elapsed: Duration::from_secs(secs),
        };
        let cases = [
            (
                snap(500_000_000, 1_000_000_000, 9, 10),
                "reconwatch: 50% of 1000.0 MB on disk, 50.0 MB/s, inputs 3/17, 0:10 elapsed, ETA 0:10",
            ),
            // Standard input only: no size, no rate in bytes.
            (snap(0, 0, 1234, 5), "reconwatch: 1234 lines, inputs 3/17, 0:05 elapsed"),
            // Nothing read yet: no rate, no ETA.
            (
                snap(0, 2_000_000, 0, 0),
                "reconwatch: 0% of 2.0 MB on disk, 0 lines, inputs 3/17, 0:00 elapsed",
            ),
            // A file that grew while read: never past 100%, no ETA.
            (
                snap(3_000_000, 2_000_000, 7, 3700),
                "reconwatch: 100% of 2.0 MB on disk, 0.0 MB/s, inputs 3/17, 1:01:40 elapsed",
            ),
        ];
        for (s, want) in cases {
            assert_eq!(s.status_line(), want);
        }
    }

    #[test]
    fn counters_add_up() {
        let p = Progress::new();
        p.add_total(2, 100);
        p.add_read(40, 3);
        p.add_read(0, 2);
        p.input_done();
        let s = p.snapshot();
        assert_eq!(
            (s.total_bytes, s.bytes, s.lines, s.inputs, s.inputs_done),
            (100, 40, 5, 2, 1)
        );
    }
}
