// I/O faults: file too large (RLIMIT_FSIZE), disk full (a small tmpfs), an unusable or
// vanished directory, corrupt snapshots, missing or corrupt segments. A failing commit
// rejects with a StorageError naming the cause and the file and changes nothing; once the
// fault is gone later commits succeed and a reopen shows exactly the acknowledged ones.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
    assertStorageError,
    captureRejection,
    describeKindOrSkipIfNativeMissing,
    makeStorageDir,
    makeTempDir,
    native,
    registerCleanup,
} from "./helpers.mjs";

registerCleanup();

const FAULT_CHILD = fileURLToPath(new URL("./fixtures/fault-child.mjs", import.meta.url));

function hasCommand(args) {
    return spawnSync(args[0], args.slice(1), { stdio: "ignore" }).status === 0;
}

const PRLIMIT = hasCommand(["prlimit", "--version"]);
// A private mount namespace lets a test mount its own tiny tmpfs (root with CAP_SYS_ADMIN).
const TMPFS = process.platform === "linux" && hasCommand(["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || mount -t tmpfs -o size=64k tmpfs /tmp"]);

function runFaultChild(command, args) {
    const result = spawnSync(command, args, { encoding: "utf8", timeout: 60_000 });
    assert.equal(result.status, 0, `child failed (${result.signal ?? result.status}): ${result.stderr}`);
    return JSON.parse(result.stdout.trim().split("\n").at(-1));
}

async function open(dir, options = {}) {
    const driver = new native.WalStorageDriver(dir, { fsync: true, ...options });
    await driver.initialize();
    return driver;
}

async function lengths(dir, options) {
    const driver = await open(dir, options);
    try {
        return Object.fromEntries(Object.entries(await driver.values(["ctx"])).map(([k, v]) => [k, v.length]));
    } finally {
        await driver.close();
    }
}

async function fill(driver, from, to) {
    for (let i = from; i < to; i++) await driver.set(["ctx"], `k${i}`, i);
}

function numbered(from, to) {
    return Object.fromEntries(Array.from({ length: to - from }, (_, i) => [`k${from + i}`, from + i]));
}

async function openError(dir, options = {}) {
    const driver = new native.WalStorageDriver(dir, { fsync: true, ...options });
    const error = await captureRejection(() => driver.initialize());
    assert.equal(driver.initialized, false);
    return error;
}

function assertFailedWrite(failure, cause) {
    assert.equal(failure.name, "StorageError", failure.message);
    assert.match(failure.message, cause);
    assert.match(failure.message, /wal\/0000000\d\.jsonl/, "names the file");
    assert.ok(failure.unchanged, `store changed by the failed commit ${failure.key}`);
}

describeKindOrSkipIfNativeMissing("native", "reliability: I/O faults", () => {
    native.namespace.setLogLevel("off"); // the faults below are logged as warnings by design

    it("file too large (RLIMIT_FSIZE): the commit rejects naming the cause, nothing changes, later commits work", { skip: !PRLIMIT && "prlimit not available" }, async t => {
        const dir = makeStorageDir(t);
        const report = runFaultChild("prlimit", [`--fsize=${128 * 1024}`, process.execPath, FAULT_CHILD, "fsize", dir]);
        assert.deepEqual(report.failures.map(f => f.key), ["huge", "tx1+tx2+txHuge"]);
        for (const failure of report.failures) assertFailedWrite(failure, /File too large/);
        assert.equal(report.closeError, undefined, "close() succeeds even though the final snapshot cannot be written");
        assert.equal(Object.keys(report.acked).length, 22);
        // Reopened without the limit: exactly the acknowledged commits (the snapshot could
        // not be written, so everything comes from the log).
        assert.deepEqual(await lengths(dir), report.acked);
    });

    it("disk full (ENOSPC on a small tmpfs): commits fail cleanly and succeed again once space is back", { skip: !TMPFS && "cannot mount a tmpfs here" }, async t => {
        const mount = makeTempDir(t, "mwn-tmpfs-");
        const dir = path.join(mount, "node0");
        const report = runFaultChild("unshare", [
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" "$3" enospc "$1/node0" "$1"',
            "sh",
            mount,
            process.execPath,
            FAULT_CHILD,
        ]);
        assert.ok(report.failures.length >= 3, "the huge commit, the transaction and the commits that filled the disk failed");
        assert.deepEqual(report.failures.slice(0, 2).map(f => f.key), ["huge", "tx1+tx2+txHuge"]);
        for (const failure of report.failures) assertFailedWrite(failure, /No space left on device/);
        assert.ok(report.acked.bigAfter, "a large commit succeeds once space is back");
        assert.ok(report.acked.small9);
        assert.deepEqual(report.reopened, report.acked, "reopen shows exactly the acknowledged commits");
        assert.ok(!fs.existsSync(dir), "the tmpfs lived only in the child's mount namespace");
    });

    it("a storage path below a regular file fails to initialize with an error naming it", async t => {
        const root = makeTempDir(t);
        fs.writeFileSync(path.join(root, "file"), "x");
        const dir = path.join(root, "file", "node0");
        const error = await openError(dir);
        assertStorageError("native", error, "StorageError", new RegExp(`${dir.replaceAll("/", "\\/")}.*(Not a directory|File exists)`));
    });

    it("a storage directory removed while open: commits reject naming the file, close() does not hang", async t => {
        const dir = makeStorageDir(t);
        for (const fsync of [true, false]) {
            const driver = await open(dir, { fsync });
            await fill(driver, 0, 3);
            fs.rmSync(dir, { recursive: true });
            const error = await captureRejection(() => driver.set(["ctx"], "lost", 1));
            assertStorageError("native", error, "StorageError", /wal\/00000001\.jsonl.*(deleted|No such file)/);
            assert.equal(await driver.get(["ctx"], "lost"), undefined);
            const again = await captureRejection(() => driver.set(["ctx"], "lost2", 1));
            assertStorageError("native", again, "StorageError", /00000001\.jsonl/);
            await driver.close().catch(() => {});
            assert.equal(driver.initialized, false);
        }
    });

    it("a write failing in the writer thread (segment cannot be created) changes nothing; later commits are kept", async t => {
        const dir = makeStorageDir(t);
        const options = { maxSegmentSize: 200, compressLog: false };
        const driver = await open(dir, options);
        await fill(driver, 0, 3);
        const next = fs.readdirSync(path.join(dir, "wal")).sort().at(-1).replace(/^(\w+)/, s => (parseInt(s, 16) + 1).toString(16).padStart(8, "0"));
        fs.mkdirSync(path.join(dir, "wal", next)); // the next segment's name is taken by a directory
        const errors = [];
        for (let i = 3; i < 8; i++) {
            errors.push(await driver.set(["ctx"], `k${i}`, i).then(() => undefined, e => e));
            if (errors.at(-1)) break;
        }
        const error = errors.find(e => e);
        assert.ok(error, "a commit into the blocked segment failed");
        assertStorageError("native", error, "StorageError", new RegExp(`${next}: Is a directory`));
        const acked = numbered(0, 3 + errors.length - 1);
        assert.deepEqual(await driver.values(["ctx"]), acked);
        fs.rmdirSync(path.join(dir, "wal", next));
        await driver.set(["ctx"], "after", 1);
        await driver.close();
        fs.rmSync(path.join(dir, "snapshot.json.gz"));
        const reopened = await open(dir, options);
        assert.deepEqual(await reopened.values(["ctx"]), { ...acked, after: 1 });
        await reopened.close();
    });

    for (const [label, compressSnapshot, garbage] of [
        ["bad gzip", true, Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7])],
        ["bad JSON", false, Buffer.from('{\n  "commitId": {\n    "segment": 1,\n    "off')],
    ]) {
        it(`a corrupt snapshot (${label}) whose WAL segments still exist is rebuilt from the log`, async t => {
            const dir = makeStorageDir(t);
            let driver = await open(dir, { compressSnapshot });
            await fill(driver, 0, 20);
            await driver.close();
            const file = path.join(dir, compressSnapshot ? "snapshot.json.gz" : "snapshot.json");
            fs.writeFileSync(file, garbage);
            driver = await open(dir, { compressSnapshot });
            assert.deepEqual(await driver.values(["ctx"]), numbered(0, 20));
            await fill(driver, 20, 25);
            await driver.close(); // writes a whole snapshot again
            driver = await open(dir, { compressSnapshot });
            assert.deepEqual(await driver.values(["ctx"]), numbered(0, 25));
            await driver.close();
        });
    }

    it("a corrupt snapshot after cleaning: rebuilt from the head snapshot, else an error naming the file", async t => {
        for (const headSnapshot of [true, false]) {
            const dir = makeStorageDir(t, `head-${headSnapshot}`);
            const options = { maxSegmentSize: 300, headSnapshot };
            let driver = await open(dir, options);
            await fill(driver, 0, 40);
            await driver.close(); // snapshot, then cleaning removes the first segments
            assert.ok(!fs.existsSync(path.join(dir, "wal", "00000001.jsonl.gz")));
            fs.writeFileSync(path.join(dir, "snapshot.json.gz"), "not a snapshot");
            if (headSnapshot) {
                driver = await open(dir, options);
                assert.deepEqual(await driver.values(["ctx"]), numbered(0, 40));
                await driver.close();
            } else {
                const error = await openError(dir, options);
                assertStorageError("native", error, "StorageError", /snapshot\.json\.gz.*bad gzip.*00000001\.jsonl is missing/);
            }
        }
    });

    it("missing or corrupt WAL segments are errors naming the file", async t => {
        const dir = makeStorageDir(t);
        const options = { maxSegmentSize: 300, compressLog: false, snapshotInterval: 3_600_000 };
        const driver = await open(dir, options);
        await fill(driver, 0, 40);
        const source = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-test-frozen-"));
        fs.cpSync(dir, source, { recursive: true }); // a copy before close(): no snapshot, all segments
        await driver.close();
        fs.rmSync(path.join(source, "matter.lock"));
        fs.rmSync(path.join(source, "matter.pid"));

        const gap = `${source}-gap`;
        fs.cpSync(source, gap, { recursive: true });
        fs.rmSync(path.join(gap, "wal", "00000003.jsonl"));
        assertStorageError("native", await openError(gap, options), "StorageError", /wal\/00000003\.jsonl is missing/);

        const head = `${source}-head`;
        fs.cpSync(source, head, { recursive: true });
        fs.rmSync(path.join(head, "wal", "00000001.jsonl"));
        assertStorageError("native", await openError(head, options), "StorageError", /wal\/00000001\.jsonl is missing/);

        const corrupt = `${source}-corrupt`;
        fs.cpSync(source, corrupt, { recursive: true });
        fs.rmSync(path.join(corrupt, "wal", "00000002.jsonl"));
        fs.writeFileSync(path.join(corrupt, "wal", "00000002.jsonl.gz"), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff]));
        assertStorageError("native", await openError(corrupt, options), "StorageError", /wal\/00000002\.jsonl\.gz/);

        // The intact copy opens with everything.
        const ok = await open(source, options);
        assert.deepEqual(await ok.values(["ctx"]), numbered(0, 40));
        await ok.close();
        for (const d of [source, gap, head, corrupt]) fs.rmSync(d, { recursive: true, force: true });
    });
});
