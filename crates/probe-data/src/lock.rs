//! Advisory locks: the run-folder lock ([`RunLock`]) and the locks that writers hold on their
//! temporary files, so that [`remove_stale_temporaries`](crate::remove_stale_temporaries)
//! can tell an abandoned temporary from one that a live process is still writing.
//!
//! The locks are `flock(2)` locks on Unix: the kernel drops them when the holder's file is
//! closed, which includes a process killed with SIGKILL, so a lock can never be left behind.
//! Elsewhere taking a lock always succeeds and holds nothing (documented on each item).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Name of the lock file inside a run folder.
pub const RUN_LOCK_FILE: &str = ".probe.lock";

/// Takes an exclusive lock on `file` without waiting: `Ok(false)` when another open file
/// holds one.
#[cfg(unix)]
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    match flock(file, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes an exclusive lock on `file`, waiting for the current holder to let go.
#[cfg(unix)]
pub(crate) fn lock_exclusive(file: &File) -> io::Result<()> {
    flock(file, libc::LOCK_EX)
}

#[cfg(unix)]
fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock only uses the descriptor, which `file` keeps open for the call.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        // A signal may interrupt a waiting lock; waiting again is what the caller asked for.
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Without flock every lock is granted and holds nothing.
#[cfg(not(unix))]
pub(crate) fn try_lock_exclusive(_file: &File) -> io::Result<bool> {
    Ok(true)
}

/// Without flock every lock is granted and holds nothing.
#[cfg(not(unix))]
pub(crate) fn lock_exclusive(_file: &File) -> io::Result<()> {
    Ok(())
}

/// An exclusive advisory lock on a run folder (its file `.probe.lock`), held until drop, so
/// that two processes never write the same run at once.
///
/// The lock file records who holds it (process id, the `holder` text, start time), which is
/// what the error names when a second process asks. The lock lives in the kernel, not in the
/// file: a holder killed with SIGKILL releases it, and a lock file left behind is simply
/// taken over. The file itself is kept (emptied on drop), because deleting it would let two
/// processes lock two different files of the same name.
///
/// On platforms without `flock` (anything but Unix) acquiring always succeeds.
///
/// ```
/// use probe_data::RunLock;
///
/// # fn main() -> probe_data::Result<()> {
/// let dir = tempfile::tempdir().expect("temp dir");
/// let lock = RunLock::acquire(dir.path(), "probe run configs/x.toml")?;
/// # #[cfg(unix)]
/// let err = RunLock::acquire(dir.path(), "probe run again").unwrap_err();
/// # #[cfg(unix)]
/// assert!(err.to_string().contains("is in use by pid"));
/// drop(lock);
/// RunLock::acquire(dir.path(), "probe run again")?; // free once the first is dropped
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Locks `dir` (which must exist) for this process, recording `holder` (e.g. the command
    /// line, `probe run configs/x.toml`) with the process id and the start time.
    ///
    /// Errors: [`Error::RunInUse`] when another open lock holds the folder, naming its
    /// holder; [`Error::Write`] when the lock file cannot be created or written.
    pub fn acquire(dir: &Path, holder: &str) -> Result<RunLock> {
        Self::lock(dir.join(RUN_LOCK_FILE), dir, holder)
    }

    /// Locks one piece of work inside `dir` (which must exist) through its own lock file
    /// `name`, so that several processes can work in one folder on different pieces; an
    /// error names `dir/name`.
    pub fn acquire_named(dir: &Path, name: &str, holder: &str) -> Result<RunLock> {
        Self::lock(dir.join(name), &dir.join(name), holder)
    }

    fn lock(path: PathBuf, dir: &Path, holder: &str) -> Result<RunLock> {
        let werr = |source: io::Error| Error::Write {
            path: path.clone(),
            source,
        };
        // No truncate: the file's text belongs to the holder until we have the lock.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(werr)?;
        if !try_lock_exclusive(&file).map_err(werr)? {
            let mut text = String::new();
            // The holder may be between emptying and writing the file: then it is unknown.
            let _ = file.read_to_string(&mut text);
            return Err(Error::RunInUse {
                dir: dir.to_path_buf(),
                holder: LockHolder::parse(&text),
            });
        }
        let record = LockHolder {
            pid: Some(std::process::id()),
            command: Some(holder.to_string()),
            since: Some(utc_timestamp(SystemTime::now())),
        };
        file.set_len(0).map_err(werr)?;
        file.seek(SeekFrom::Start(0)).map_err(werr)?;
        file.write_all(record.to_line().as_bytes()).map_err(werr)?;
        file.flush().map_err(werr)?;
        Ok(RunLock { file, path })
    }

    /// The lock file, `DIR/.probe.lock`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Emptied while still locked, so that nobody reads a finished holder as the current
        // one; closing the file then releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// Who holds a run folder, as recorded in its lock file; each part is `None` when the file
/// did not say (written by a process that was still starting, or by something else).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockHolder {
    /// Process id.
    pub pid: Option<u32>,
    /// What the holder is doing, as it said (e.g. `probe run configs/x.toml`).
    pub command: Option<String>,
    /// When it took the lock, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub since: Option<String>,
}

impl LockHolder {
    /// The lock file's text: one line `pid=…<TAB>since=…<TAB>holder=…`; the holder goes
    /// last and with control characters replaced, so any text survives the round trip.
    fn to_line(&self) -> String {
        let mut line = String::new();
        if let Some(pid) = self.pid {
            line.push_str(&format!("pid={pid}\t"));
        }
        if let Some(since) = &self.since {
            line.push_str(&format!("since={since}\t"));
        }
        if let Some(command) = &self.command {
            line.push_str("holder=");
            line.push_str(&crate::check::one_line(command));
        }
        line.push('\n');
        line
    }

    fn parse(text: &str) -> LockHolder {
        let mut holder = LockHolder::default();
        for field in text.trim_end_matches('\n').split('\t') {
            match field.split_once('=') {
                Some(("pid", v)) => holder.pid = v.trim().parse().ok(),
                Some(("since", v)) => holder.since = Some(v.to_string()),
                Some(("holder", v)) => holder.command = Some(v.to_string()),
                _ => {}
            }
        }
        holder
    }
}

impl std::fmt::Display for LockHolder {
    /// `pid 1234 (probe run configs/x.toml, since 2026-…)`, or what of it is known.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => f.write_str("another process")?,
        }
        match (&self.command, &self.since) {
            (Some(c), Some(s)) => write!(f, " ({c}, since {s})"),
            (Some(c), None) => write!(f, " ({c})"),
            (None, Some(s)) => write!(f, " (since {s})"),
            (None, None) => Ok(()),
        }
    }
}

/// `t` as UTC `YYYY-MM-DDTHH:MM:SSZ` (no date crate for one timestamp).
pub(crate) fn utc_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2000-02-29 12:34:56 UTC (a leap day).
        let t = UNIX_EPOCH + Duration::from_secs(951_827_696);
        assert_eq!(utc_timestamp(t), "2000-02-29T12:34:56Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(utc_timestamp(t), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn holder_round_trips_through_the_lock_file_text() {
        let h = LockHolder {
            pid: Some(42),
            command: Some("probe run a\tb.toml".into()),
            since: Some("2026-01-02T03:04:05Z".into()),
        };
        let back = LockHolder::parse(&h.to_line());
        assert_eq!(back.pid, Some(42));
        assert_eq!(back.command.as_deref(), Some("probe run a b.toml"));
        assert_eq!(
            back.to_string(),
            "pid 42 (probe run a b.toml, since 2026-01-02T03:04:05Z)"
        );
        assert_eq!(LockHolder::parse("").to_string(), "another process");
    }
}
