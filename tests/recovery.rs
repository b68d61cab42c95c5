//! Crash recovery and I/O-fault behaviour of the engine, on hand-made damaged directories:
//! torn tails, corrupt or missing snapshots, missing segments, failed writes, a vanished
//! directory. A "crash" is simulated by leaking the engine (`std::mem::forget`): nothing is
//! flushed, snapshotted or cleaned, exactly as after SIGKILL (the page cache survives).

use std::fs;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::Duration;

use matter_wal_native::Op;
use matter_wal_native::Value;
use matter_wal_native::{BatchResult, Engine, Error, Options, Submitted};

struct Open {
    engine: Engine,
    results: Receiver<BatchResult>,
}

fn options() -> Options {
    Options { fsync: true, compress_log: false, ..Options::default() }
}

fn open(dir: &Path, options: Options) -> Result<Open, Error> {
    let (tx, results) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let engine = Engine::open(dir, options, Arc::new(move |b| tx.lock().unwrap().send(b).unwrap()))?;
    Ok(Open { engine, results })
}

impl Open {
    fn set(&self, key: &str, value: f64) -> Result<(), Error> {
        let op = Op::upd("ctx", vec![(key.into(), matter_wal_native::Encoded::from_value(&Value::Number(value)))]);
        match self.engine.submit(vec![op])? {
            Submitted::Done(r) => r,
            Submitted::Queued => {
                let batch = self.results.recv_timeout(Duration::from_secs(10)).expect("writer reports");
                assert_eq!(batch.count, 1);
                batch.result
            }
        }
    }

    fn get(&self, key: &str) -> Option<f64> {
        self.engine
            .read(|s| match s.store.get("ctx", key).map(|v| v.decode()) {
                Some(Value::Number(n)) => Some(n),
                _ => None,
            })
            .unwrap()
    }

    fn keys(&self) -> Vec<String> {
        self.engine.read(|s| s.store.keys("ctx").iter().map(|k| k.to_string()).collect()).unwrap()
    }

    /// Simulated SIGKILL: no final snapshot, no clean, no close.
    fn crash(self) {
        std::mem::forget(self.engine);
    }
}

fn numbered(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| format!("k{i:03}")).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn wal(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join("wal").join(name)
}

fn err_of(r: Result<Open, Error>) -> String {
    match r {
        Ok(_) => panic!("expected open to fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn torn_tail_is_cut_so_the_next_commit_is_not_glued_onto_it() {
    // matter.js's writer appends after a torn line: the next commit becomes part of one
    // malformed line and both are lost. Ours cuts the torn bytes first.
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), options()).unwrap();
    s.set("k000", 0.0).unwrap();
    s.crash();
    let mut f = fs::OpenOptions::new().append(true).open(wal(dir.path(), "00000001.jsonl")).unwrap();
    std::io::Write::write_all(&mut f, b"{\"ts\":17,\"ops\":[{\"op\":\"upd\",\"key\":\"ctx\",\"values\":{\"torn\":").unwrap();
    drop(f);
    let s = open(dir.path(), options()).unwrap();
    assert_eq!(s.keys(), vec!["k000"]);
    s.set("k001", 1.0).unwrap();
    s.crash();
    let s = open(dir.path(), options()).unwrap();
    assert_eq!(sorted(s.keys()), numbered(0..2));
    let text = fs::read_to_string(wal(dir.path(), "00000001.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn unterminated_but_complete_last_commit_is_kept_and_fenced() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("wal")).unwrap();
    fs::write(wal(dir.path(), "00000001.jsonl"), b"{\"ts\":1,\"ops\":[{\"op\":\"upd\",\"key\":\"ctx\",\"values\":{\"k000\":0}}]}").unwrap();
    let s = open(dir.path(), options()).unwrap();
    assert_eq!(s.keys(), vec!["k000"]);
    s.set("k001", 1.0).unwrap();
    s.crash();
    let s = open(dir.path(), options()).unwrap();
    assert_eq!(sorted(s.keys()), numbered(0..2));
}

#[test]
fn corrupt_snapshot_is_rebuilt_from_the_full_log() {
    for (compress, garbage) in [(true, &b"\x1f\x8b\x08\x00 not really gzip"[..]), (false, &b"{\"commitId\": {\"segm"[..])] {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options { compress_snapshot: compress, ..options() };
        let s = open(dir.path(), opts.clone()).unwrap();
        for (i, k) in numbered(0..5).iter().enumerate() {
            s.set(k, i as f64).unwrap();
        }
        s.engine.close().unwrap();
        let snap = dir.path().join(if compress { "snapshot.json.gz" } else { "snapshot.json" });
        assert!(snap.exists());
        fs::write(&snap, garbage).unwrap();
        let s = open(dir.path(), opts.clone()).unwrap();
        assert_eq!(sorted(s.keys()), numbered(0..5));
        assert_eq!(s.get("k004"), Some(4.0));
        s.set("k005", 5.0).unwrap();
        s.engine.close().unwrap();
        let s = open(dir.path(), opts).unwrap();
        assert_eq!(sorted(s.keys()), numbered(0..6), "the snapshot written on close is whole again");
    }
}

/// Commits 0..n with tiny segments, closes (snapshot + clean + head snapshot) and returns
/// the snapshot file's path.
fn cleaned_store(dir: &Path, head_snapshot: bool, n: usize) -> std::path::PathBuf {
    let opts = Options { max_segment_size: 200, head_snapshot, ..options() };
    let s = open(dir, opts).unwrap();
    for (i, k) in numbered(0..n).iter().enumerate() {
        s.set(k, i as f64).unwrap();
    }
    s.engine.close().unwrap();
    assert!(!wal(dir, "00000001.jsonl").exists(), "cleaning removed the first segments");
    dir.join("snapshot.json.gz")
}

#[test]
fn corrupt_snapshot_after_cleaning_is_rebuilt_from_head_snapshot_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let snap = cleaned_store(dir.path(), true, 30);
    assert!(dir.path().join("head.json.gz").exists());
    fs::write(&snap, b"garbage").unwrap();
    let opts = Options { max_segment_size: 200, ..options() };
    let s = open(dir.path(), opts.clone()).unwrap();
    assert_eq!(sorted(s.keys()), numbered(0..30));
    s.set("k030", 30.0).unwrap();
    s.crash();
    let s = open(dir.path(), opts).unwrap();
    assert_eq!(sorted(s.keys()), numbered(0..31));
}

#[test]
fn corrupt_snapshot_that_the_log_cannot_replace_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let snap = cleaned_store(dir.path(), false, 30);
    fs::write(&snap, b"garbage").unwrap();
    let e = err_of(open(dir.path(), options()));
    assert!(e.contains(&snap.display().to_string()), "{e}");
    assert!(e.contains("00000001.jsonl is missing"), "{e}");

    // Head snapshot present but corrupt too.
    let dir = tempfile::tempdir().unwrap();
    let snap = cleaned_store(dir.path(), true, 30);
    fs::write(&snap, b"garbage").unwrap();
    fs::write(dir.path().join("head.json.gz"), b"garbage").unwrap();
    let e = err_of(open(dir.path(), options()));
    assert!(e.contains("snapshot.json.gz") && e.contains("head.json.gz"), "{e}");
}

#[test]
fn deleted_snapshot_after_cleaning_is_rebuilt_from_head_or_reported() {
    let dir = tempfile::tempdir().unwrap();
    let snap = cleaned_store(dir.path(), true, 30);
    fs::remove_file(&snap).unwrap();
    let s = open(dir.path(), options()).unwrap();
    assert_eq!(sorted(s.keys()), numbered(0..30));
    drop(s);

    let dir = tempfile::tempdir().unwrap();
    let snap = cleaned_store(dir.path(), false, 30);
    fs::remove_file(&snap).unwrap();
    let e = err_of(open(dir.path(), options()));
    assert!(e.contains("00000001.jsonl is missing"), "{e}");
}

#[test]
fn missing_segment_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { max_segment_size: 200, ..options() };
    let s = open(dir.path(), opts.clone()).unwrap();
    for (i, k) in numbered(0..30).iter().enumerate() {
        s.set(k, i as f64).unwrap();
    }
    s.crash();
    let gone = wal(dir.path(), "00000003.jsonl");
    fs::remove_file(&gone).unwrap();
    let e = err_of(open(dir.path(), opts.clone()));
    assert!(e.contains(&format!("{} is missing", gone.display())), "{e}");

    // The same after a snapshot: only the segments after it matter.
    let dir = tempfile::tempdir().unwrap();
    cleaned_store(dir.path(), true, 30);
    let s = open(dir.path(), opts.clone()).unwrap();
    for (i, k) in numbered(30..60).iter().enumerate() {
        s.set(k, i as f64).unwrap();
    }
    s.crash();
    let mut segments: Vec<_> = fs::read_dir(dir.path().join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
    segments.sort();
    assert!(segments.len() >= 3);
    fs::remove_file(&segments[1]).unwrap();
    let e = err_of(open(dir.path(), opts));
    assert!(e.contains(&format!("{} is missing", segments[1].display())), "{e}");
}

#[test]
fn commits_after_a_snapshot_whose_log_was_lost_are_not_hidden_behind_it() {
    // snapshot.json.gz at commit 1:2 but the log is gone (or, with fsync off, never reached
    // the disk): new commits must get ids after 1:2 or the next load skips them.
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), options()).unwrap();
    for (i, k) in numbered(0..3).iter().enumerate() {
        s.set(k, i as f64).unwrap();
    }
    s.engine.close().unwrap();
    fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let s = open(dir.path(), options()).unwrap();
    assert_eq!(sorted(s.keys()), numbered(0..3));
    s.set("k003", 3.0).unwrap();
    s.crash();
    let s = open(dir.path(), options()).unwrap();
    assert_eq!(sorted(s.keys()), numbered(0..4));
}

#[test]
fn failed_write_changes_nothing_and_later_commits_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { max_segment_size: 100, ..options() };
    let s = open(dir.path(), opts.clone()).unwrap();
    s.set("k000", 0.0).unwrap();
    s.set("k001", 1.0).unwrap();
    assert!(!wal(dir.path(), "00000002.jsonl").exists());
    // The next commit must rotate to segment 2, which cannot be created.
    fs::create_dir(wal(dir.path(), "00000002.jsonl")).unwrap();
    let mut failed = 0;
    for i in 2..6 {
        match s.set(&format!("bad{i}"), i as f64) {
            Ok(()) => panic!("write into a blocked segment succeeded"),
            Err(e) => {
                assert!(e.to_string().contains("00000002.jsonl"), "{e}");
                failed += 1;
            }
        }
    }
    assert_eq!(failed, 4);
    assert_eq!(sorted(s.keys()), numbered(0..2), "failed commits are not applied");
    fs::remove_dir(wal(dir.path(), "00000002.jsonl")).unwrap();
    s.set("k002", 2.0).unwrap();
    s.crash();
    let s = open(dir.path(), opts).unwrap();
    assert_eq!(sorted(s.keys()), numbered(0..3), "exactly the acknowledged commits");
}

#[test]
fn vanished_directory_fails_commits_with_the_file_name() {
    for fsync in [true, false] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("store");
        let s = open(&dir, Options { fsync, ..options() }).unwrap();
        s.set("k000", 0.0).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let e = s.set("k001", 1.0).unwrap_err().to_string();
        assert!(e.contains("00000001.jsonl"), "{e}");
        assert_eq!(s.keys(), vec!["k000"]);
        let e = s.set("k002", 2.0).unwrap_err().to_string();
        assert!(e.contains("00000001.jsonl"), "{e}");
        s.engine.close().ok();
    }
}

#[test]
fn storage_path_under_a_regular_file_is_an_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("file"), b"x").unwrap();
    let dir = root.path().join("file").join("store");
    let e = err_of(open(&dir, options()));
    assert!(e.contains(&dir.display().to_string()), "{e}");
}
