// The `matter-wal` command (bin/matter-wal.js), run as a child process against real storage
// directories: one left by a node of ours that died (segments, some gzipped, no snapshot, a
// stale lock) and one written by matter.js's own WalStorageDriver. matter.js's driver is the
// oracle for `dump` (its snapshotAtTime / snapshotAtCommit on a copy must give the same data).

import { before, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

import { FileStorageDriver } from "@matter/nodejs";

import {
    NodeJsFilesystem,
    TsWalStorageDriver,
    copyDir,
    describeKindOrSkipIfNativeMissing,
    fromJson,
    makeTempDir,
    matter,
    matterRoot,
    native,
    registerCleanup,
    segmentName,
    toJson,
} from "./helpers.mjs";

registerCleanup();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "matter-wal.js");
const WRITER = path.join(ROOT, "__test__", "fixtures", "cli-writer.mjs");

/** Runs `matter-wal ARGS` and returns its exit code and output. */
function cli(...args) {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file below `dir` with size and mtime: proves a command changed nothing. */
function listing(dir) {
    const out = [];
    const walk = sub => {
        for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
            const rel = path.join(sub, entry.name);
            if (entry.isDirectory()) walk(rel);
            else {
                const st = fs.statSync(path.join(dir, rel));
                out.push(`${rel} ${st.size} ${st.mtimeMs}`);
            }
        }
    };
    walk("");
    return out.sort();
}

/** A segment's text, whichever form it is stored in. */
function segmentText(dir, segment) {
    const gz = path.join(dir, "wal", segmentName(segment, true));
    if (fs.existsSync(gz)) return zlib.gunzipSync(fs.readFileSync(gz)).toString("utf8");
    return fs.readFileSync(path.join(dir, "wal", segmentName(segment)), "utf8");
}

/** Rewrites a segment as plain text (dropping a gzipped form). */
function writeSegmentText(dir, segment, text) {
    fs.rmSync(path.join(dir, "wal", segmentName(segment, true)), { force: true });
    fs.writeFileSync(path.join(dir, "wal", segmentName(segment)), text);
}

function segmentsOf(dir) {
    return fs
        .readdirSync(path.join(dir, "wal"))
        .map(name => /^([0-9a-f]{8})\.jsonl(\.gz)?$/.exec(name))
        .filter(Boolean)
        .map(m => parseInt(m[1], 16))
        .filter((seg, i, all) => all.indexOf(seg) === i)
        .sort((a, b) => a - b);
}

/** matter.js's own driver on a lock-free copy of `dir`. */
async function openMatterCopy(dir) {
    const copy = copyDir(dir, path.join(makeTempDir(), "copy"));
    const driver = new TsWalStorageDriver(matterRoot(copy), { fsync: false });
    await driver.initialize();
    return driver;
}

const canonical = data => toJson(data);

describeKindOrSkipIfNativeMissing("native", "matter-wal CLI", () => {
    let crashed; // { dir, commits, marks }

    before(() => {
        const dir = path.join(makeTempDir(undefined, "mwn-cli-"), "node");
        const r = spawnSync(process.execPath, [WRITER, dir], { encoding: "utf8", timeout: 60_000 });
        assert.equal(r.status, 0, r.stderr);
        crashed = { dir, ...JSON.parse(r.stdout) };
    });

    // -------------------------------------------------------------------------------------
    // Usage
    // -------------------------------------------------------------------------------------

    it("prints help for the command and every subcommand, and rejects bad usage with exit code 2", () => {
        for (const args of [[], ["--help"], ["help"]]) {
            const r = cli(...args);
            assert.equal(r.code, 0);
            assert.match(r.stdout, /^Usage: matter-wal <command> DIR/);
        }
        for (const command of ["inspect", "dump", "log", "verify", "compact"]) {
            const r = cli(command, "--help");
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, new RegExp(`^Usage: matter-wal ${command} DIR`));
            assert.match(r.stdout, /--progress/);
        }
        assert.equal(cli("--version").stdout.trim(), JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"))).version);
        const cases = [
            [["frobnicate", "x"], /unknown command "frobnicate"/],
            [["inspect"], /inspect needs a storage directory/],
            [["inspect", "a", "b"], /too many arguments/],
            [["dump", "x", "--as-of"], /--as-of needs a value/],
            [["dump", "x", "--as-of", "yesterday-ish"], /is not a time/],
            [["dump", "x", "--commit", "3"], /is not SEG:OFF/],
            [["dump", "x", "--as-of", "1", "--commit", "1:0"], /either --as-of or --commit/],
            [["log", "x", "--bogus"], /unknown option --bogus for log/],
            [["verify", "x", "--json=yes"], /--json takes no value/],
            [["inspect", "x", "--progress", "sometimes"], /--progress takes auto, always or never/],
        ];
        for (const [args, message] of cases) {
            const r = cli(...args);
            assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
            assert.match(r.stderr, message);
        }
        const missing = cli("inspect", path.join(makeTempDir(), "nope"));
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /is not a directory/);
    });

    // -------------------------------------------------------------------------------------
    // inspect / log / dump / verify on a directory left by a node that died
    // -------------------------------------------------------------------------------------

    it("inspect reports segments, commit counts, time range and the stale lock, changing nothing", () => {
        const before = listing(crashed.dir);
        const r = cli("inspect", crashed.dir, "--json");
        assert.equal(r.code, 0, r.stderr);
        const report = JSON.parse(r.stdout);
        assert.equal(report.commits, crashed.commits);
        assert.deepEqual(
            report.segments.map(s => s.segment),
            segmentsOf(crashed.dir),
        );
        assert.ok(report.segments.length > 3, "several segments");
        assert.ok(report.segments.some(s => s.compressed), "rotated segments are gzipped");
        for (const s of report.segments) {
            assert.ok(s.readable && !s.torn && s.malformed === 0);
            assert.equal(s.file, segmentName(s.segment, s.compressed));
            assert.equal(s.compressed ? s.gzSize : s.plainSize, fs.statSync(path.join(crashed.dir, "wal", s.file)).size);
            assert.equal(s.dataSize, Buffer.byteLength(segmentText(crashed.dir, s.segment)));
            assert.ok(s.firstTs <= s.lastTs);
        }
        assert.equal(report.segments.reduce((n, s) => n + s.commits, 0), crashed.commits);
        assert.ok(report.firstTs <= crashed.marks[0].time && report.lastTs <= crashed.marks[2].time);
        assert.equal(report.snapshot, undefined);
        assert.equal(report.lock.alive, false);
        assert.equal(typeof report.lock.pid, "number");
        assert.match(report.lock.stale, /no longer exists/);
        assert.equal(report.errors, 0, JSON.stringify(report.problems));

        const text = cli("inspect", crashed.dir);
        assert.equal(text.code, 0);
        assert.match(text.stdout, /^Storage {3}/);
        assert.match(text.stdout, /Lock {6}stale, left by pid \d+/);
        assert.match(text.stdout, /Snapshot {2}none/);
        assert.match(text.stdout, new RegExp(`Segments  ${report.segments.length} \\(.*\\), .* on disk, ${crashed.commits} commits`));
        assert.match(text.stdout, /00000001\.jsonl(\.gz)? /);
        assert.deepEqual(listing(crashed.dir), before, "inspect is read-only");
    });

    it("log lists every commit, one line each, filtered by context and time; --json gives the WAL lines", () => {
        const before = listing(crashed.dir);
        const all = cli("log", crashed.dir);
        assert.equal(all.code, 0, all.stderr);
        const lines = all.stdout.trimEnd().split("\n");
        assert.equal(lines.length, crashed.commits);
        assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {2}1:0 +set node0\.ep0 n=0 label="label 0" big=0n bytes=<2 bytes 00ff> map=Map\(1\) \{ 0 => \{ on: true \} \}$/);
        assert.ok(lines.some(l => / del node0\.ep0 label$/.test(l)));
        assert.ok(lines.some(l => / clear node0\.ep2$/.test(l)));
        assert.match(all.stderr, new RegExp(`${crashed.commits} of ${crashed.commits} commits listed`));

        const tx = cli("log", crashed.dir, "--context", "node1");
        assert.deepEqual(
            tx.stdout.trimEnd().split("\n").map(l => l.replace(/^\S+\s+\S+\s+/, "")),
            ["set node1 a=1; set node1.sub b=[1, 2]"],
        );
        const ep2 = cli("log", crashed.dir, "--context", "node0.ep2").stdout.trimEnd().split("\n");
        assert.ok(ep2.every(l => / (set|del|clear) node0\.ep2\b/.test(l)) && ep2.length > 5);

        const since = cli("log", crashed.dir, "--since", String(crashed.marks[1].time + 1));
        assert.equal(since.stdout.trimEnd().split("\n").length, crashed.commits - crashed.marks[1].commits);
        const iso = cli("log", crashed.dir, "--since", new Date(crashed.marks[1].time + 1).toISOString());
        assert.equal(iso.stdout, since.stdout);

        const json = cli("log", crashed.dir, "--json").stdout.trimEnd().split("\n");
        assert.equal(json.length, crashed.commits);
        const walLines = segmentText(crashed.dir, 1).trimEnd().split("\n");
        walLines.forEach((line, offset) => {
            const { commitId, ...commit } = JSON.parse(json[offset]);
            assert.deepEqual(commitId, { segment: 1, offset });
            assert.equal(JSON.stringify(commit), line, "the JSON line is the WAL line plus its commit id");
        });
        assert.deepEqual(listing(crashed.dir), before, "log is read-only");
    });

    it("dump gives the same state as matter.js's own driver, now, as of each time and as of a commit", async () => {
        const before = listing(crashed.dir);
        const oracle = await openMatterCopy(crashed.dir);
        try {
            const latest = cli("dump", crashed.dir, "--json");
            assert.equal(latest.code, 0, latest.stderr);
            const mine = fromJson(latest.stdout);
            const theirs = await oracle.snapshotAtTime();
            assert.deepEqual(mine.commitId, theirs.commitId);
            assert.equal(mine.ts, theirs.ts);
            assert.equal(canonical(mine.data), canonical(theirs.data));

            for (const mark of crashed.marks.slice(0, 2)) {
                const asOf = fromJson(cli("dump", crashed.dir, "--as-of", String(mark.time), "--json").stdout);
                const expected = await oracle.snapshotAtTime(mark.time);
                assert.deepEqual(asOf.commitId, expected.commitId);
                assert.equal(canonical(asOf.data), canonical(expected.data));
                const iso = fromJson(cli("dump", crashed.dir, "--as-of", new Date(mark.time).toISOString(), "--json").stdout);
                assert.equal(canonical(iso.data), canonical(expected.data));
            }

            const segments = segmentsOf(crashed.dir);
            for (const commitId of [{ segment: 1, offset: 0 }, { segment: segments[2], offset: 1 }, { segment: segments.at(-1), offset: 0 }]) {
                const r = cli("dump", crashed.dir, "--commit", `${commitId.segment}:${commitId.offset}`, "--json");
                assert.equal(r.code, 0, r.stderr);
                const expected = await oracle.snapshotAtCommit(commitId);
                assert.deepEqual(fromJson(r.stdout).commitId, commitId);
                assert.equal(canonical(fromJson(r.stdout).data), canonical(expected.data));
            }

            const scoped = fromJson(cli("dump", crashed.dir, "--context", "node0.ep1", "--json").stdout);
            assert.deepEqual(Object.keys(scoped.data), ["node0.ep1"]);
            assert.equal(canonical(scoped.data["node0.ep1"]), canonical(theirs.data["node0.ep1"]));
            const node1 = fromJson(cli("dump", crashed.dir, "--context", "node1", "--json").stdout);
            assert.deepEqual(Object.keys(node1.data), ["node1", "node1.sub"]);

            const human = cli("dump", crashed.dir, "--context", "node1").stdout;
            assert.equal(human.replace(/^# as of commit \S+ \(\S+\), /, "# "), "# 2 contexts, 2 keys\n[node1]\n  a = 1\n[node1.sub]\n  b = [1, 2]\n");
            const ep0 = /\[node0\.ep0\]\n((?: {2}.*\n)*)/.exec(cli("dump", crashed.dir).stdout)[1].trimEnd().split("\n").sort();
            assert.deepEqual(ep0, [
                `  big = ${44n ** 20n}n`,
                "  bytes = <2 bytes 2cff>",
                '  label = "label 44"',
                "  map = Map(1) { 44 => { on: true } }",
                "  n = 44",
            ]);
            const early = cli("dump", crashed.dir, "--as-of", "1000");
            assert.equal(early.code, 0);
            assert.equal(early.stdout, "# nothing committed up to this point\n");
        } finally {
            await oracle.close();
        }
        assert.deepEqual(listing(crashed.dir), before, "dump is read-only");
    });

    it("verify passes an intact directory and reports malformed, torn, missing and unreadable segments with exit code 1", () => {
        const ok = cli("verify", crashed.dir);
        assert.equal(ok.code, 0, ok.stdout + ok.stderr);
        assert.match(ok.stdout, new RegExp(`^checked ${segmentsOf(crashed.dir).length} segments \\(${crashed.commits} commits\\)`));
        assert.match(ok.stdout, /OK: 0 errors/);

        const damaged = copyDir(crashed.dir, path.join(makeTempDir(), "damaged"));
        const segments = segmentsOf(damaged);
        const last = segments.at(-1);
        // A malformed line in the middle of segment 1, a torn last line in the newest segment,
        // segment 3 lost, and segment 2 cut in half while gzipped.
        const first = segmentText(damaged, 1).split("\n");
        first[1] = '{"ts":1,"ops":[{"op":"upsert","key":"x"}]}';
        writeSegmentText(damaged, 1, first.join("\n"));
        fs.appendFileSync(path.join(damaged, "wal", segmentName(last)), '{"ts":1,"ops":[{"op":"upd","ke');
        fs.rmSync(path.join(damaged, "wal", segmentName(3)), { force: true });
        fs.rmSync(path.join(damaged, "wal", segmentName(3, true)), { force: true });
        const gz = zlib.gzipSync(segmentText(damaged, 2));
        fs.rmSync(path.join(damaged, "wal", segmentName(2)), { force: true });
        fs.writeFileSync(path.join(damaged, "wal", segmentName(2, true)), gz.subarray(0, gz.length >> 1));

        const r = cli("verify", damaged);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /^error +wal\/00000001\.jsonl line 2 \(commit 1:1\) {2}malformed: .*unknown op kind `upsert`/m);
        assert.match(r.stdout, /^error +wal\/00000002\.jsonl\.gz {2}unreadable: cannot read segment/m);
        assert.match(r.stdout, /^error +segment 3 {2}missing-segment: segment 3 missing between 00000002\.jsonl and 00000004\.jsonl/m);
        const tornLine = segmentText(damaged, last).split("\n").length;
        assert.match(r.stdout, new RegExp(`^error +wal/${segmentName(last).replace(".", "\\.")} line ${tornLine} \\(commit ${last}:${tornLine - 1}\\) {2}torn: `, "m"));
        assert.match(r.stdout, /DAMAGED: 4 errors/);

        const json = JSON.parse(cli("verify", damaged, "--json").stdout);
        assert.equal(json.errors, 4);
        assert.deepEqual(json.problems.filter(p => p.severity === "error").map(p => p.kind).sort(), ["malformed", "missing-segment", "torn", "unreadable"]);

        // The core's warning about the malformed line reaches stderr while dump replays.
        const dump = cli("dump", damaged, "--commit", "1:2");
        assert.equal(dump.code, 0, dump.stderr);
        assert.match(dump.stderr, /^matter-wal: warning: Skipping malformed WAL line at segment 1, offset 1 /m);
    });

    it("reports progress on stderr when asked, and stays quiet on short runs by default", () => {
        const quiet = cli("inspect", crashed.dir);
        assert.equal(quiet.stderr, "");
        const loud = cli("verify", crashed.dir, "--progress", "always");
        const total = segmentsOf(crashed.dir).length;
        for (let i = 1; i <= total; i++) {
            assert.match(loud.stderr, new RegExp(`^matter-wal: checking segment ${i}/${total} \\(0000`, "m"));
        }
        assert.match(cli("dump", crashed.dir, "--progress=always").stderr, new RegExp(`replaying segment ${total}/${total}`));
        assert.equal(cli("dump", crashed.dir, "-q").stderr, "");
    });

    // -------------------------------------------------------------------------------------
    // compact
    // -------------------------------------------------------------------------------------

    it("compact refuses while a live driver of ours holds the lock, and changes nothing", async () => {
        const dir = copyDir(crashed.dir, path.join(makeTempDir(), "live"));
        const driver = new native.WalStorageDriver(dir, { fsync: false, compressLog: false });
        await driver.initialize();
        try {
            const before = listing(dir);
            const r = cli("compact", dir);
            assert.equal(r.code, 3, r.stderr);
            assert.equal(r.stderr, `matter-wal: Refusing to compact ${dir}: Storage is locked by another process (pid ${process.pid}). Stop the process using it (or close its driver) first.\n`);
            assert.deepEqual(listing(dir), before);
            const inspect = JSON.parse(cli("inspect", dir, "--json").stdout);
            assert.deepEqual({ pid: inspect.lock.pid, alive: inspect.lock.alive }, { pid: process.pid, alive: true });
        } finally {
            await driver.close();
        }
    });

    it("compact snapshots, cleans and gzips a dead node's directory; the state and both drivers agree afterwards", async () => {
        const dir = copyDir(crashed.dir, path.join(makeTempDir(), "compact"));
        // copyDir leaves the lock out; put the dead owner's lock back, plus a temp file of an interrupted gzip.
        fs.writeFileSync(path.join(dir, "matter.lock"), "");
        fs.writeFileSync(path.join(dir, "matter.pid"), "4194305 0123456789abcdef");
        fs.writeFileSync(path.join(dir, "wal", `${segmentName(1)}.gz.tmp`), "partial");
        const stateBefore = cli("dump", dir, "--json").stdout;
        const segmentsBefore = segmentsOf(dir);
        const tempFiles = fs.readdirSync(path.join(dir, "wal")).filter(name => name.endsWith(".tmp")).length;

        const r = cli("compact", dir);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^reclaimed a stale lock: owner process 4194305 no longer exists\n/);
        assert.match(r.stdout, new RegExp(`removed ${tempFiles} temp file${tempFiles === 1 ? "" : "s"} left by interrupted writes`));
        const last = segmentsBefore.at(-1);
        assert.match(r.stdout, new RegExp(`snapshot at commit ${last}:\\d+ \\(6 contexts, \\d+ keys, ${crashed.commits} commits replayed\\) written to snapshot\\.json\\.gz`));
        assert.match(r.stdout, new RegExp(`removed ${segmentsBefore.length - 1} segments`));

        assert.deepEqual(segmentsOf(dir), [last]);
        assert.deepEqual(fs.readdirSync(dir).sort(), ["head.json.gz", "snapshot.json.gz", "wal"]);
        assert.equal(cli("dump", dir, "--json").stdout, stateBefore, "compaction keeps the state byte for byte");
        const verify = cli("verify", dir);
        assert.equal(verify.code, 0);
        assert.match(verify.stdout, /OK: 0 errors, 0 warnings/);
        // History folded into head.json stays reachable up to its last commit.
        const head = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, "head.json.gz"))));
        assert.equal(head.commitId.segment, last - 1);
        assert.equal(cli("dump", dir, "--as-of", String(head.ts), "--json").code, 0);

        const oracle = await openMatterCopy(dir);
        try {
            assert.equal(canonical((await oracle.snapshotAtTime()).data), canonical(fromJson(stateBefore).data));
        } finally {
            await oracle.close();
        }
        const ours = new native.WalStorageDriver(dir, { fsync: false });
        await ours.initialize();
        try {
            assert.equal(canonical((await ours.snapshotAtTime()).data), canonical(fromJson(stateBefore).data));
        } finally {
            await ours.close();
        }

        const again = JSON.parse(cli("compact", dir, "--no-compress-snapshot", "--json").stdout);
        assert.equal(again.snapshotFile, "snapshot.json");
        assert.equal(again.segmentsRemoved, 0);
        assert.equal(again.staleLock, undefined);
        assert.ok(fs.existsSync(path.join(dir, "snapshot.json")) && !fs.existsSync(path.join(dir, "snapshot.json.gz")));
    });

    it("compact refuses a directory that is not WAL storage, without leaving a lock there", () => {
        const dir = makeTempDir();
        fs.writeFileSync(path.join(dir, "notes.txt"), "x");
        const r = cli("compact", dir);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /is not a WAL storage directory/);
        assert.deepEqual(fs.readdirSync(dir), ["notes.txt"]);
    });

    it("every help's option descriptions start in one column", () => {
        for (const command of ["inspect", "dump", "log", "verify", "compact"]) {
            const lines = cli(command, "--help").stdout.split("\n");
            const options = lines.filter(line => /^ {2}-/.test(line));
            assert.ok(options.length >= 4, `${command}: ${options.join("\n")}`);
            // The flag (single spaces inside, as in "-q, --quiet"), then two or more spaces.
            const column = line => /^ {2}\S+(?: \S+)*? {2,}/.exec(line)[0].length;
            const columns = new Set(options.map(column));
            assert.equal(columns.size, 1, `${command} --help:\n${options.join("\n")}`);
            // Continuation lines are indented to that column too, and nothing is wider than 100.
            const at = [...columns][0];
            const start = lines.indexOf(options[0]);
            for (const line of lines.slice(start).filter(l => l.length > 0 && !/^ {2}-/.test(l))) {
                assert.equal(line.length - line.trimStart().length, at, `${command}: continuation "${line}"`);
            }
            assert.ok(lines.every(l => l.length <= 100), `${command}: ${lines.find(l => l.length > 100)}`);
        }
    });

    it("dump --commit of a commit that does not exist fails with exit code 1, naming it and its neighbours", () => {
        const segments = segmentsOf(crashed.dir);
        const last = segments.at(-1);
        const lastOffset = segmentText(crashed.dir, last).trimEnd().split("\n").length - 1;
        const beyond = cli("dump", crashed.dir, "--commit", "99:0");
        assert.equal(beyond.code, 1, beyond.stdout);
        assert.equal(beyond.stdout, "");
        assert.equal(
            beyond.stderr,
            `matter-wal: There is no commit 99:0 in ${crashed.dir} (the last commit is ${last}:${lastOffset}; \`matter-wal log\` lists them)\n`,
        );
        const pastEnd = cli("dump", crashed.dir, "--commit", `${last}:${lastOffset + 1}`, "--json");
        assert.equal(pastEnd.code, 1);
        assert.match(pastEnd.stderr, new RegExp(`There is no commit ${last}:${lastOffset + 1} `));
        // The last commit itself is there.
        const ok = cli("dump", crashed.dir, "--commit", `${last}:${lastOffset}`, "--json");
        assert.equal(ok.code, 0, ok.stderr);
        assert.deepEqual(fromJson(ok.stdout).commitId, { segment: last, offset: lastOffset });
    });

    it("counts in the singular for one: 1 context, 1 key, 1 commit, 1 segment", async () => {
        const dir = path.join(makeTempDir(), "one");
        const driver = new native.WalStorageDriver(dir, { fsync: false });
        await driver.initialize();
        await driver.set(["solo"], "k", 1);
        await driver.close();
        const dump = cli("dump", dir);
        assert.equal(dump.code, 0, dump.stderr);
        assert.match(dump.stdout, /^# as of commit 1:0 \(\S+\), 1 context, 1 key\n\[solo\]\n {2}k = 1\n$/);
        const log = cli("log", dir);
        assert.equal(log.stderr, "matter-wal: 1 of 1 commit listed\n");
        assert.match(cli("inspect", dir).stdout, /^Segments {2}1 \(1 plain, 0 gz\), .* on disk, 1 commit, /m);
        assert.match(cli("verify", dir).stdout, /^checked 1 segment \(1 commit\), snapshot\.json(\.gz)? in /);
        const compact = cli("compact", dir);
        assert.equal(compact.code, 0, compact.stderr);
        assert.match(compact.stdout, /\(1 context, 1 key, 0 commits replayed\)|\(1 context, 1 key, 1 commit replayed\)/);
        assert.match(cli("inspect", dir).stdout, /^Snapshot {2}snapshot\.json\S*\s+.*commit 1:0 .* 1 context, 1 key$/m);
    });

    it("on a matter.js storage root or another driver's node directory, lists the node directories and their drivers", async () => {
        const root = makeTempDir(undefined, "mwn-cli-root-");
        const env = new matter.Environment("mwn-cli");
        env.set(matter.Filesystem, new NodeJsFilesystem(root));
        const service = env.get(matter.StorageService);
        service.registerDriver(FileStorageDriver);
        native.namespace.registerWalDriver(service);
        const write = async (namespace, driver) => {
            service.configuredDriver = driver;
            const manager = await service.open(namespace);
            await manager.driver.set(["root", "basicInformation"], "nodeLabel", namespace);
            await manager.close();
        };
        await write("light", "wal");
        await write("bridge", "file");
        assert.deepEqual(JSON.parse(fs.readFileSync(path.join(root, "bridge", "driver.json"), "utf8")).kind, "file");
        const before = listing(root);

        for (const command of ["inspect", "dump", "log", "verify", "compact"]) {
            const r = cli(command, root);
            assert.equal(r.code, 1, `${command}: ${r.stdout}`);
            assert.equal(
                r.stderr,
                `matter-wal: ${root} is not a WAL storage directory (no wal/, snapshot.json[.gz] or head.json[.gz]); ` +
                    "it looks like a matter.js storage root. The node directories below it:\n" +
                    "  bridge  file  (driver.json)\n" +
                    "  light   wal   (driver.json)\n" +
                    `matter-wal reads the "wal" ones, e.g. matter-wal inspect ${path.join(root, "light")}\n`,
                command,
            );
            const bridge = cli(command, path.join(root, "bridge"));
            assert.equal(bridge.code, 1);
            assert.equal(
                bridge.stderr,
                `matter-wal: ${path.join(root, "bridge")} is not a WAL storage directory: its driver.json says matter.js's "file" driver. ` +
                    'matter-wal reads directories of the "wal" driver only.\n',
            );
        }
        assert.deepEqual(listing(root), before, "nothing written, no lock left behind");
        const light = cli("dump", path.join(root, "light"));
        assert.equal(light.code, 0, light.stderr);
        assert.match(light.stdout, /\[root\.basicInformation\]\n {2}nodeLabel = "light"\n/);
    });

    // -------------------------------------------------------------------------------------
    // A directory written by matter.js's own driver
    // -------------------------------------------------------------------------------------

    it("works on a directory matter.js's driver is writing (live lock) and on one it closed", async () => {
        const dir = path.join(makeTempDir(), "matter");
        const driver = new TsWalStorageDriver(matterRoot(dir), { fsync: false, maxSegmentSize: 1200, compressLog: false });
        await driver.initialize();
        let closed = false;
        try {
            for (let i = 0; i < 40; i++) {
                await driver.set(["fabric", `f${i % 3}`], { i, id: BigInt(i) << 70n, key: new Uint8Array([i, 7]), acl: new Map([[i, [i]]]) });
            }
            await driver.delete(["fabric", "f1"], "acl");

            const report = JSON.parse(cli("inspect", dir, "--json").stdout);
            assert.equal(report.commits, 41);
            assert.deepEqual({ pid: report.lock.pid, alive: report.lock.alive }, { pid: process.pid, alive: true });
            assert.equal(cli("verify", dir).code, 0);
            assert.equal(cli("compact", dir).code, 3, "matter.js's lock is respected too");
            assert.equal(cli("log", dir).stdout.trimEnd().split("\n").length, 41);
            const dumped = fromJson(cli("dump", dir, "--json").stdout);
            assert.equal(canonical(dumped.data), canonical((await driver.snapshotAtTime()).data));

            await driver.close();
            closed = true;
            const after = JSON.parse(cli("inspect", dir, "--json").stdout);
            const snapshotFile = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, "snapshot.json.gz"))));
            assert.deepEqual(after.snapshot.commitId, snapshotFile.commitId);
            assert.equal(after.snapshot.ts, snapshotFile.ts);
            assert.equal(after.snapshot.keys, 12 - 1);
            assert.equal(after.lock, undefined);
            assert.equal(cli("verify", dir).code, 0);
            assert.equal(canonical(fromJson(cli("dump", dir, "--json").stdout).data), canonical(dumped.data));
        } finally {
            if (!closed) await driver.close();
        }
    });
});
