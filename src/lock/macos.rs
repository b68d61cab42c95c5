//! macOS: this process's start time, from proc_pidinfo(PROC_PIDTBSDINFO) (libproc, part of
//! libSystem).

use std::ffi::c_void;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `struct proc_bsdinfo` of <sys/proc_info.h>, all fixed-size integers (136 bytes).
#[repr(C)]
#[derive(Default)]
pub(super) struct ProcBsdInfo {
    pbi_flags: u32,
    pbi_status: u32,
    pbi_xstatus: u32,
    pbi_pid: u32,
    pbi_ppid: u32,
    pbi_uid: u32,
    pbi_gid: u32,
    pbi_ruid: u32,
    pbi_rgid: u32,
    pbi_svuid: u32,
    pbi_svgid: u32,
    rfu_1: u32,
    pbi_comm: [u8; 16],
    pbi_name: [u8; 32],
    pbi_nfiles: u32,
    pbi_pgid: u32,
    pbi_pjobc: u32,
    e_tdev: u32,
    e_tpgid: u32,
    pbi_nice: i32,
    pub(super) pbi_start_tvsec: u64,
    pub(super) pbi_start_tvusec: u64,
}

const _: () = assert!(std::mem::size_of::<ProcBsdInfo>() == 136);

const PROC_PIDTBSDINFO: i32 = 3;

extern "C" {
    fn proc_pidinfo(pid: i32, flavor: i32, arg: u64, buffer: *mut c_void, buffersize: i32) -> i32;
}

pub fn process_start() -> Option<SystemTime> {
    let mut info = ProcBsdInfo::default();
    let size = std::mem::size_of::<ProcBsdInfo>() as i32;
    let pid = i32::try_from(std::process::id()).ok()?;
    // SAFETY: `info` is a live, writable `proc_bsdinfo` of exactly `size` bytes; the call
    // writes at most `size` bytes into it and keeps no pointer to it.
    let written = unsafe { proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, (&mut info as *mut ProcBsdInfo).cast(), size) };
    if written != size {
        return None;
    }
    Some(start_time(&info))
}

pub(super) fn start_time(info: &ProcBsdInfo) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(info.pbi_start_tvsec) + Duration::from_micros(info.pbi_start_tvusec)
}
