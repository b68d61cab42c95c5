//! Replays the kept fuzzing corpus (`fuzz/corpus/<target>/*`, seeds plus whatever
//! `cargo fuzz` added and was kept) through the same targets on stable, in `cargo test`.
//! An input that once crashed a target belongs in `fuzz/corpus/<target>/` too.

mod fuzz_targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
        count += 1;
    }
    assert!(count > 0, "empty corpus {}", dir.display());
}

#[test]
fn commit_line_corpus() {
    replay("commit_line", fuzz_targets::commit_line);
}

#[test]
fn segment_reader_corpus() {
    replay("segment_reader", fuzz_targets::segment_reader);
}

#[test]
fn snapshot_loader_corpus() {
    replay("snapshot_loader", fuzz_targets::snapshot_loader);
}
