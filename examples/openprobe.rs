// Times the phases of opening a storage directory.
// cargo run --release --example openprobe -- DIR
use std::time::{Duration, Instant};

/// CPU time of the whole process (all threads): stable on a busy machine, unlike wall time.
fn cpu() -> Duration {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { sec: 0, nsec: 0 };
    unsafe { clock_gettime(2 /* CLOCK_PROCESS_CPUTIME_ID */, &mut ts) };
    Duration::new(ts.sec as u64, ts.nsec as u32)
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("DIR"));
    for i in 0..3 {
        // A fresh copy each time: opening may compress rotated segments in the background.
        let copy = std::env::temp_dir().join(format!("openprobe-{}-{i}", std::process::id()));
        let _ = std::process::Command::new("cp").arg("-r").arg(&dir).arg(&copy).status();
        let (c0, t) = (cpu(), Instant::now());
        let engine = matter_wal_native::driver::Engine::open(&copy, Default::default(), std::sync::Arc::new(|_| {})).unwrap();
        println!("Engine::open {:?} (cpu {:?})", t.elapsed(), cpu() - c0);
        std::mem::forget(engine);
    }
    for _ in 0..3 {
        let c0 = cpu();
        let t = Instant::now();
        let snap = matter_wal_native::snapshot::load(&dir, "snapshot").unwrap();
        let t_snap = t.elapsed();
        let c1 = cpu();
        let after = snap.as_ref().map(|s| s.commit_id);
        let mut store = snap.map(|s| s.data).unwrap_or_default();
        let t = Instant::now();
        let mut n = 0;
        matter_wal_native::reader::read_commits(&dir.join("wal"), after, |c| {
            store.apply(&c.commit.ops);
            n += 1;
            true
        })
        .unwrap();
        let t_wal = t.elapsed();
        let c2 = cpu();
        let t = Instant::now();
        let w = matter_wal_native::writer::SegmentWriter::open(&dir.join("wal"), 16 << 20, false).unwrap();
        let t_writer = t.elapsed();
        println!(
            "snapshot {t_snap:?} (cpu {:?}), replay {n} commits {t_wal:?} (cpu {:?}), writer open {t_writer:?} (segment {})",
            c1 - c0,
            c2 - c1,
            w.current_segment()
        );
    }
}
