// Loads a storage directory with the engine and prints heap bytes in use (glibc mallinfo2).
// cargo run --release --example memprobe -- DIR
// Linux with glibc only: elsewhere it builds (so `cargo test` builds everywhere) and says so.

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    eprintln!("memprobe reads glibc's mallinfo2: it runs on Linux with glibc only");
    std::process::exit(2);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use std::sync::Arc;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}
#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn mallinfo2() -> MallInfo2;
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    let dir = std::env::args().nth(1).expect("DIR");
    // SAFETY: mallinfo2 takes no arguments and returns its counters by value (glibc >= 2.33).
    let before = unsafe { mallinfo2() };
    let engine = matter_wal_native::Engine::open(std::path::Path::new(&dir), Default::default(), Arc::new(|_| {})).unwrap();
    // SAFETY: as above.
    let after = unsafe { mallinfo2() };
    let (keys, contexts) = engine.read(|s| (s.store.key_count(), s.store.context_count())).expect("state");
    let used = (after.uordblks + after.hblkhd) as f64 - (before.uordblks + before.hblkhd) as f64;
    println!(
        "keys {keys} contexts {contexts}: heap in use +{:.1} MB ({:.0} B/key), arena {:.1} MB, free in arenas {:.1} MB",
        used / 1e6,
        used / keys as f64,
        after.arena as f64 / 1e6,
        after.fordblks as f64 / 1e6
    );
    let bytes: usize = engine
        .read(|s| s.store.contexts().map(|(_, c)| c.iter().map(|(k, v)| k.len() + v.bytes().len()).sum::<usize>()).sum())
        .expect("state");
    println!("payload (key + value bytes) {:.1} MB", bytes as f64 / 1e6);
}
