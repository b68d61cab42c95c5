// Measures two builds of the native addon against each other in one process, rounds
// alternating A/B (B/A every other round), best round per build: the JS-visible calls that
// go through the binding's value and string helpers (src/binding/js.rs) and its JS value
// cache (src/binding/cache.rs). Used to decide where raw Node-API pays over napi-rs's safe
// types (issue 12).
//
//   node scripts/measure-safe-types.mjs <dirA> <dirB> [rounds] [workload-regexp]
//
// Each dir holds a build's `binding.cjs` and `matter-wal-native.*.node` (copy them there
// after `npm run build` at each commit to compare). Prints one line per workload: ns per call
// of A and B and B/A.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const [dirA, dirB, roundsArg, only] = process.argv.slice(2);
if (!dirA || !dirB) {
    console.error("usage: node scripts/measure-safe-types.mjs <dirA> <dirB> [rounds]");
    process.exit(2);
}
const ROUNDS = Number(roundsArg ?? 7);
const require = createRequire(import.meta.url);
const { setJson } = require("../lib/values.cjs");
const makeError = (_name, message) => new Error(message);

/** A string of `n` code units ending in a lone surrogate (the rest ASCII). */
const lone = n => "a".repeat(n - 1) + "\ud800";
/** A well-formed string of `n` code units, mostly ASCII with some 2- and 3-byte characters. */
const plain = n => Array.from({ length: n }, (_, i) => (i % 10 === 9 ? "é" : i % 17 === 16 ? "€" : "x")).join("");

/** A context of 50 keys shaped like matter.js attribute values. */
function attributes() {
    const values = {};
    for (let i = 0; i < 50; i++) {
        const kind = i % 5;
        values[`attribute${i}`] =
            kind === 0 ? i * 3 :
            kind === 1 ? i % 2 === 0 :
            kind === 2 ? `label-${i}` :
            kind === 3 ? { fabricIndex: i % 5 + 1, label: `fabric ${i}`, vendorId: 0xfff1, nodeId: 1000 + i } :
            [{ privilege: 5, authMode: 2, subjects: [112233], targets: null, fabricIndex: 1 }];
    }
    return values;
}

const STRING_SIZES = [1, 100, 10_000];

async function open(dir) {
    const { NativeWal } = createRequire(path.join(path.resolve(dir), "binding.cjs"))("./binding.cjs");
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "measure-safe-types-"));
    const native = new NativeWal(root, { fsync: false });
    await native.open();
    await native.set("bench.attrs", setJson(attributes(), undefined, makeError));
    for (const n of STRING_SIZES) {
        await native.set("bench.strings", setJson({ [`lone${n}`]: lone(n), [`plain${n}`]: plain(n) }, undefined, makeError));
    }
    return { native, fast: native.fastReads(), root };
}

/** Calls `op(i)` `count` times; ns per call. */
function time(count, op) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) op(i);
    return Number(process.hrtime.bigint() - start) / count;
}

/** Workloads: [name, calls per round, (driver) => op]. */
const smallObject = setJson({ fabric: { fabricIndex: 2, label: "kitchen", vendorId: 0xfff1, nodeId: 4711 } }, undefined, makeError);
const smallString = setJson({ name: "Living room lamp" }, undefined, makeError);
const smallNumber = setJson({ level: 254 }, undefined, makeError);
const largeObject = setJson({ table: Array.from({ length: 100 }, (_, i) => ({ fabricIndex: i % 5 + 1, label: `fabric ${i}`, nodeId: 1000 + i })) }, undefined, makeError);
const workloads = [
    // set(): the context key is read with JsText (the JSON text has its own UTF-8 reader).
    ["set() small object", 2000, ({ native }) => () => native.set("bench.set.ep1.cluster", smallObject)],
    ["set() string", 2000, ({ native }) => () => native.set("bench.set.ep1.cluster", smallString)],
    ["set() number", 2000, ({ native }) => () => native.set("bench.set.ep1.cluster", smallNumber)],
    ["set() 5 kB object", 1000, ({ native }) => () => native.set("bench.set.ep1.cluster", largeObject)],
    // keys()/values() of a 50-key context: strings, arrays, objects, value cache hits.
    ["keys() 50 keys", 2000, ({ native }) => () => native.keys("bench.attrs")],
    ["values() 50 keys (cached objects)", 1000, ({ native }) => () => native.values("bench.attrs")],
    // get(): the fast path's readers stay raw; building the value uses the helpers.
    ["get() cached object", 20000, ({ fast }) => () => fast.get("bench.attrs", "attribute3")],
    ["get() number", 20000, ({ fast }) => () => fast.get("bench.attrs", "attribute0")],
    ...STRING_SIZES.flatMap(n => [
        // JsText reading a context key of n code units (a context that holds nothing).
        [`keys() of a ${n}-unit context, lone surrogate`, n > 1000 ? 2000 : 20000, () => { const c = lone(n); return ({ native }) => () => native.keys(c); }],
        [`keys() of a ${n}-unit context, well-formed`, n > 1000 ? 2000 : 20000, () => { const c = plain(n); return ({ native }) => () => native.keys(c); }],
        // Strings created from stored values.
        [`get() ${n}-unit string, lone surrogate`, n > 1000 ? 2000 : 20000, () => ({ fast }) => () => fast.get("bench.strings", `lone${n}`)],
        [`get() ${n}-unit string, well-formed`, n > 1000 ? 2000 : 20000, () => ({ fast }) => () => fast.get("bench.strings", `plain${n}`)],
    ]).map(([name, count, make]) => [name, count, d => make()(d)]),
];

const builds = { A: await open(dirA), B: await open(dirB) };
console.log(`# ${new Date().toISOString()} node ${process.version}, ${ROUNDS} rounds alternating A/B, best per build`);
console.log(`# A = ${dirA}\n# B = ${dirB}`);
console.log(["workload", "A ns", "B ns", "B/A"].join("\t"));
for (const [name, count, make] of workloads) {
    if (only !== undefined && !new RegExp(only).test(name)) continue;
    const best = { A: Infinity, B: Infinity };
    const ops = { A: make(builds.A), B: make(builds.B) };
    for (const which of ["A", "B"]) time(Math.min(count, 500), ops[which]); // warm up
    for (let round = 0; round < ROUNDS; round++) {
        for (const which of round % 2 === 0 ? ["A", "B"] : ["B", "A"]) {
            const pending = [];
            const op = ops[which];
            const ns = time(count, name.startsWith("set()") ? () => pending.push(op()) : op);
            best[which] = Math.min(best[which], ns);
            await Promise.all(pending);
        }
    }
    console.log([name, best.A.toFixed(0), best.B.toFixed(0), (best.B / best.A).toFixed(3)].join("\t"));
}
for (const { native, root } of Object.values(builds)) {
    await native.close();
    fs.rmSync(root, { recursive: true, force: true });
}
