// Loads a storage directory with the engine and prints heap bytes in use (glibc mallinfo2).
// cargo run --release --example memprobe -- DIR
use std::sync::Arc;

#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize, ordblks: usize, smblks: usize, hblks: usize, hblkhd: usize,
    usmblks: usize, fsmblks: usize, uordblks: usize, fordblks: usize, keepcost: usize,
}
extern "C" {
    fn mallinfo2() -> MallInfo2;
}

fn main() {
    let dir = std::env::args().nth(1).expect("DIR");
    let before = unsafe { mallinfo2() };
    let engine = matter_wal_native::driver::Engine::open(
        std::path::Path::new(&dir),
        Default::default(),
        Arc::new(|_| {}),
    )
    .unwrap();
    let after = unsafe { mallinfo2() };
    let (keys, contexts) = engine.read(|s| (s.store.key_count(), s.store.context_count()));
    let used = (after.uordblks + after.hblkhd) as f64 - (before.uordblks + before.hblkhd) as f64;
    println!(
        "keys {keys} contexts {contexts}: heap in use +{:.1} MB ({:.0} B/key), arena {:.1} MB, free in arenas {:.1} MB",
        used / 1e6,
        used / keys as f64,
        after.arena as f64 / 1e6,
        after.fordblks as f64 / 1e6
    );
    let bytes: usize = engine.read(|s| s.store.contexts().map(|(_, c)| c.iter().map(|(k, v)| k.len() + v.bytes().len()).sum::<usize>()).sum());
    println!("payload (key + value bytes) {:.1} MB", bytes as f64 / 1e6);
}
