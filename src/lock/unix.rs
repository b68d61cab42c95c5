//! Unix (Linux, macOS, the BSDs): whether a process exists, by sending it signal 0.

use std::io;

extern "C" {
    // pid_t is a 32-bit signed integer on every Unix Rust and Node.js run on.
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// ESRCH ("no such process") is 3 on Linux, macOS and the BSDs.
const ESRCH: i32 = 3;

pub fn process_alive(pid: u32) -> bool {
    // A pid that does not fit pid_t cannot exist; passing it on would make it negative, which
    // addresses a whole process group.
    let Ok(pid) = i32::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks that `pid` (positive, so one process) exists
    // and may be signalled; it reads and writes no memory of ours.
    let rc = unsafe { libc_kill(pid, 0) };
    // EPERM (it exists, but belongs to someone else) still means alive.
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(ESRCH)
}
