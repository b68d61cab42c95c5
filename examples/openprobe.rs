// Times the phases of opening a storage directory.
// cargo run --release --example openprobe -- DIR
use std::path::Path;
use std::time::{Duration, Instant};

/// CPU time of the whole process (all threads): stable on a busy machine, unlike wall time.
/// Linux only (clock ids differ elsewhere); `None` on other platforms.
#[cfg(target_os = "linux")]
fn cpu() -> Option<Duration> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a live, writable timespec (64-bit fields on the 64-bit Linux targets
    // this is built for) that clock_gettime fills and does not keep.
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.sec as u64, ts.nsec as u32))
}

#[cfg(not(target_os = "linux"))]
fn cpu() -> Option<Duration> {
    None
}

/// `later - earlier` of two `cpu()` readings, for printing.
fn cpu_delta(earlier: Option<Duration>, later: Option<Duration>) -> String {
    match (earlier, later) {
        (Some(a), Some(b)) => format!("{:?}", b - a),
        _ => "n/a".into(),
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("DIR"));
    for i in 0..3 {
        // A fresh copy each time: opening may compress rotated segments in the background.
        let copy = std::env::temp_dir().join(format!("openprobe-{}-{i}", std::process::id()));
        copy_dir(&dir, &copy).expect("copy of DIR");
        let (c0, t) = (cpu(), Instant::now());
        let engine = matter_wal_native::Engine::open(&copy, Default::default(), std::sync::Arc::new(|_| {})).unwrap();
        println!("Engine::open {:?} (cpu {})", t.elapsed(), cpu_delta(c0, cpu()));
        std::mem::forget(engine);
    }
    for _ in 0..3 {
        let c0 = cpu();
        let t = Instant::now();
        let snap = matter_wal_native::load_snapshot(&dir, "snapshot").unwrap();
        let t_snap = t.elapsed();
        let c1 = cpu();
        let after = snap.as_ref().map(|s| s.commit_id);
        let mut store = snap.map(|s| s.data).unwrap_or_default();
        let t = Instant::now();
        let mut n = 0;
        matter_wal_native::read_commits(&dir.join("wal"), after, |c| {
            store.apply(&c.commit.ops);
            n += 1;
            true
        })
        .unwrap();
        let t_wal = t.elapsed();
        let c2 = cpu();
        let t = Instant::now();
        let w = matter_wal_native::SegmentWriter::open(&dir.join("wal"), 16 << 20, false).unwrap();
        let t_writer = t.elapsed();
        println!(
            "snapshot {t_snap:?} (cpu {}), replay {n} commits {t_wal:?} (cpu {}), writer open {t_writer:?} (segment {})",
            cpu_delta(c0, c1),
            cpu_delta(c1, c2),
            w.current_segment()
        );
    }
}
