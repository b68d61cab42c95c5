//! Linux: this process's start time, from /proc.

use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn process_start() -> Option<SystemTime> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let btime: u64 =
        fs::read_to_string("/proc/stat").ok()?.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok()))?;
    start_from_stat(&stat, btime)
}

/// The start time from a `/proc/<pid>/stat` line and the boot time (`btime`, s since the epoch).
pub(super) fn start_from_stat(stat: &str, btime: u64) -> Option<SystemTime> {
    // Field 22 (starttime, clock ticks after boot) counts from after the ")" of comm.
    let after_comm = stat.get(stat.rfind(')')? + 2..)?;
    let ticks: u64 = after_comm.split_whitespace().nth(19)?.parse().ok()?;
    // USER_HZ is 100 on every Linux ABI Node runs on.
    Some(UNIX_EPOCH + Duration::from_secs(btime) + Duration::from_millis(ticks * 10))
}
