//! The directory lock matter.js's Node.js filesystem uses: `matter.lock` created exclusively,
//! `matter.pid` holding `"<pid> <token>"`. A lock whose owner process is gone (or whose pid
//! was reused by a process with another token) is stale and reclaimed.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::{AtPath, Error, Result};
use crate::fsutil::remove_if_exists;

pub const LOCK_FILE: &str = "matter.lock";
pub const PID_FILE: &str = "matter.pid";

static TOKEN: OnceLock<String> = OnceLock::new();

/// Random per-process token distinguishing us from a former process with the same pid.
fn process_token() -> &'static str {
    TOKEN.get_or_init(|| format!("{:016x}", rand::random::<u64>()))
}

/// Adopts the token another lock implementation in this process writes (matter.js's), so
/// each recognises the other's locks as this process's: a directory held by one is then
/// refused to the other ("already locked by this process") instead of reclaimed as a
/// reused pid. Reads it from the `matter.pid` that implementation wrote in `probe_dir`.
/// Only possible before this process took its first lock; returns whether it was adopted.
pub fn adopt_token_from(probe_dir: &Path) -> bool {
    let Some((pid, Some(token))) = read_owner(&probe_dir.join(PID_FILE)) else { return false };
    pid == std::process::id() && TOKEN.set(token).is_ok()
}

/// Directories this process holds, so a second open here is refused without touching files.
/// (The set stays usable even if a thread panicked while holding it: it is only ever
/// changed by single inserts and removes.)
fn held_dirs() -> std::sync::MutexGuard<'static, HashSet<PathBuf>> {
    static HELD: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    HELD.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A held directory lock; released (both files removed) on `release` or drop.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    released: bool,
}

impl DirLock {
    /// Takes the lock of `dir`; `Error::Locked` (matter.js's message) while a live owner
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let dir = fs::canonicalize(dir).at(dir)?;
        if !held_dirs().insert(dir.clone()) {
            return Err(Error::Locked("Storage is already locked by this process".into()));
        }
        match take(&dir) {
            Ok(()) => Ok(DirLock { dir, released: false }),
            Err(e) => {
                held_dirs().remove(&dir);
                Err(e)
            }
        }
    }

    /// Removes both lock files (once; later calls do nothing).
    pub fn release(&mut self) -> Result<()> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        held_dirs().remove(&self.dir);
        remove_if_exists(&self.dir.join(LOCK_FILE))?;
        remove_if_exists(&self.dir.join(PID_FILE))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

/// Who holds a directory's lock, as a diagnostic tool sees it (nothing is touched).
#[derive(Debug, Clone, PartialEq)]
pub struct LockHolder {
    /// The pid in `matter.pid`; `None` when it is missing or unreadable.
    pub pid: Option<u32>,
    pub token: Option<String>,
    /// Why a driver opening the directory would reclaim the lock; `None` while the owner lives.
    pub stale: Option<String>,
}

/// The holder of `dir`'s lock, or `None` when `matter.lock` does not exist.
pub fn holder(dir: &Path) -> Option<LockHolder> {
    if !dir.join(LOCK_FILE).exists() {
        return None;
    }
    let owner = read_owner(&dir.join(PID_FILE));
    let lock_mtime = fs::metadata(dir.join(LOCK_FILE)).and_then(|m| m.modified()).ok();
    let stale = stale_reason(owner.as_ref(), lock_mtime);
    let (pid, token) = match owner {
        Some((pid, token)) => (Some(pid), token),
        None => (None, None),
    };
    Some(LockHolder { pid, token, stale })
}

fn take(dir: &Path) -> Result<()> {
    let lock_path = dir.join(LOCK_FILE);
    let pid_path = dir.join(PID_FILE);
    if let Err(e) = create_exclusive(&lock_path) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(e).at(&lock_path);
        }
        let owner = read_owner(&pid_path);
        let lock_mtime = fs::metadata(&lock_path).and_then(|m| m.modified()).ok();
        match stale_reason(owner.as_ref(), lock_mtime) {
            Some(reason) => {
                tracing::info!("Cleaning stale storage lock for {} - {reason}", dir.display());
                remove_if_exists(&pid_path)?;
                remove_if_exists(&lock_path)?;
                if let Err(e) = create_exclusive(&lock_path) {
                    return Err(if e.kind() == io::ErrorKind::AlreadyExists {
                        Error::Locked("Storage is locked by another process (lock reclaimed during retry)".into())
                    } else {
                        Error::Io { path: lock_path, source: e }
                    });
                }
            }
            None => {
                let pid = owner.map(|o| o.0.to_string()).unwrap_or_else(|| "undefined".into());
                return Err(Error::Locked(if pid == std::process::id().to_string() {
                    "Storage is already locked by this process".into()
                } else {
                    format!("Storage is locked by another process (pid {pid})")
                }));
            }
        }
    }
    fs::write(&pid_path, format!("{} {}", std::process::id(), process_token())).at(&pid_path)?;
    tracing::debug!("Acquired storage lock for {} pid {}", dir.display(), std::process::id());
    Ok(())
}

fn create_exclusive(path: &Path) -> io::Result<()> {
    OpenOptions::new().write(true).create_new(true).open(path).map(drop)
}

fn read_owner(pid_path: &Path) -> Option<(u32, Option<String>)> {
    let text = fs::read_to_string(pid_path).ok()?;
    let mut parts = text.split_whitespace();
    let pid: u32 = parts.next()?.parse().ok().filter(|p| *p > 0)?;
    Some((pid, parts.next().map(str::to_string)))
}

/// When this process started (Linux: /proc; macOS: proc_pidinfo; Windows: GetProcessTimes),
/// less a little slack: the lock file's mtime and the start time are rounded differently
/// (Linux counts the start in 10 ms clock ticks). `None` where it cannot be known.
fn process_start() -> Option<std::time::SystemTime> {
    static START: OnceLock<Option<std::time::SystemTime>> = OnceLock::new();
    *START.get_or_init(|| {
        let start = sys::process_start()?;
        Some(start.checked_sub(Duration::from_millis(10)).unwrap_or(start))
    })
}

fn stale_reason(owner: Option<&(u32, Option<String>)>, lock_mtime: Option<std::time::SystemTime>) -> Option<String> {
    let Some((pid, token)) = owner else {
        return Some("no PID file (owner crashed before writing it)".into());
    };
    if *pid == std::process::id() {
        if token.as_deref() == Some(process_token()) {
            return None;
        }
        // Another lock implementation in this very process (matter.js's own, with its own
        // token) took it after we started: that lock is live. Only a lock older than this
        // process can be a leftover of an earlier process that had our pid.
        let created_before_us = match (lock_mtime, process_start()) {
            (Some(m), Some(start)) => m < start,
            _ => true,
        };
        return created_before_us.then(|| format!("PID {pid} reused (token mismatch)"));
    }
    if !process_alive(*pid) {
        return Some(format!("owner process {pid} no longer exists"));
    }
    None
}

fn process_alive(pid: u32) -> bool {
    sys::process_alive(pid)
}

/// The operating system's answers to "is this pid alive" and "when did this process start".
mod sys {
    #[cfg(target_os = "linux")]
    pub use super::linux::process_start;
    #[cfg(target_os = "macos")]
    pub use super::macos::process_start;
    #[cfg(unix)]
    pub use super::unix::process_alive;
    #[cfg(windows)]
    pub use super::windows::{process_alive, process_start};

    /// Elsewhere a lock's owner cannot be checked: it is taken to be alive (never reclaimed).
    #[cfg(not(any(unix, windows)))]
    pub fn process_alive(_pid: u32) -> bool {
        true
    }

    /// Elsewhere the start is unknown: a lock with our pid and another token counts as a
    /// leftover of an earlier process.
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    pub fn process_start() -> Option<std::time::SystemTime> {
        None
    }
}

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

// Every platform's code is compiled (type-checked) in test builds on every other platform
// too, and its pure parts are tested there: CI builds all six targets but runs these tests
// only where it can.
#[cfg(all(test, not(target_os = "linux")))]
#[allow(dead_code)]
#[path = "lock/linux.rs"]
mod linux_portable;
#[cfg(all(test, not(target_os = "macos")))]
#[allow(dead_code)]
#[path = "lock/macos.rs"]
mod macos_portable;
#[cfg(all(test, not(unix)))]
#[allow(dead_code)]
#[path = "lock/unix.rs"]
mod unix_portable;
#[cfg(all(test, not(windows)))]
#[allow(dead_code)]
#[path = "lock/windows.rs"]
mod windows_portable;

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    use super::linux::start_from_stat as linux_start_from_stat;
    #[cfg(not(target_os = "linux"))]
    use super::linux_portable::start_from_stat as linux_start_from_stat;
    #[cfg(target_os = "macos")]
    use super::macos as macos_sys_portable;
    #[cfg(not(target_os = "macos"))]
    use super::macos_portable as macos_sys_portable;
    #[cfg(windows)]
    use super::windows as windows_sys_portable;
    #[cfg(not(windows))]
    use super::windows_portable as windows_sys_portable;
    use super::*;

    #[test]
    fn process_alive_answers_for_this_process_and_a_finished_one() {
        assert!(process_alive(std::process::id()));
        // A child that has exited and been waited for no longer exists (until its pid is reused,
        // which does not happen within a few instructions on any of our platforms).
        let mut child =
            std::process::Command::new(std::env::current_exe().unwrap()).arg("--list").stdout(std::process::Stdio::null()).spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid), "pid {pid} of an exited child reported alive");
        // Never a process group or an impossible pid.
        assert!(!process_alive(u32::MAX) || cfg!(windows));
    }

    #[test]
    fn process_start_is_known_and_in_the_recent_past() {
        let start = process_start().expect("this platform reports a process start time");
        let now = std::time::SystemTime::now();
        assert!(start <= now, "start {start:?} after now {now:?}");
        assert!(now.duration_since(start).unwrap() < Duration::from_secs(24 * 3600), "start {start:?} more than a day ago");
    }

    #[test]
    fn linux_start_time_parses_stat_with_spaces_and_parens_in_comm() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 4567 1000000 500";
        let t = linux_start_from_stat(stat, 1_700_000_000).unwrap();
        assert_eq!(t, std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + 45_670));
        assert_eq!(linux_start_from_stat("garbage", 0), None);
        assert_eq!(linux_start_from_stat("1 (x)", 0), None);
    }

    #[test]
    fn windows_filetime_converts_to_unix_time() {
        use windows_sys_portable::{filetime_to_system_time, FileTime};
        // 2024-01-01T00:00:00.1234567Z = 133485408001234567 ticks of 100 ns since 1601.
        let ticks: u64 = 133_485_408_001_234_567;
        let t = filetime_to_system_time(FileTime { low: ticks as u32, high: (ticks >> 32) as u32 }).unwrap();
        assert_eq!(t.duration_since(std::time::UNIX_EPOCH).unwrap(), Duration::new(1_704_067_200, 123_456_700));
        // Before 1970: not representable as a start time we compare against.
        assert_eq!(filetime_to_system_time(FileTime { low: 1, high: 0 }), None);
    }

    #[test]
    fn macos_bsdinfo_start_converts_to_unix_time() {
        let mut info = macos_sys_portable::ProcBsdInfo::default();
        info.pbi_start_tvsec = 1_704_067_200;
        info.pbi_start_tvusec = 250_000;
        let t = macos_sys_portable::start_time(&info);
        assert_eq!(t.duration_since(std::time::UNIX_EPOCH).unwrap(), Duration::new(1_704_067_200, 250_000_000));
    }

    #[test]
    fn second_lock_in_process_is_refused_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = DirLock::acquire(dir.path()).unwrap();
        let pid = fs::read_to_string(dir.path().join(PID_FILE)).unwrap();
        assert!(pid.starts_with(&format!("{} ", std::process::id())));
        assert!(matches!(DirLock::acquire(dir.path()), Err(Error::Locked(_))));
        lock.release().unwrap();
        assert!(!dir.path().join(LOCK_FILE).exists());
        DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn stale_lock_of_dead_process_is_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILE), b"").unwrap();
        // pid_max on Linux is at most 2^22 and macOS stays below 100000, so this pid cannot be
        // alive (on Windows, which ignores a pid's two low bits, it would be 4194304: not in use
        // on a CI runner).
        fs::write(dir.path().join(PID_FILE), b"4194305 deadbeef").unwrap();
        let _lock = DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn our_pid_with_a_foreign_token_is_live_when_taken_after_we_started() {
        // As when matter.js's own lock holds the directory in this same process.
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILE), b"").unwrap();
        fs::write(dir.path().join(PID_FILE), format!("{} othertoken", std::process::id())).unwrap();
        match DirLock::acquire(dir.path()) {
            Err(Error::Locked(m)) => assert_eq!(m, "Storage is already locked by this process"),
            other => panic!("expected lock error, got {other:?}"),
        }
        // A lock file from before this process started is a leftover of a reused pid.
        let old = std::time::SystemTime::now() - Duration::from_secs(365 * 24 * 3600);
        fs::File::options().write(true).open(dir.path().join(LOCK_FILE)).unwrap().set_modified(old).unwrap();
        let _lock = DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn live_foreign_owner_blocks() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILE), b"").unwrap();
        // A process that always runs: init/launchd (pid 1), or on Windows the System process (4).
        let pid = if cfg!(windows) { 4 } else { 1 };
        fs::write(dir.path().join(PID_FILE), format!("{pid} sometoken")).unwrap();
        match DirLock::acquire(dir.path()) {
            Err(Error::Locked(m)) => assert_eq!(m, format!("Storage is locked by another process (pid {pid})")),
            other => panic!("expected lock error, got {other:?}"),
        }
    }
}
