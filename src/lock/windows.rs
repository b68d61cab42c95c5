//! Windows: whether a process exists, and this process's start time (kernel32).

use std::ffi::c_void;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Handle = *mut c_void;

/// `FILETIME`: 100 ns intervals since 1601-01-01 (UTC), split in two halves.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct FileTime {
    pub(super) low: u32,
    pub(super) high: u32,
}

const PROCESS_QUERY_LIMITED_INFORMATION: u32 = 0x1000;
const SYNCHRONIZE: u32 = 0x0010_0000;
const ERROR_INVALID_PARAMETER: i32 = 87;
const WAIT_OBJECT_0: u32 = 0;
/// Seconds from 1601-01-01 to 1970-01-01.
const EPOCH_DIFFERENCE_SECS: u64 = 11_644_473_600;

// (std links kernel32 on Windows anyway; gated so the portability check can compile this elsewhere)
#[cfg_attr(windows, link(name = "kernel32"))]
extern "system" {
    fn OpenProcess(desired_access: u32, inherit_handle: i32, process_id: u32) -> Handle;
    fn WaitForSingleObject(handle: Handle, milliseconds: u32) -> u32;
    fn CloseHandle(handle: Handle) -> i32;
    fn GetCurrentProcess() -> Handle;
    fn GetProcessTimes(process: Handle, creation: *mut FileTime, exit: *mut FileTime, kernel: *mut FileTime, user: *mut FileTime) -> i32;
}

pub fn process_alive(pid: u32) -> bool {
    // SAFETY: OpenProcess takes plain values and returns a new handle we own, or null.
    let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, 0, pid) };
    if handle.is_null() {
        // No process has this id; any other failure (access denied: a protected process, or
        // one of another user) means one exists.
        return io::Error::last_os_error().raw_os_error() != Some(ERROR_INVALID_PARAMETER);
    }
    // A process that exited while something still holds its handle is signalled.
    // SAFETY: `handle` is the valid process handle opened above; a zero timeout only polls.
    let exited = unsafe { WaitForSingleObject(handle, 0) } == WAIT_OBJECT_0;
    // SAFETY: `handle` is ours and closed exactly once, here.
    unsafe { CloseHandle(handle) };
    !exited
}

pub fn process_start() -> Option<SystemTime> {
    let (mut creation, mut exit, mut kernel, mut user) = Default::default();
    // SAFETY: GetCurrentProcess returns a pseudo handle that needs no closing; the four
    // pointers are to live, writable FILETIMEs that the call fills and does not keep.
    let ok = unsafe { GetProcessTimes(GetCurrentProcess(), &mut creation, &mut exit, &mut kernel, &mut user) };
    if ok == 0 {
        return None;
    }
    filetime_to_system_time(creation)
}

pub(super) fn filetime_to_system_time(t: FileTime) -> Option<SystemTime> {
    let ticks = (u64::from(t.high) << 32) | u64::from(t.low);
    let since_1601 = Duration::new(ticks / 10_000_000, (ticks % 10_000_000) as u32 * 100);
    let since_1970 = since_1601.checked_sub(Duration::from_secs(EPOCH_DIFFERENCE_SECS))?;
    Some(UNIX_EPOCH + since_1970)
}
