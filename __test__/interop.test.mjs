// Interoperability tests: storage written by one implementation must read back identically with the other, and the
// native driver must produce byte-identical WAL lines and snapshots to matter.js's serializer.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import zlib from "node:zlib";
import fs from "node:fs";

import {
    AVAILABLE_KINDS,
    KINDS,
    NATIVE_AVAILABLE,
    applyOps,
    canon,
    copyDir,
    describeEachKind,
    describeKindOrSkipIfNativeMissing,
    dumpDriver,
    dumpModel,
    isGzipFile,
    listSegments,
    makeTempDir,
    nextMillisecond,
    openDriver,
    outcome,
    persistedOps,
    randomContexts,
    randomRecord,
    randomValue,
    readSegmentLines,
    readSnapshotFile,
    readWal,
    registerCleanup,
    rng,
    safeClose,
    snapshotView,
    storageDirNames,
    toJson,
    valueSamples,
    waitForCompression,
    walDirNames,
} from "./helpers.mjs";

registerCleanup();

const HOUR = 60 * 60 * 1000;

// -----------------------------------------------------------------------------------------------------------------
// Scenario: a deterministic sequence of commits exercising every value type, rotation, gzip, snapshot, head snapshot
// -----------------------------------------------------------------------------------------------------------------

const SCENARIO_OPTIONS = { maxSegmentSize: 600, compressLog: true, compressSnapshot: true, headSnapshot: true };

const CONTEXTS = [
    ["node", "fabric", "1"],
    ["node", "fabric", "2"],
    ["node", "endpoint", "10", "cluster", "6"],
    ["node", "endpoint", "2"],
    ["7"],
    ["root"],
    [],
];

/** Commands: {type: "set"|"setMany"|"delete"|"clearAll", contexts, key?, value?, values?}; a commit is a list. */
function scenarioCommits() {
    const r = rng(0x5eed);
    const commits = [];
    valueSamples().forEach(([key, value], i) => {
        commits.push([{ type: "set", contexts: CONTEXTS[i % CONTEXTS.length], key, value }]);
    });
    for (let i = 0; i < 45; i++) {
        const contexts = r() < 0.5 ? CONTEXTS[Math.floor(r() * CONTEXTS.length)] : randomContexts(r);
        const roll = r();
        if (roll < 0.35) {
            commits.push([{ type: "set", contexts, key: `r${i}`, value: randomValue(r) }]);
        } else if (roll < 0.6) {
            commits.push([{ type: "setMany", contexts, values: randomRecord(r) }]);
        } else if (roll < 0.7) {
            commits.push([{ type: "delete", contexts, key: r() < 0.5 ? `r${i - 3}` : "string1" }]);
        } else if (roll < 0.75) {
            commits.push([{ type: "clearAll", contexts: randomContexts(r) }]);
        } else {
            commits.push([
                { type: "set", contexts, key: `tx${i}`, value: randomValue(r) },
                { type: "setMany", contexts: randomContexts(r), values: randomRecord(r) },
                { type: "delete", contexts, key: `r${i - 1}` },
                ...(r() < 0.3 ? [{ type: "clearAll", contexts: randomContexts(r) }] : []),
            ]);
        }
    }
    return commits;
}

/** The WAL ops a command list produces (matter.js's WalTransaction encoding). */
function opsOf(commands) {
    return commands.map(c => {
        const key = c.contexts.join(".");
        switch (c.type) {
            case "set":
                return { op: "upd", key, values: { [c.key]: c.value } };
            case "setMany":
                return { op: "upd", key, values: c.values };
            case "delete":
                return { op: "del", key, values: [c.key] };
            case "clearAll":
                return { op: "del", key };
        }
        throw new Error(`bad command ${c.type}`);
    });
}

async function applyCommit(driver, commands) {
    if (commands.length === 1) {
        const [c] = commands;
        switch (c.type) {
            case "set":
                return driver.set(c.contexts, c.key, c.value);
            case "setMany":
                return driver.set(c.contexts, c.values);
            case "delete":
                return driver.delete(c.contexts, c.key);
            case "clearAll":
                return driver.clearAll(c.contexts);
        }
    }
    const tx = await driver.begin();
    for (const c of commands) {
        if (c.type === "set") tx.set(c.contexts, c.key, c.value);
        else if (c.type === "setMany") tx.set(c.contexts, c.values);
        else if (c.type === "delete") tx.delete(c.contexts, c.key);
        else tx.clearAll(c.contexts);
    }
    await tx.commit();
    await tx[Symbol.asyncDispose]();
}

/**
 * Write the scenario with `kind` into a fresh directory.
 * Phase A writes ~70 commits with rotation + gzip and closes (final snapshot, clean, head snapshot).
 * Phase B reopens, writes the rest, and the directory is frozen ("mid": snapshot + head + WAL commits after the
 * snapshot + gzipped rotated segments) before closing again ("final").
 */
async function writeScenario(kind) {
    const base = makeTempDir(undefined);
    const dir = path.join(base, `written-by-${kind}`);
    const commits = scenarioCommits();
    const split = 70;
    const model = {};

    const run = async (driver, list) => {
        let segments = 0;
        for (let i = 0; i < list.length; i++) {
            if (i % 4 === 0) await nextMillisecond();
            await applyCommit(driver, list[i]);
            applyOps(model, persistedOps(opsOf(list[i])));
            // let the background compressor finish after each rotation (matter.js's compressor races with itself)
            const count = new Set(listSegments(dir).map(s => s.segment)).size;
            if (count !== segments) {
                segments = count;
                await waitForCompression(dir);
            }
        }
        await waitForCompression(dir);
    };

    let driver = await openDriver(kind, dir, SCENARIO_OPTIONS);
    await run(driver, commits.slice(0, split));
    await driver.close();

    driver = await openDriver(kind, dir, SCENARIO_OPTIONS);
    await run(driver, commits.slice(split));
    const mid = copyDir(dir, path.join(base, "mid"));
    await driver.close();
    const final = copyDir(dir, path.join(base, "final"));
    return { mid, final, model, commits };
}

/** Points at which to compare snapshotAtCommit / snapshotAtTime, derived from the files on disk. */
function snapshotPoints(dir) {
    const wal = readWal(dir);
    const snap = readSnapshotFile(dir);
    const head = readSnapshotFile(dir, "head");
    const commitIds = [undefined, { segment: 1, offset: 0 }, { segment: 0, offset: 0 }, { segment: 999, offset: 0 }];
    const times = [undefined, 0, Date.now() + HOUR];
    for (const s of [snap, head]) {
        if (!s) continue;
        commitIds.push(s.parsed.commitId, { segment: s.parsed.commitId.segment, offset: s.parsed.commitId.offset + 1 });
        times.push(s.parsed.ts, s.parsed.ts - 1, s.parsed.ts + 1);
    }
    for (const entry of wal) {
        commitIds.push(entry.id);
        times.push(entry.commit.ts, entry.commit.ts - 1);
    }
    return { commitIds, times: [...new Set(times)] };
}

/** Everything a reader exposes for a storage directory (read from a private copy). */
async function readReport(kind, sourceDir, points) {
    const dir = copyDir(sourceDir, path.join(makeTempDir(undefined), "copy"));
    const driver = await openDriver(kind, dir, { compressSnapshot: true });
    try {
        const dump = await dumpDriver(driver);
        const byCommit = [];
        for (const id of points.commitIds) {
            byCommit.push({ id, result: await outcome(() => driver.snapshotAtCommit(id), snapshotAccessView) });
        }
        const byTime = [];
        for (const ts of points.times) {
            byTime.push({ ts, result: await outcome(() => driver.snapshotAtTime(ts), snapshotAccessView) });
        }
        return { dump, byCommit, byTime };
    } finally {
        await safeClose(driver);
    }
}

/** Snapshot view including the results of its synchronous accessors. */
function snapshotAccessView(snapshot) {
    const contexts = {};
    const visit = path => {
        const subs = snapshot.contexts(path);
        contexts[path.join(".") || "<root>"] = {
            contexts: subs,
            keys: snapshot.keys(path),
            values: canon(snapshot.values(path)),
        };
        for (const sub of subs) visit([...path, sub]);
    };
    visit([]);
    return { ...snapshotView(snapshot), accessors: contexts };
}

function compareReports(actual, expected, label) {
    assert.deepEqual(Object.keys(actual.dump), Object.keys(expected.dump), `${label}: set of contexts`);
    for (const name of Object.keys(expected.dump)) {
        assert.deepEqual(actual.dump[name], expected.dump[name], `${label}: context ${name}`);
    }
    expected.byCommit.forEach((e, i) => {
        assert.deepEqual(actual.byCommit[i], e, `${label}: snapshotAtCommit(${JSON.stringify(e.id)})`);
    });
    expected.byTime.forEach((e, i) => {
        assert.deepEqual(actual.byTime[i], e, `${label}: snapshotAtTime(${e.ts})`);
    });
}

/** WAL/snapshot layout with timestamps normalized, for comparing what two writers produced. */
function normalizedLayout(dir) {
    const segments = listSegments(dir).map(s => s.name);
    const lines = {};
    for (const segment of new Set(listSegments(dir).map(s => s.segment))) {
        lines[segment] = readSegmentLines(dir, segment).map(line => line.replace(/^\{"ts":\d+,/, '{"ts":0,'));
    }
    const snap = basename => {
        const s = readSnapshotFile(dir, basename);
        return s && { name: s.name, commitId: s.parsed.commitId, data: canon(s.parsed.data) };
    };
    return { files: storageDirNames(dir), segments, lines, snapshot: snap("snapshot"), head: snap("head") };
}

describe("interop: storage written by one implementation reads back identically with the other", () => {
    const results = {};
    before(async () => {
        for (const kind of AVAILABLE_KINDS) {
            // a failing writer must only fail the tests that use its files
            results[kind] = await writeScenario(kind).catch(error => ({ error }));
        }
    });
    const written = new Proxy(results, {
        get(target, kind) {
            const result = target[kind];
            if (result?.error) throw new Error(`writing the scenario with ${String(kind)} failed: ${result.error.message}`, { cause: result.error });
            return result;
        },
    });

    it("the scenario exercises rotation, gzip, snapshot and head snapshot (checked on the TS-written files)", () => {
        const { mid, final } = written.ts;
        const segments = listSegments(mid);
        assert.ok(segments.length >= 3, `mid state has ${segments.length} segments`);
        assert.ok(segments.some(s => s.compressed), "some segments are gzipped");
        for (const s of segments) if (s.compressed) assert.ok(isGzipFile(s.path));
        assert.ok(segments[0].segment > 1, "old segments were cleaned");
        assert.deepEqual(storageDirNames(mid), ["head.json.gz", "snapshot.json.gz", "wal"]);
        const snap = readSnapshotFile(mid);
        const wal = readWal(mid);
        const { segment, offset } = snap.parsed.commitId;
        assert.ok(
            wal.some(e => e.id.segment > segment || (e.id.segment === segment && e.id.offset > offset)),
            "mid state has WAL commits after the snapshot",
        );
        assert.deepEqual(storageDirNames(final), ["head.json.gz", "snapshot.json.gz", "wal"]);
    });

    for (const writer of KINDS) {
        for (const reader of KINDS) {
            const title = `written by ${writer}, read by ${reader}`;
            describeKindOrSkipIfNativeMissing(writer === "native" || reader === "native" ? "native" : "ts", title, () => {
                for (const state of ["mid", "final"]) {
                    it(`${state} state: values/keys/contexts for every context and snapshots at every point match matter.js`, async () => {
                        const dir = written[writer][state];
                        const points = snapshotPoints(dir);
                        const expected = await readReport("ts", dir, points);
                        // sanity: the reference reader sees exactly the model state
                        assert.deepEqual(expected.dump, dumpModel(written[writer].model));
                        const actual = reader === "ts" ? expected : await readReport(reader, dir, points);
                        compareReports(actual, expected, title);
                        // the comparison must have covered successes and all three error kinds
                        const errors = new Set(expected.byTime.map(e => e.result.error).filter(Boolean));
                        assert.ok(errors.has("Timestamp is in the future"));
                        assert.ok(errors.has("Timestamp predates available logs"));
                        const ok = expected.byCommit.filter(e => e.result.ok).length;
                        assert.ok(ok > (state === "mid" ? 20 : 5), `${ok} successful snapshotAtCommit results`);
                    });
                }
            });
        }
    }

    describeKindOrSkipIfNativeMissing("native", "files written by native vs ts", () => {
        it("native writes the same segments, lines, snapshot and head snapshot as matter.js (timestamps aside)", () => {
            for (const state of ["mid", "final"]) {
                const expected = normalizedLayout(written.ts[state]);
                const actual = normalizedLayout(written.native[state]);
                assert.deepEqual(actual.files, expected.files, `${state}: files`);
                assert.deepEqual(actual.segments, expected.segments, `${state}: segment files`);
                for (const segment of Object.keys(expected.lines)) {
                    assert.deepEqual(actual.lines[segment], expected.lines[segment], `${state}: lines of segment ${segment}`);
                }
                assert.deepEqual(actual.snapshot, expected.snapshot, `${state}: snapshot`);
                assert.deepEqual(actual.head, expected.head, `${state}: head snapshot`);
            }
        });
    });
});

// -----------------------------------------------------------------------------------------------------------------
// Byte-equality property test
// -----------------------------------------------------------------------------------------------------------------

function lastLine(dir) {
    const segments = listSegments(dir);
    const last = segments[segments.length - 1];
    const lines = readSegmentLines(dir, last.segment);
    return { line: lines[lines.length - 1], count: lines.length, segment: last.segment };
}

function randomCommit(r, i) {
    const contexts = r() < 0.1 ? [] : randomContexts(r);
    const valueOptions = { undefined: true };
    const roll = r();
    if (roll < 0.45) return [{ type: "set", contexts, key: `k${Math.floor(r() * 30)}`, value: randomValue(r, 0, valueOptions) }];
    if (roll < 0.7) return [{ type: "setMany", contexts, values: randomRecord(r, valueOptions) }];
    if (roll < 0.78) return [{ type: "delete", contexts, key: `k${Math.floor(r() * 30)}` }];
    if (roll < 0.82) return [{ type: "clearAll", contexts: r() < 0.1 ? [] : randomContexts(r).slice(0, 1) }];
    const n = 2 + Math.floor(r() * 3);
    return Array.from({ length: n }, (_, j) => {
        const c = randomContexts(r);
        const t = r();
        if (t < 0.5) return { type: "set", contexts: c, key: `k${i}-${j}`, value: randomValue(r, 0, valueOptions) };
        if (t < 0.8) return { type: "setMany", contexts: c, values: randomRecord(r, valueOptions) };
        if (t < 0.95) return { type: "delete", contexts: c, key: `k${Math.floor(r() * 30)}` };
        return { type: "clearAll", contexts: c };
    });
}

/** Values that stress number/string formatting, one commit each. */
function formattingValues() {
    const values = [];
    for (const [, value] of valueSamples()) values.push(value);
    values.push(NaN, Infinity, -Infinity, { nan: NaN, inf: -Infinity }, [NaN]);
    return values;
}

describeEachKind("byte equality with matter.js's toJson", kind => {
    it("every WAL line equals toJson({ts, ops}) and snapshots equal toJson({commitId, ts, data}, 2)", async t => {
        const dir = path.join(makeTempDir(t), "bytes");
        const r = rng(42); // same sequence for both kinds
        let driver = await openDriver(kind, dir, { compressSnapshot: false });
        const inMemory = {};
        const onDisk = {};
        let lines = 0;

        const commit = async (commands, label) => {
            const ops = opsOf(commands);
            const before = Date.now();
            await applyCommit(driver, commands);
            const after = Date.now();
            const { line, count } = lastLine(dir);
            lines++;
            assert.equal(count, lines, `${label}: exactly one line per commit`);
            const ts = JSON.parse(line).ts;
            assert.ok(Number.isInteger(ts) && ts >= before && ts <= after, `${label}: ts is the commit time`);
            assert.equal(line, toJson({ ts, ops }), `${label}: WAL line bytes`);
            applyOps(inMemory, ops);
            applyOps(onDisk, persistedOps(ops));
        };

        const formatting = formattingValues();
        for (let i = 0; i < formatting.length; i++) {
            await commit([{ type: "set", contexts: ["fmt"], key: `v${i}`, value: formatting[i] }], `formatting value ${i}`);
        }
        for (let i = 0; i < 250; i++) {
            await commit(randomCommit(r, i), `random commit ${i}`);
        }

        const wal = readWal(dir);
        const last = wal[wal.length - 1];
        const expectedSnapshot = data => toJson({ commitId: last.id, ts: last.commit.ts, data }, 2);

        // session 1 close: the snapshot is either of the in-memory state or of the state replayed from disk (matter.js
        // uses the latter unless something was read during the session); they only differ in nested undefined values
        await driver.close();
        let snap = readSnapshotFile(dir);
        assert.equal(snap.name, "snapshot.json");
        assert.ok(
            snap.text === expectedSnapshot(onDisk) || snap.text === expectedSnapshot(inMemory),
            "session 1 snapshot bytes equal toJson({commitId, ts, data}, 2)",
        );
        if (snap.text !== expectedSnapshot(onDisk)) {
            assert.equal(snap.text, expectedSnapshot(inMemory));
        }

        // session 2: read (loads the store from disk), close -> snapshot of the on-disk state, deterministic
        driver = await openDriver(kind, dir, { compressSnapshot: false });
        assert.deepEqual(await dumpDriver(driver), dumpModel(onDisk));
        await driver.close();
        snap = readSnapshotFile(dir);
        assert.equal(snap.text, expectedSnapshot(onDisk), "snapshot bytes after reload");
        assert.deepEqual(storageDirNames(dir), ["snapshot.json", "wal"]);

        // session 3: same with gzip -> identical bytes inside the gzip, plain file removed
        driver = await openDriver(kind, dir, { compressSnapshot: true });
        await driver.get(["fmt"], "v0");
        await driver.close();
        assert.deepEqual(storageDirNames(dir), ["snapshot.json.gz", "wal"]);
        const gz = fs.readFileSync(path.join(dir, "snapshot.json.gz"));
        assert.equal(zlib.gunzipSync(gz).toString("utf8"), expectedSnapshot(onDisk), "gzipped snapshot bytes");
        assert.deepEqual(walDirNames(dir), ["00000001.jsonl"]);
    });
});

if (!NATIVE_AVAILABLE) {
    it("note: native addon not loaded; native interop suites skipped unless CI/REQUIRE_NATIVE=1", () => {});
}
