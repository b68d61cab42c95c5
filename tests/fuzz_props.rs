//! Property tests over arbitrary and mutated bytes for the commit-line parser, the segment
//! reader, the snapshot loader and a whole engine open: nothing panics, errors are `Err`s.
//! `cargo test` runs a short pass; `PROPTEST_CASES=100000 cargo test --release --test
//! fuzz_props` a long one. The libFuzzer version of the same targets is under `fuzz/`.

mod fuzz_targets;

use std::fs;
use std::sync::Arc;

use proptest::prelude::*;

use matter_wal_native::{Engine, Options};

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Valid commit lines and snapshots as matter.js writes them, to mutate.
const SEEDS: &[&str] = &[
    r#"{"ts":1700000000000,"ops":[{"op":"upd","key":"a.b","values":{"k":"v","n":1.5,"big":"{\"__object__\":\"BigInt\",\"__value__\":\"-12\"}","bytes":"{\"__object__\":\"Uint8Array\",\"__value__\":\"00ff\"}","map":"{\"__object__\":\"Map\",\"__value__\":\"[[\\\"a\\\",1]]\"}","u":"{\"__object__\":\"Undefined\"}","arr":[1,[2,{"x":null}],true]}},{"op":"del","key":"a.b","values":["k"]},{"op":"del","key":"c"}]}"#,
    r#"[{"op":"upd","key":"legacy","values":{"0":1,"10":2,"a":3}}]"#,
    "{\n  \"commitId\": {\n    \"segment\": 3,\n    \"offset\": 7\n  },\n  \"ts\": 5,\n  \"data\": {\n    \"a.b\": {\n      \"k\": [\n        1,\n        \"{\\\"__object__\\\":\\\"BigInt\\\",\\\"__value__\\\":\\\"7\\\"}\"\n      ]\n    },\n    \"e\": {}\n  }\n}",
];

/// A seed with random damage: truncation, byte flips, insertions, duplicated slices.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (0..SEEDS.len(), prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 0..6), any::<u16>()).prop_map(|(seed, edits, cut)| {
        let mut bytes = SEEDS[seed].as_bytes().to_vec();
        for (at, byte, kind) in edits {
            let at = at as usize % (bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                2 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {
                    let end = (at + byte as usize).min(bytes.len());
                    let slice = bytes[at..end].to_vec();
                    bytes.splice(at..at, slice);
                }
            }
        }
        if cut % 3 == 0 {
            bytes.truncate(cut as usize % (bytes.len() + 1));
        }
        bytes
    })
}

fn lines() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![mutated(), prop::collection::vec(any::<u8>(), 0..64)], 0..8).prop_map(|ls| ls.join(&b'\n'))
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..512), mutated(), lines()]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn commit_line_parser_never_panics(data in bytes()) {
        fuzz_targets::commit_line(&data);
    }

    #[test]
    fn snapshot_loader_never_panics(data in bytes()) {
        fuzz_targets::snapshot_loader(&data);
    }
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn segment_reader_never_panics(data in bytes()) {
        fuzz_targets::segment_reader(&data);
    }

    /// A whole open over damaged files: Ok or Err, never a panic, and an engine that opened
    /// takes a commit and closes.
    #[test]
    fn engine_open_never_panics(
        snapshot in prop::option::of(bytes()),
        gz_snapshot in any::<bool>(),
        head in prop::option::of(bytes()),
        segments in prop::collection::vec((1u32..5, any::<bool>(), lines()), 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("wal")).unwrap();
        if let Some(s) = snapshot {
            let (name, bytes) = if gz_snapshot { ("snapshot.json.gz", fuzz_targets::gzip(&s)) } else { ("snapshot.json", s) };
            fs::write(dir.path().join(name), bytes).unwrap();
        }
        if let Some(h) = head {
            fs::write(dir.path().join("head.json"), h).unwrap();
        }
        for (seg, gz, content) in segments {
            let name = format!("{seg:08x}.jsonl{}", if gz { ".gz" } else { "" });
            fs::write(dir.path().join("wal").join(name), if gz { fuzz_targets::gzip(&content) } else { content }).unwrap();
        }
        let options = Options { fsync: false, ..Options::default() };
        if let Ok(engine) = Engine::open(dir.path(), options, Arc::new(|_| {})) {
            let op = matter_wal_native::Op::Del { key: "x".into(), values: None };
            let _ = engine.submit(vec![op]);
            let _ = engine.close();
        }
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_stack_overflow() {
    for depth in [1_000usize, 100_000, 1_000_000] {
        let mut line = b"{\"ts\":1,\"ops\":[{\"op\":\"upd\",\"key\":\"a\",\"values\":{\"k\":".to_vec();
        line.extend(std::iter::repeat_n(b'[', depth));
        line.extend(std::iter::repeat_n(b']', depth));
        line.extend_from_slice(b"}}]}");
        fuzz_targets::commit_line(&line);
        let mut snap = b"{\"commitId\":{\"segment\":1,\"offset\":0},\"data\":{\"a\":{\"k\":".to_vec();
        snap.extend(std::iter::repeat_n(b'{', 1).chain(std::iter::repeat_n(b"{\"x\":"[0], 0)));
        snap.extend(std::iter::repeat_n(&b"{\"x\":"[..], depth).flatten());
        snap.extend(std::iter::repeat_n(b'}', depth + 1));
        snap.extend_from_slice(b"}}}");
        fuzz_targets::snapshot_loader(&snap);
    }
}
