//! Replays the kept fuzzing inputs through the same targets on stable, in `cargo test`:
//! `fuzz/corpus/<target>/*` (seeds plus what `cargo fuzz` found, minimized to what adds
//! coverage by `fuzz/cmin.sh`) and `fuzz/regressions/<target>/*` (inputs that once made a
//! target fail, kept whole and never minimized away). See `fuzz/README.md`.

mod fuzz_targets;

use std::path::Path;

/// Runs every file of `fuzz/<kind>/<target>/` through `run`; returns how many there were
/// (0 when the folder does not exist).
fn replay_dir(kind: &str, target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind).join(target);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && kind == "regressions" => return 0,
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
        count += 1;
    }
    count
}

fn replay(target: &str, run: fn(&[u8])) {
    assert!(replay_dir("corpus", target, run) > 0, "empty corpus fuzz/corpus/{target}");
    replay_dir("regressions", target, run);
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
