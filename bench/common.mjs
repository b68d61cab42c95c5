// Shared pieces of the benchmark: driver loading, data shapes, helpers.
// Used by run.mjs and by mem-child.mjs (which runs in its own process).

import fs from "node:fs";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { pathToFileURL } from "node:url";

// ---------------------------------------------------------------------------
// Drivers

/**
 * Loads the drivers. The TypeScript one must be there; ours is optional and
 * is reported as unavailable (with the reason) until `../index.js` loads and
 * exports a `WalStorageDriver` class; lmdb-js (write workloads only) is
 * reported as unavailable if the `lmdb` package does not load.
 */
export async function loadDrivers({ ours: loadOurs = true, lmdb: loadLmdb = true } = {}) {
    const general = await import("@matter/general");
    const nodejs = await import("@matter/nodejs");

    // Keep matter.js logging off stdout (stdout carries the table / JSON) and
    // drop its debug chatter; warnings still show on stderr.
    general.Logger.level = "warn";
    for (const name in general.Logger.destinations) {
        general.Logger.destinations[name].write = text => process.stderr.write(`${text}\n`);
    }

    const drivers = {
        ts: {
            kind: "ts",
            label: "TS",
            available: true,
            open(dir, options) {
                const storageDir = new nodejs.NodeJsFilesystem(path.dirname(dir)).directory(path.basename(dir));
                return new general.WalStorageDriver(undefined, { ...options, storageDir });
            },
        },
        ours: { kind: "ours", label: "ours", available: false, reason: undefined, open: undefined },
        lmdb: { kind: "lmdb", label: "lmdb", available: false, reason: undefined, open: undefined },
    };

    // lmdb-js (npm "lmdb", a devDependency): the embedded store Node users pick for speed, as a
    // second reference for the write workloads only. See LmdbStore below for its durability.
    if (loadLmdb) {
        try {
            const lmdb = await import("lmdb");
            drivers.lmdb.available = true;
            drivers.lmdb.open = (dir, options) => new LmdbStore(lmdb, dir, options);
            drivers.lmdb.version = JSON.parse(fs.readFileSync(new URL("../node_modules/lmdb/package.json", import.meta.url), "utf8")).version;
        } catch (e) {
            drivers.lmdb.reason = `lmdb: ${String(e?.message ?? e).split("\n")[0]}`;
        }
    } else {
        drivers.lmdb.reason = "not loaded";
    }

    // The package may be CommonJS or ESM (possibly with top-level await), so load
    // it with import(), which handles both. MATTER_WAL_BENCH_OURS=/abs/path.js
    // points the harness at another build (or a stand-in); default is the package.
    if (!loadOurs) {
        drivers.ours.reason = "not loaded";
        return drivers;
    }
    const override = process.env.MATTER_WAL_BENCH_OURS;
    const oursUrl = override ? pathToFileURL(path.resolve(override)).href : new URL("../index.js", import.meta.url).href;
    try {
        const mod = await import(oursUrl);
        const Ctor = mod.WalStorageDriver ?? mod.default?.WalStorageDriver;
        if (typeof Ctor !== "function") {
            throw new Error("module does not export a WalStorageDriver class");
        }
        drivers.ours.available = true;
        drivers.ours.open = (dir, options) => new Ctor(dir, options);
    } catch (e) {
        const where = override ?? "index.js";
        drivers.ours.reason = `${where}: ${String(e?.message ?? e).split("\n")[0]}`;
    }

    return drivers;
}

/**
 * lmdb-js behind the part of the driver API the write workloads use. One LMDB environment in
 * `dir`, keys "<contexts joined by />\0<key>", values in lmdb-js's default encoding (msgpackr,
 * which keeps bigint and bytes).
 *
 * Durability as our set() with fsync on: lmdb-js's default on Linux is overlappingSync, where
 * a put's promise resolves once the transaction is committed (visible) and the fsync follows;
 * with separateFlushed the promise carries `flushed`, resolved when that transaction is on disk.
 * set() resolves only then. With fsync off it opens with noSync (no flush at all) and resolves
 * on commit. lmdb-js batches every put of one event turn into one transaction (its group
 * commit), as ours batches concurrent set()s into one WAL write and one fdatasync.
 */
class LmdbStore {
    #lmdb;
    #db;
    constructor(lmdb, dir, options) {
        this.#lmdb = lmdb;
        this.path = dir;
        this.fsync = options?.fsync !== false;
    }
    async initialize() {
        this.#db = this.#lmdb.open({
            path: this.path,
            noSync: !this.fsync,
            // lmdb-js refuses noSync together with overlappingSync.
            overlappingSync: this.fsync,
            separateFlushed: this.fsync,
        });
    }
    static keyOf(contexts, key) {
        return `${contexts.join("/")}\0${key}`;
    }
    async set(contexts, keyOrValues, value) {
        if (typeof keyOrValues === "string") {
            const written = this.#db.put(LmdbStore.keyOf(contexts, keyOrValues), value);
            await written;
            if (this.fsync) await written.flushed;
            return;
        }
        // An object of values: one transaction, like the drivers' set(contexts, values).
        const written = this.#db.transaction(() => {
            for (const [key, v] of Object.entries(keyOrValues)) this.#db.put(LmdbStore.keyOf(contexts, key), v);
        });
        await written;
        if (this.fsync) await (written.flushed ?? this.#db.flushed);
    }
    async get(contexts, key) {
        return this.#db.get(LmdbStore.keyOf(contexts, key));
    }
    async close() {
        await this.#db?.close();
    }
}

/** Options shared by both drivers; only fsync varies between workloads. */
export function driverOptions(fsync, extra = {}) {
    return { fsync, compressSnapshot: true, compressLog: true, ...extra };
}

// ---------------------------------------------------------------------------
// Data: keys and values shaped like matter.js attribute state

/** Attributes per context (a "cluster"); an N-key store has N / KEYS_PER_CONTEXT contexts. */
export const KEYS_PER_CONTEXT = 20;

const ATTRIBUTE_NAMES = Array.from({ length: KEYS_PER_CONTEXT }, (_, i) => `attr${i}`);

export function contextOf(c) {
    return ["node0", `ep${c % 32}`, `cluster${c}`];
}

/** Global key index -> [contexts, key]. */
export function keyOf(i) {
    return [contextOf(Math.floor(i / KEYS_PER_CONTEXT)), ATTRIBUTE_NAMES[i % KEYS_PER_CONTEXT]];
}

/**
 * A value like a matter.js attribute state: numbers (integer and fractional),
 * strings, booleans, null, arrays, a nested struct list, a bigint and a small
 * Uint8Array. `version` changes every field that a real update would touch.
 */
export function valueOf(i, version = 0) {
    const mac = new Uint8Array(8);
    for (let b = 0; b < 8; b++) {
        mac[b] = (i * 31 + version * 7 + b * 13) & 0xff;
    }
    return {
        id: i,
        label: `Attribute ${i} rev ${version}`,
        level: (i * 7 + version) % 254,
        enabled: ((i + version) & 1) === 0,
        ratio: ((i % 1000) + version) / 7,
        reserved: null,
        list: [i % 10, (i >> 3) % 100, version],
        entries: [
            { fabricIndex: 1 + (i % 5), privilege: 5, authMode: 2 },
            { fabricIndex: 1 + ((i + 1) % 5), privilege: 3, authMode: 2 },
        ],
        nodeId: BigInt(i) * 0x1_0000_0001n + BigInt(version),
        mac,
    };
}

/** Writes keys [0, n) as n / KEYS_PER_CONTEXT commits of one whole context each. */
export async function populate(driver, n, version = 0) {
    const contexts = Math.ceil(n / KEYS_PER_CONTEXT);
    for (let c = 0; c < contexts; c++) {
        const values = {};
        for (let k = 0; k < KEYS_PER_CONTEXT && c * KEYS_PER_CONTEXT + k < n; k++) {
            values[ATTRIBUTE_NAMES[k]] = valueOf(c * KEYS_PER_CONTEXT + k, version);
        }
        await driver.set(contextOf(c), values);
    }
}

/** Deterministic PRNG (mulberry32) so every run and both drivers see the same data. */
export function prng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/**
 * Structural equality tolerant of representation details that do not matter
 * to callers (Buffer vs Uint8Array, key order).
 */
export function sameValue(a, b) {
    if (a === b) return true;
    if (typeof a !== typeof b) return false;
    if (typeof a === "number") return Number.isNaN(a) && Number.isNaN(b);
    if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
        if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b)) return false;
        return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    }
    if (a instanceof Map || b instanceof Map) {
        if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
        const ea = [...a], eb = [...b];
        return ea.every((e, i) => sameValue(e[0], eb[i][0]) && sameValue(e[1], eb[i][1]));
    }
    if (Array.isArray(a) || Array.isArray(b)) {
        return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
    }
    if (a && b && typeof a === "object") {
        const ka = Object.keys(a), kb = Object.keys(b);
        return ka.length === kb.length && ka.every(k => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
    }
    return false;
}

export function expectValue(actual, expected, what) {
    if (!sameValue(actual, expected)) {
        throw new Error(`wrong value for ${what}`);
    }
}

// ---------------------------------------------------------------------------
// Misc

/** A callable gc(), exposing it at runtime if node was not started with --expose-gc. */
export const gc = (() => {
    if (typeof globalThis.gc === "function") return globalThis.gc;
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc");
})();

export function fullGc() {
    gc();
    gc();
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
