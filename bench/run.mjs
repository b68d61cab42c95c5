#!/usr/bin/env node
// Benchmark: matter.js's TypeScript WalStorageDriver (@matter/general) versus
// ours (the native addon exported by ../index.js), same process, same data.
//
//   node bench/run.mjs [--quick] [--json] [--only=1,3,8] [--drivers=ts,ours,lmdb]
//                      [--dir=/path/for/temp] [--ts-budget=60]
//   node bench/run.mjs --node [...]   the node benchmark instead (bench/node/run.mjs)
//
// See bench/README.md for what each workload measures.

import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
    KEYS_PER_CONTEXT,
    contextOf,
    driverOptions,
    expectValue,
    fullGc,
    keyOf,
    loadDrivers,
    populate,
    prng,
    sleep,
    valueOf,
} from "./common.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------
// Command line

const argv = process.argv.slice(2);
const flag = name => argv.includes(`--${name}`);
const option = name => argv.find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3);

if (flag("node")) {
    // The node benchmark (bench/node/): real matter.js nodes on each driver, in child processes.
    const { runNodeBench } = await import("./node/run.mjs");
    process.exit(await runNodeBench(argv));
}

if (flag("help") || flag("h")) {
    process.stdout.write(
        "usage: node bench/run.mjs [--quick] [--json] [--only=1,3,8] [--drivers=ts,ours,lmdb] [--dir=PATH] [--ts-budget=SECONDS]\n" +
            "       node bench/run.mjs --node --help   (the node benchmark)\n",
    );
    process.exit(0);
}

const QUICK = flag("quick");
const JSON_OUT = flag("json");
const ONLY = option("only")?.split(",").map(s => Number(s.trim()));
const WANT_DRIVERS = (option("drivers") ?? "ts,ours,lmdb").split(",").map(s => s.trim());
const TS_BUDGET_S = Number(option("ts-budget") ?? 60);
const ROUND_TIMEOUT_MS = Number(option("round-timeout") ?? 180) * 1000;

const CFG = QUICK
    ? {
          rounds: 3, // fast workloads
          setMs: 200,
          fsyncSetMs: 250,
          concurrentBatches: 5,
          readMs: 150,
          readRounds: 2,
          coldRounds: 2,
          closeRounds: { 20_000: 1, 200_000: 1 },
          memRounds: 1,
          scale: [[10_000, 1]],
      }
    : {
          rounds: 5,
          setMs: 1000,
          fsyncSetMs: 1000,
          concurrentBatches: 30,
          readMs: 500,
          readRounds: 5,
          coldRounds: 5,
          closeRounds: { 20_000: 5, 200_000: 3 },
          memRounds: 3,
          scale: [
              [10_000, 3],
              [100_000, 3],
              [1_000_000, 1],
          ],
      };

const CONCURRENCY = 300;
const COLD_KEYS = 20_000;
const COLD_WAL_COMMITS = 20_000;
const MEM_KEYS = 200_000;
/** Keys workload 7 then reads: just under the 100,000 values the driver's read caches keep before starting over. */
const MEM_READ_KEYS = 90_000;
const CLOSE_SIZES = [20_000, 200_000];
const CLOSE_STALL_TARGET_MS = 5;

const log = (...parts) => process.stderr.write(`${parts.join(" ")}\n`);

// ---------------------------------------------------------------------------
// Temp space: one base directory, removed on exit whatever happens

const TMP = fs.mkdtempSync(path.join(option("dir") ?? os.tmpdir(), "matter-wal-bench-"));
const cleanup = () => fs.rmSync(TMP, { recursive: true, force: true });
process.on("exit", cleanup);
for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
        cleanup();
        process.exit(130);
    });
}
process.on("unhandledRejection", e => log(`[unhandled rejection] ${e?.stack ?? e}`));

let dirCounter = 0;
/** A fresh, empty, not-yet-existing directory path under TMP. */
function freshDir(label) {
    return path.join(TMP, `${label}-${++dirCounter}`);
}
function rm(dir) {
    fs.rmSync(dir, { recursive: true, force: true });
}
function copyStore(fixture, label) {
    const dir = freshDir(label);
    fs.cpSync(fixture, dir, { recursive: true });
    return dir;
}

// ---------------------------------------------------------------------------
// Measurement helpers

function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function withTimeout(promise, ms, what) {
    let timer;
    return Promise.race([
        promise,
        new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timeout after ${ms / 1000} s in ${what}`)), ms);
        }),
    ]).finally(() => clearTimeout(timer));
}

/**
 * Runs `body(i)` repeatedly (awaiting each) for about `ms` milliseconds after a
 * short warm-up; returns operations per second.
 */
async function opsPerSecond(ms, body) {
    const warmEnd = performance.now() + Math.max(20, ms * 0.1);
    let i = 0;
    while (performance.now() < warmEnd) await body(i++);
    const t0 = performance.now();
    const end = t0 + ms;
    let n = 0;
    do {
        for (let j = 0; j < 64; j++, n++) await body(i++);
    } while (performance.now() < end);
    return (n / (performance.now() - t0)) * 1000;
}

/**
 * Runs `fn` while watching the event loop two ways: a 1 ms-resolution
 * monitorEventLoopDelay histogram, and a setInterval(…, 1) probe recording
 * the longest gap between ticks (including the gap up to fn's completion).
 *
 * Two quirks of the histogram shape this: it never records the first interval
 * after enable() or reset() (so it is enabled a little early and never reset,
 * which lets ~10 ms of idle samples in), and a block just before fn resolves is
 * only recorded once its timer fires again (so it stays enabled for two more
 * timer phases afterwards).
 */
async function measureStall(fn) {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    let last = performance.now();
    let maxGap = 0;
    const probe = setInterval(() => {
        const now = performance.now();
        if (now - last > maxGap) maxGap = now - last;
        last = now;
    }, 1);
    await sleep(10);
    maxGap = 0;
    last = performance.now();

    const t0 = performance.now();
    await fn();
    const t1 = performance.now();
    maxGap = Math.max(maxGap, t1 - last);

    clearInterval(probe);
    await sleep(2);
    await sleep(2);
    histogram.disable();
    const eld = histogram.count > 0 ? histogram.max / 1e6 : 0;
    // Both figures include the 1 ms probe period itself; the stall is the excess over it.
    const stallMs = Math.max(0, Math.max(eld, maxGap) - 1);
    return { ms: t1 - t0, eldMaxMs: eld, probeMaxGapMs: maxGap, stallMs };
}

// ---------------------------------------------------------------------------
// Results

const results = [];
const notes = [];

/**
 * Runs `body(driver, round)` `rounds` times per driver, alternating which
 * driver goes first. `body` returns an object of named metrics. A driver that
 * throws (or times out) is dropped from the rest of that workload.
 */
async function runRounds(drivers, rounds, what, body) {
    const data = {};
    for (const d of drivers) data[d.kind] = { values: {}, error: undefined };
    for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? [...drivers].reverse() : drivers;
        for (const d of order) {
            const slot = data[d.kind];
            if (slot.error) continue;
            try {
                const metrics = await withTimeout(body(d, r), ROUND_TIMEOUT_MS, `${what} (${d.label})`);
                for (const [name, v] of Object.entries(metrics)) (slot.values[name] ??= []).push(v);
            } catch (e) {
                slot.error = String(e?.message ?? e).split("\n")[0];
                log(`  ! ${d.label}: ${what}: ${slot.error}`);
            }
        }
    }
    return data;
}

/** Converts per-driver round data for one metric into a result row. */
function addResult({ workload, name, unit, better, metric, data, target, perKey, extra }) {
    const cell = kind => {
        const slot = data?.[kind];
        if (slot === undefined) return { status: kind === "ours" && !DRIVERS.ours.available ? "n/a" : "not run" };
        if (slot.status) return slot;
        if (slot.error && !slot.values[metric]?.length) return { status: "error", error: slot.error };
        const rounds = slot.values[metric] ?? [];
        if (!rounds.length) return { status: "n/a" };
        // A driver that failed after some rounds keeps its figure, marked with "*".
        return { status: "ok", median: median(rounds), rounds, error: slot.error };
    };
    const ts = cell("ts");
    const ours = cell("ours");
    // lmdb-js runs in the write workloads only; elsewhere its cell says so.
    const lmdb = data?.lmdb || !DRIVERS.lmdb.available ? cell("lmdb") : { status: "not measured" };
    if (lmdb.status === "not run" && !DRIVERS.lmdb.available) Object.assign(lmdb, { status: "n/a", reason: DRIVERS.lmdb.reason });
    const times = (a, b) => (a.status === "ok" && b.status === "ok" ? (better === "higher" ? a.median / b.median : b.median / a.median) : undefined);
    const ratio = times(ours, ts);
    const ratioLmdb = times(ours, lmdb);
    let met;
    if (target && ours.status === "ok") {
        if (target.kind === "ratio" && ratio !== undefined) met = ratio >= target.min;
        if (target.kind === "max") met = ours.median <= target.max;
        if (met !== undefined && target.lmdbMin !== undefined && ratioLmdb !== undefined) met &&= ratioLmdb >= target.lmdbMin;
    }
    const row = { workload, name, unit, better, ts, ours, lmdb, ratio, ratioLmdb, target, met, perKey, ...extra };
    results.push(row);
    return row;
}

// ---------------------------------------------------------------------------
// Fixtures, built once with the TS driver so both drivers open the same bytes

const fixtures = {};

async function buildSnapshotFixture(keys) {
    const dir = path.join(TMP, `fixture-${keys}`);
    const store = DRIVERS.ts.open(dir, driverOptions(false, { headSnapshot: false }));
    await store.initialize();
    await store.get(["x"], "y");
    await populate(store, keys);
    await store.close();
    return dir;
}

async function snapshotFixture(keys) {
    if (!fixtures[keys]) {
        const t0 = performance.now();
        fixtures[keys] = await buildSnapshotFixture(keys);
        log(`  (fixture: ${keys} keys, snapshot only, built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    return fixtures[keys];
}

/**
 * The cold-open fixture: a COLD_KEYS-key snapshot followed by COLD_WAL_COMMITS
 * single-key update commits in the WAL. The directory is copied while the TS
 * driver is still open, so the commits are not folded into a new snapshot.
 */
async function coldFixture() {
    if (fixtures.cold) return fixtures.cold;
    const t0 = performance.now();
    const work = copyStore(await snapshotFixture(COLD_KEYS), "cold-build");
    const store = DRIVERS.ts.open(work, driverOptions(false));
    await store.initialize();
    await store.get(["x"], "y");
    const random = prng(0xc01d);
    const latest = new Map();
    let last;
    for (let c = 1; c <= COLD_WAL_COMMITS; c++) {
        const i = Math.floor(random() * COLD_KEYS);
        const [contexts, key] = keyOf(i);
        await store.set(contexts, key, valueOf(i, c));
        latest.set(i, c);
        last = i;
    }
    const dir = path.join(TMP, "fixture-cold");
    fs.cpSync(work, dir, { recursive: true });
    await store.close();
    rm(work);
    // Probe the key written by the very last WAL commit (needs full replay) and
    // check one more key afterwards.
    const other = [...latest.keys()].find(i => i !== last && latest.get(i) < COLD_WAL_COMMITS / 2) ?? 0;
    fixtures.cold = {
        dir,
        probe: { index: last, value: valueOf(last, latest.get(last)) },
        check: { index: other, value: valueOf(other, latest.get(other) ?? 0) },
    };
    log(`  (fixture: ${COLD_KEYS}-key snapshot + ${COLD_WAL_COMMITS} WAL commits, built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    return fixtures.cold;
}

// ---------------------------------------------------------------------------
// Workloads

/** Opens a fresh empty store and forces the (lazy, for TS) load. */
async function openEmpty(driver, fsync, label) {
    const dir = freshDir(label);
    const store = driver.open(dir, driverOptions(fsync));
    await store.initialize();
    await store.get(["x"], "y");
    return { dir, store };
}

async function finish({ dir, store }) {
    try {
        await store.close();
    } finally {
        rm(dir);
    }
}

/** A pool of (contexts, key, value) for the write workloads: 100 contexts × 20 attributes. */
const WRITE_POOL = Array.from({ length: 2000 }, (_, i) => [...keyOf(i), valueOf(i, 1)]);

async function w1SequentialSet(drivers, fsync) {
    const id = fsync ? 2 : 1;
    const ms = fsync ? CFG.fsyncSetMs : CFG.setMs;
    log(`[${id}] sequential await set(), fsync ${fsync ? "on" : "off"}`);
    const data = await runRounds(drivers, CFG.rounds, `w${id}`, async d => {
        const s = await openEmpty(d, fsync, `w${id}`);
        try {
            const rate = await opsPerSecond(ms, i => {
                const [contexts, key, value] = WRITE_POOL[i % WRITE_POOL.length];
                return s.store.set(contexts, key, value);
            });
            return { rate };
        } finally {
            await finish(s);
        }
    });
    addResult({
        workload: id,
        name: `sequential await set(), fsync ${fsync ? "on" : "off"}`,
        unit: "commits/s",
        better: "higher",
        metric: "rate",
        data,
        target: fsync ? { kind: "ratio", min: 1, text: "≥1×" } : { kind: "ratio", min: 5, text: "≥5×" },
    });
}

async function w3ConcurrentSet(drivers) {
    log(`[3] ${CONCURRENCY} concurrent set() via Promise.all, fsync on`);
    const data = await runRounds(drivers, CFG.rounds, "w3", async d => {
        const s = await openEmpty(d, true, "w3");
        try {
            const batch = base =>
                Promise.all(
                    Array.from({ length: CONCURRENCY }, (_, j) => {
                        const [contexts, key, value] = WRITE_POOL[(base + j) % WRITE_POOL.length];
                        return s.store.set(contexts, key, value);
                    }),
                );
            await batch(0); // warm-up
            const t0 = performance.now();
            for (let b = 1; b <= CFG.concurrentBatches; b++) await batch(b * CONCURRENCY);
            const elapsed = performance.now() - t0;
            const [contexts, key, value] = WRITE_POOL[(CFG.concurrentBatches * CONCURRENCY + CONCURRENCY - 1) % WRITE_POOL.length];
            expectValue(await s.store.get(contexts, key), value, "the last write of the last burst");
            return { rate: ((CFG.concurrentBatches * CONCURRENCY) / elapsed) * 1000 };
        } finally {
            await finish(s);
        }
    });
    addResult({
        workload: 3,
        name: `${CONCURRENCY} concurrent set(), fsync on`,
        unit: "commits/s",
        better: "higher",
        metric: "rate",
        data,
        target: { kind: "ratio", min: 20, lmdbMin: 1, text: "≥20×, ≥1× lmdb" },
    });
}

async function w4Reads(drivers) {
    log(`[4] get() / values() on a ${COLD_KEYS}-key store, every key read once first`);
    const fixture = await snapshotFixture(COLD_KEYS);
    const random = prng(0x9e7);
    const probes = Array.from({ length: 4096 }, () => Math.floor(random() * COLD_KEYS)).map(i => keyOf(i));
    // Varied: every key of the store once, in a seeded random order, each probe with its own
    // contexts array and key string (1,000 contexts × 20 keys), as many cluster states read
    // through their own StorageContexts; and values() of those 1,000 contexts in random order.
    const varied = Array.from({ length: COLD_KEYS }, (_, i) => i);
    for (let i = varied.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [varied[i], varied[j]] = [varied[j], varied[i]];
    }
    const variedProbes = varied.map(i => keyOf(i));
    const contextCount = COLD_KEYS / KEYS_PER_CONTEXT;
    const variedContexts = Array.from({ length: 4096 }, () => contextOf(Math.floor(random() * contextCount)));
    const wide = ["node0", "ep1", "wide"];
    const wideValues = {};
    for (let k = 0; k < 50; k++) wideValues[`attr${k}`] = valueOf(COLD_KEYS + k, 3);

    const data = await runRounds(drivers, CFG.readRounds, "w4", async d => {
        const dir = copyStore(fixture, "w4");
        const store = d.open(dir, driverOptions(false));
        try {
            await store.initialize();
            // Every key read once, in random order, as a node reads its state when it starts
            // (the TS driver parses its whole store on the first read; ours builds each value
            // on its first read). The timed reads below are then all warm.
            const t0 = performance.now();
            for (const [contexts, key] of variedProbes) await store.get(contexts, key);
            const firstReads = performance.now() - t0;
            const [c0, k0] = keyOf(123);
            expectValue(await store.get(c0, k0), valueOf(123, 0), "get() after open");
            await store.set(wide, wideValues);
            const got = await store.values(wide);
            if (Object.keys(got).length !== 50) throw new Error("values() returned the wrong number of keys");
            expectValue(got.attr7, wideValues.attr7, "values()");

            const gets = await opsPerSecond(CFG.readMs, i => {
                const [contexts, key] = probes[i & 4095];
                return store.get(contexts, key);
            });
            const values = await opsPerSecond(CFG.readMs, () => store.values(wide));
            const variedGets = await opsPerSecond(CFG.readMs, i => {
                const [contexts, key] = variedProbes[i % COLD_KEYS];
                return store.get(contexts, key);
            });
            const variedValues = await opsPerSecond(CFG.readMs, i => store.values(variedContexts[i & 4095]));
            return { gets, values, variedGets, variedValues, firstReads };
        } finally {
            await store.close().catch(() => {});
            rm(dir);
        }
    });
    addResult({
        workload: 4,
        name: `get() on a warm ${COLD_KEYS / 1000}k-key store`,
        unit: "gets/s",
        better: "higher",
        metric: "gets",
        data,
        target: { kind: "ratio", min: 1, text: "≥1×" },
    });
    addResult({
        workload: 4,
        name: "values() on a 50-key context",
        unit: "calls/s",
        better: "higher",
        metric: "values",
        data,
        target: { kind: "ratio", min: 1, text: "≥1×" },
    });
    addResult({
        workload: 4,
        name: `get() of all ${COLD_KEYS / 1000}k keys, random order`,
        unit: "gets/s",
        better: "higher",
        metric: "variedGets",
        data,
        target: { kind: "ratio", min: 1, text: "≥1×" },
    });
    addResult({
        workload: 4,
        name: `values() of ${(COLD_KEYS / KEYS_PER_CONTEXT).toLocaleString("en-US")} 20-key contexts, random`,
        unit: "calls/s",
        better: "higher",
        metric: "variedValues",
        data,
        target: { kind: "ratio", min: 1, text: "≥1×" },
    });
    addResult({
        workload: 4,
        name: `first get() of each of the ${COLD_KEYS / 1000}k keys after open`,
        unit: "ms",
        better: "lower",
        metric: "firstReads",
        data,
    });
}

async function w5ColdOpen(drivers) {
    log(`[5] cold open: ${COLD_KEYS}-key snapshot + ${COLD_WAL_COMMITS} WAL commits, initialize() + first get()`);
    const fixture = await coldFixture();
    const data = await runRounds(drivers, CFG.coldRounds, "w5", async d => {
        const dir = copyStore(fixture.dir, "w5");
        let store;
        try {
            fullGc();
            const [contexts, key] = keyOf(fixture.probe.index);
            const t0 = performance.now();
            store = d.open(dir, driverOptions(false));
            await store.initialize();
            const value = await store.get(contexts, key);
            const ms = performance.now() - t0;
            expectValue(value, fixture.probe.value, "the last WAL commit");
            const [c2, k2] = keyOf(fixture.check.index);
            expectValue(await store.get(c2, k2), fixture.check.value, "an earlier WAL commit");
            return { ms };
        } finally {
            await store?.close().catch(() => {});
            rm(dir);
        }
    });
    addResult({
        workload: 5,
        name: `cold open ${COLD_KEYS / 1000}k snapshot + ${COLD_WAL_COMMITS / 1000}k WAL → first get`,
        unit: "ms",
        better: "lower",
        metric: "ms",
        data,
        target: { kind: "ratio", min: 10, text: "≥10× faster" },
    });
}

async function w6Close(drivers) {
    for (const keys of CLOSE_SIZES) {
        log(`[6] close() with final snapshot, ${keys} keys`);
        const fixture = await snapshotFixture(keys);
        const data = await runRounds(drivers, CFG.closeRounds[keys], `w6/${keys}`, async d => {
            const dir = copyStore(fixture, "w6");
            const store = d.open(dir, driverOptions(false));
            let closed = false;
            try {
                await store.initialize();
                expectValue(await store.get(...keyOf(keys - 1)), valueOf(keys - 1, 0), "get() after open");
                // A little fresh state so the final snapshot has something new to capture.
                for (let i = 0; i < 100; i++) {
                    const k = (i * 7919) % keys;
                    await store.set(...keyOf(k), valueOf(k, 2));
                }
                fullGc();
                await sleep(20);
                const stall = await measureStall(() => store.close());
                closed = true;
                return stall;
            } finally {
                if (!closed) await store.close().catch(() => {});
                rm(dir);
            }
        });
        const label = `${keys / 1000}k`;
        addResult({
            workload: 6,
            name: `close() + final snapshot, ${label} keys`,
            unit: "ms",
            better: "lower",
            metric: "ms",
            data,
        });
        addResult({
            workload: 6,
            name: `close() ${label}: max event-loop stall`,
            unit: "ms",
            better: "lower",
            metric: "stallMs",
            data,
            target: { kind: "max", max: CLOSE_STALL_TARGET_MS, text: `≤${CLOSE_STALL_TARGET_MS} ms` },
            extra: {
                detail: {
                    eldMaxMs: pick(data, "eldMaxMs"),
                    probeMaxGapMs: pick(data, "probeMaxGapMs"),
                },
            },
        });
    }
}

/** Median of another metric per driver, for the JSON detail. */
function pick(data, metric) {
    const out = {};
    for (const [kind, slot] of Object.entries(data)) {
        if (slot.values?.[metric]?.length) out[kind] = median(slot.values[metric]);
    }
    return out;
}

function runChild(kind, dir, probeIndex, readAll) {
    return new Promise((resolve, reject) => {
        execFile(
            process.execPath,
            ["--expose-gc", path.join(HERE, "mem-child.mjs"), kind, dir, String(probeIndex), ...(readAll ? [String(readAll)] : [])],
            { maxBuffer: 16 * 1024 * 1024, timeout: ROUND_TIMEOUT_MS },
            (error, stdout, stderr) => {
                const line = stdout.trim().split("\n").filter(l => l.startsWith("{")).pop();
                if (!line) {
                    reject(new Error(`mem-child failed: ${error?.message ?? ""} ${stderr.trim().split("\n").pop() ?? ""}`));
                    return;
                }
                const parsed = JSON.parse(line);
                if (parsed.error) reject(new Error(parsed.error));
                else if (!parsed.found) reject(new Error("mem-child: probe key not found after load"));
                else resolve(parsed);
            },
        );
    });
}

async function w7Memory(drivers) {
    log(`[7] memory: RSS growth after loading a ${MEM_KEYS}-key store (child process per driver)`);
    const fixture = await snapshotFixture(MEM_KEYS);
    const data = await runRounds(drivers, CFG.memRounds, "w7", async d => {
        const dir = copyStore(fixture, "w7");
        try {
            const r = await runChild(d.kind, dir, MEM_KEYS - 1, MEM_READ_KEYS);
            if (r.allFound !== MEM_READ_KEYS) throw new Error(`mem-child: ${r.allFound} of ${MEM_READ_KEYS} keys found`);
            return {
                rss: r.rssGrowthMB,
                peak: r.peakGrowthMB,
                heap: r.heapGrowthMB,
                rssAfter: r.rssAfterMB,
                loadMs: r.loadMs,
                allRss: r.allRssGrowthMB,
                allHeap: r.allHeapGrowthMB,
            };
        } finally {
            rm(dir);
        }
    });
    addResult({
        workload: 7,
        name: `RSS growth after loading ${MEM_KEYS / 1000}k keys`,
        unit: "MB",
        better: "lower",
        metric: "rss",
        data,
        target: { kind: "ratio", min: 2, text: "≤0.5× TS" },
        extra: {
            detail: {
                peakGrowthMB: pick(data, "peak"),
                heapGrowthMB: pick(data, "heap"),
                rssAfterMB: pick(data, "rssAfter"),
                loadMs: pick(data, "loadMs"),
            },
        },
    });
    addResult({
        workload: 7,
        name: `peak RSS growth while loading ${MEM_KEYS / 1000}k keys`,
        unit: "MB",
        better: "lower",
        metric: "peak",
        data,
    });
    addResult({
        workload: 7,
        name: `RSS growth after then reading ${MEM_READ_KEYS / 1000}k keys`,
        unit: "MB",
        better: "lower",
        metric: "allRss",
        data,
        extra: { detail: { heapGrowthMB: pick(data, "allHeap") } },
    });
}

async function w8Scaling(drivers) {
    let tsEstimate; // projected seconds for the TS driver at the next size
    for (const [keys, rounds] of CFG.scale) {
        const label = keys >= 1e6 ? `${keys / 1e6}M` : `${keys / 1000}k`;
        log(`[8] scaling at ${label} keys`);
        let active = drivers;
        const skipped = {};
        const ts = drivers.find(d => d.kind === "ts");
        if (ts && tsEstimate !== undefined && tsEstimate * rounds > TS_BUDGET_S) {
            active = drivers.filter(d => d.kind !== "ts");
            skipped.ts = { status: "skipped", reason: `estimated ${Math.round(tsEstimate * rounds)} s > ${TS_BUDGET_S} s budget` };
            log(`  TS skipped: ${skipped.ts.reason}`);
        }
        const data = await runRounds(active, rounds, `w8/${label}`, async d => {
            const dir = freshDir("w8");
            let store;
            try {
                const tStart = performance.now();
                store = d.open(dir, driverOptions(false));
                await store.initialize();
                await store.get(["x"], "y");
                let t0 = performance.now();
                await populate(store, keys);
                const populateMs = performance.now() - t0;
                t0 = performance.now();
                await store.close();
                const closeMs = performance.now() - t0;
                store = undefined;

                fullGc();
                const [contexts, key] = keyOf(keys - 1);
                t0 = performance.now();
                store = d.open(dir, driverOptions(false));
                await store.initialize();
                const value = await store.get(contexts, key);
                const openMs = performance.now() - t0;
                expectValue(value, valueOf(keys - 1, 0), "last key after reopen");
                await store.close();
                store = undefined;
                return {
                    populate: (keys / populateMs) * 1000,
                    close: closeMs,
                    open: openMs,
                    total: (performance.now() - tStart) / 1000,
                };
            } finally {
                await store?.close().catch(() => {});
                rm(dir);
            }
        });
        Object.assign(data, skipped);
        if (data.ts?.values?.total?.length) {
            // Per-key costs grow slightly faster than linearly; pad the projection.
            tsEstimate = median(data.ts.values.total) * 10 * 1.15;
        }
        addResult({
            workload: 8,
            name: `populate ${label} keys (20-key commits), fsync off`,
            unit: "keys/s",
            better: "higher",
            metric: "populate",
            data,
            perKey: keys,
        });
        addResult({
            workload: 8,
            name: `close() after populating ${label} keys`,
            unit: "ms",
            better: "lower",
            metric: "close",
            data,
            perKey: keys,
        });
        addResult({
            workload: 8,
            name: `cold open ${label} keys → first get`,
            unit: "ms",
            better: "lower",
            metric: "open",
            data,
            perKey: keys,
        });
    }
}

// ---------------------------------------------------------------------------
// Output

function fmtNumber(v) {
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(2);
}

function fmtPerKey(row, v) {
    if (!row.perKey) return "";
    // µs per key: for rates it is the inverse of keys/s; for times it is ms / keys.
    const us = row.unit === "keys/s" ? 1e6 / v : (v * 1000) / row.perKey;
    return ` (${fmtNumber(us)} µs/key)`;
}

function fmtCell(row, cell) {
    if (cell.status === "ok") return `${fmtNumber(cell.median)}${fmtPerKey(row, cell.median)}${cell.error ? "*" : ""}`;
    return cell.status;
}

function printTable(meta) {
    const fmtRatio = x => (x === undefined ? "n/a" : Number.isFinite(x) ? `${fmtNumber(x)}×` : "∞");
    const header = ["#", "workload", "unit", "TS", "ours", "ratio", "lmdb", "vs lmdb", "target", "met"];
    const rows = results.map(r => [
        String(r.workload),
        r.name,
        r.unit,
        fmtCell(r, r.ts),
        fmtCell(r, r.ours),
        fmtRatio(r.ratio),
        r.lmdb.status === "not measured" ? "—" : fmtCell(r, r.lmdb),
        r.lmdb.status === "not measured" ? "" : fmtRatio(r.ratioLmdb),
        r.target?.text ?? "",
        r.met === undefined ? "" : r.met ? "yes" : "NO",
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)));
    const line = cells => cells.map((c, i) => (i === 0 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
    const out = [];
    out.push(
        `matter-wal-native benchmark${QUICK ? " (--quick)" : ""} — node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? "cpu"}, ${os.platform()}`,
    );
    out.push(`temp dir: ${meta.tmpBase}`);
    if (!DRIVERS.ours.available) out.push(`ours: n/a — ${DRIVERS.ours.reason}`);
    out.push("ratio: how many times better ours is (throughput ours/TS; time and memory TS/ours); >1 means ours is better");
    out.push(
        `lmdb: lmdb-js${DRIVERS.lmdb.version ? ` ${DRIVERS.lmdb.version}` : ""} (npm lmdb) in the synced write workloads only, put resolved once flushed; vs lmdb = ours/lmdb, >1 means ours is better` +
            (DRIVERS.lmdb.available ? "" : ` — n/a: ${DRIVERS.lmdb.reason}`),
    );
    out.push("");
    out.push(line(header));
    out.push(line(widths.map(w => "-".repeat(w))));
    let last;
    for (let i = 0; i < rows.length; i++) {
        if (last !== undefined && results[i].workload !== last) out.push("");
        last = results[i].workload;
        out.push(line(rows[i]));
    }
    // One line per distinct (driver, message), naming the first row it hit.
    const problems = new Map();
    for (const r of results) {
        for (const kind of ["ts", "ours", "lmdb"]) {
            const message = r[kind].error ?? r[kind].reason;
            if (!message) continue;
            const key = `${kind}\0${message}`;
            const seen = problems.get(key);
            if (seen) seen.more++;
            else problems.set(key, { text: `  ${r.workload} ${r.name} [${DRIVERS[kind].label}]: ${message}`, more: 0 });
        }
    }
    if (problems.size) {
        out.push("");
        out.push("errors / skips:");
        for (const { text, more } of problems.values()) out.push(more ? `${text} (and ${more} more rows)` : text);
    }
    if (notes.length) {
        out.push("");
        out.push(...notes.map(n => `note: ${n}`));
    }
    out.push("");
    out.push(`total ${meta.elapsedS.toFixed(0)} s; 1-min load average ${meta.loadAverage.start.toFixed(2)} at start, ${meta.loadAverage.end.toFixed(2)} at end`);
    process.stdout.write(`${out.join("\n")}\n`);
}

// ---------------------------------------------------------------------------
// Main

const DRIVERS = await loadDrivers();
const active = WANT_DRIVERS.map(k => DRIVERS[k]).filter(d => d?.available);
const wants = n => !ONLY || ONLY.includes(n);

const started = performance.now();
log(`matter-wal-native bench${QUICK ? " --quick" : ""}: drivers ${active.map(d => d.label).join(", ") || "(none)"}`);
if (!DRIVERS.ours.available) log(`  ours unavailable: ${DRIVERS.ours.reason}`);
log(`  temp dir ${TMP}`);

const loadAtStart = os.loadavg()[0];
if (loadAtStart > os.cpus().length * 0.5) {
    const warning = `machine was busy at start (1-min load average ${loadAtStart.toFixed(2)} on ${os.cpus().length} CPUs); figures may be noisy`;
    notes.push(warning);
    log(`  WARNING: ${warning}`);
}

fullGc();
const idleRuns = [];
for (let i = 0; i < 3; i++) idleRuns.push(await measureStall(() => sleep(200)));
const idle = {
    eldMaxMs: median(idleRuns.map(r => r.eldMaxMs)),
    probeMaxGapMs: median(idleRuns.map(r => r.probeMaxGapMs)),
    stallMs: median(idleRuns.map(r => r.stallMs)),
};
notes.push(
    `stall = max(monitorEventLoopDelay max, setInterval(1 ms) probe max gap) − the 1 ms probe period; ` +
        `idle baseline on this machine (median of 3 × 200 ms): ${fmtNumber(idle.stallMs)} ms`,
);

// lmdb-js is a reference for the synced write workloads (2, 3) only.
const withoutLmdb = active.filter(d => d.kind !== "lmdb");
const WORKLOADS = [
    [1, () => w1SequentialSet(withoutLmdb, false)],
    [2, () => w1SequentialSet(active, true)],
    [3, () => w3ConcurrentSet(active)],
    [4, () => w4Reads(withoutLmdb)],
    [5, () => w5ColdOpen(withoutLmdb)],
    [6, () => w6Close(withoutLmdb)],
    [7, () => w7Memory(withoutLmdb)],
    [8, () => w8Scaling(withoutLmdb)],
];
for (const [n, run] of WORKLOADS) {
    if (!wants(n)) continue;
    const t0 = performance.now();
    await run();
    log(`  (workload ${n}: ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

const meta = {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    quick: QUICK,
    config: CFG,
    tmpBase: path.dirname(TMP),
    ours: { available: DRIVERS.ours.available, reason: DRIVERS.ours.reason },
    idleBaseline: idle,
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] },
    elapsedS: (performance.now() - started) / 1000,
    date: new Date().toISOString(),
};

if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify({ meta, results, notes }, null, 2)}\n`);
} else {
    printTable(meta);
}
