// The JS-side read cache of lib/api.cjs (get/has/values/keys answered without a native call):
// a read through it must give exactly what the native path gives at that moment.
//
// - Random interleavings (seeded, replayable: a failure names its seed and mode) of set /
//   delete / clearAll (parents and the root included) / transactions (committed, rolled back,
//   committed after a rollback) / refused writes and get / has / values / keys on a few nested
//   contexts, with fsync on (writes applied by the writer thread) and off (applied inline),
//   writes awaited or left in flight, submitted alike to two drivers: ours, and the same code
//   with the read cache bypassed (never opened: every read a native call). Every read of each
//   is checked against a model of the store: while writes are in flight the store may hold any
//   state between the last settled write and the last submitted one, never an older one than a
//   previous read showed; when nothing is in flight the read must equal the model's state
//   exactly, an uncached native read taken at the same moment (a transaction's read, which
//   builds fresh values from the committed state), and the other driver's read. Object
//   identity is checked when nothing is in flight.
// - Against matter.js's own driver: random awaited operations on matter.js's, ours and ours
//   bypassed give equal values and the same objects (a repeated read of an unchanged key gives
//   the object the last one gave), and a caller changing an object it read sees the change in
//   later reads until the key is written, on all three alike (matter.js hands out the object
//   its cache holds; so does our native path; the read cache must not differ).
// - One by one: identity, values()/keys() freshness, has()/get() agreement, writes of each
//   kind in flight, refused writes, close(), invalid input, and the memory bound.
// - Deliberately broken copies of lib/api.cjs (invalidation dropped, in-flight writes not
//   holding back caching, sub-contexts not cleared, no bound, copies handed out, ...); each
//   must be caught by the check named for it, so the checks above can fail.

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import { NATIVE_AVAILABLE, NATIVE_LOAD_ERROR, NATIVE_REQUIRED, TsWalStorageDriver, matter, matterDirectory, native } from "./helpers.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(HERE);
const require = createRequire(import.meta.url);

function tempDir(t) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-readcache-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
}

/** Opens a driver on a new directory (`Driver`: a class, or an arrow function making one); closed and removed after `t`. */
async function open(Driver, t, options = {}) {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-readcache-"));
    const dir = path.join(base, "store");
    const driver = Driver.prototype !== undefined ? new Driver(dir, { fsync: false, ...options }) : Driver(dir, { fsync: false, ...options });
    t.after(async () => {
        await driver.close().catch(() => {});
        fs.rmSync(base, { recursive: true, force: true });
    });
    await driver.initialize();
    return driver;
}

// ---------------------------------------------------------------------------------------------
// Values as comparable text (type-exact: bigint, bytes, Map, undefined, key order)

function canon(v) {
    if (v === undefined) return "undefined";
    if (typeof v === "bigint") return `${v}n`;
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    if (v instanceof Uint8Array) return `bytes:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")}`;
    if (v instanceof Map) return `Map[${[...v].map(([k, x]) => `${canon(k)}=>${canon(x)}`).join(",")}]`;
    if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
    return `{${Object.keys(v)
        .map(k => `${JSON.stringify(k)}:${canon(v[k])}`)
        .join(",")}}`;
}

function canonRecord(record) {
    return `{${Object.keys(record)
        .map(k => `${JSON.stringify(k)}:${canon(record[k])}`)
        .join(",")}}`;
}

/** JavaScript's own-property order: canonical array indices ascending, then insertion order. */
function propertyOrder(keys) {
    const isIndex = k => /^(0|[1-9][0-9]*)$/.test(k) && Number(k) < 2 ** 32 - 1;
    const indices = keys.filter(isIndex).sort((a, b) => Number(a) - Number(b));
    return [...indices, ...keys.filter(k => !isIndex(k))];
}

function prng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// ---------------------------------------------------------------------------------------------
// The model: the store's state after each submitted write

/** Store state: context key → Map(key → canon text), keys in insertion order. */
function applyOps(state, ops) {
    const next = new Map(state);
    for (const op of ops) {
        if (op.type === "clear") {
            for (const ctx of [...next.keys()]) {
                if (op.ctx === "" || ctx === op.ctx || ctx.startsWith(`${op.ctx}.`)) next.delete(ctx);
            }
            continue;
        }
        const entries = new Map(next.get(op.ctx) ?? []);
        if (op.type === "set") {
            for (const [k, v] of op.values) {
                if (v === "undefined") entries.delete(k);
                else entries.set(k, v);
            }
        } else {
            for (const k of op.keys) entries.delete(k);
        }
        next.set(op.ctx, entries);
    }
    return next;
}

function touches(ops, ctx, key) {
    return ops.some(op =>
        op.type === "clear"
            ? op.ctx === "" || ctx === op.ctx || ctx.startsWith(`${op.ctx}.`)
            : op.ctx === ctx && (op.type === "set" ? op.values.some(([k]) => k === key) : op.keys.includes(key)),
    );
}

class Model {
    /** states[i]: after write i (states[0]: empty); writes[i - 1]: write i. */
    states = [new Map()];
    writes = [];
    /** Writes 1..settled have all settled. */
    settled = 0;

    submit(ops) {
        const write = { ops, done: false, error: undefined };
        this.writes.push(write);
        this.states.push(applyOps(this.states.at(-1), ops));
        return write;
    }

    markDone(write, error) {
        write.done = true;
        write.error = error;
        while (this.settled < this.writes.length && this.writes[this.settled].done) this.settled++;
    }

    get submitted() {
        return this.writes.length;
    }

    valueAt(j, ctx, key) {
        const entries = this.states[j].get(ctx);
        return entries?.has(key) ? entries.get(key) : "undefined";
    }

    keysAt(j, ctx) {
        return propertyOrder([...(this.states[j].get(ctx)?.keys() ?? [])]);
    }

    valuesAt(j, ctx) {
        const entries = this.states[j].get(ctx);
        return `{${this.keysAt(j, ctx)
            .map(k => `${JSON.stringify(k)}:${entries.get(k)}`)
            .join(",")}}`;
    }

    /** The last write (index) that touched `key` of `ctx` up to state `j`. */
    versionAt(j, ctx, key) {
        for (let i = j; i > 0; i--) if (touches(this.writes[i - 1].ops, ctx, key)) return i;
        return 0;
    }
}

// ---------------------------------------------------------------------------------------------
// Random scenarios

const CONTEXTS = [[], ["a"], ["a", "b"], ["a", "b", "c"], ["a", "x"], ["ab"], ["z"]];
const PARENTS = [["a"], ["a", "b"]];
const KEYS = ["k", "j", "2", "10", "01", "__proto__", "", "x.y"];

/** A fresh value of a random type; most are distinct, so a stale read shows. */
function randomValue(random, seq) {
    const kind = Math.floor(random() * 12);
    switch (kind) {
        case 7:
            return random() < 0.5 ? null : seq % 2 === 0;
        case 8:
            return undefined; // removes the key
        case 9:
            return { [`p${seq % 3}`]: seq, 3: "index", b: [new Uint8Array([1]), 2n] };
        case 10:
        case 11:
            return { v: seq };
        default:
            return makeValue(kind, seq); // kinds 0-6: number, string, object, array, bytes, Map, bigint
    }
}

const pick = (random, list) => list[Math.floor(random() * list.length)];
const ctxKey = contexts => contexts.join(".");

/** A value the driver refuses (nothing may be logged or cached for the write holding it). */
function refusedValue(random) {
    switch (Math.floor(random() * 5)) {
        case 0:
            return { ok: 1, f: () => 1 };
        case 1:
            return [1, Symbol("s")];
        case 2: {
            const cycle = { a: 1 };
            cycle.self = cycle;
            return cycle;
        }
        case 3: {
            let deep = 1; // deeper than the 20,000 levels stored values may have
            for (let i = 0; i < 20_001; i++) deep = [deep];
            return deep;
        }
        default:
            return '{"__object__":"Foo"}'; // looks like an unknown marker
    }
}

/**
 * One driver run through a scenario: its own model (the states are the same for every lane;
 * which writes have settled is per driver), its in-flight writes and what its reads showed.
 */
class Lane {
    constructor(name, driver, oracle) {
        this.name = name;
        this.driver = driver;
        /** Never written: its reads are uncached native reads of the committed state. */
        this.oracle = oracle;
        this.model = new Model();
        this.inFlight = new Set();
        /** Per read kind and (context, key): the oldest state the last read of it could have been. */
        this.lastSeen = new Map();
        /** Per (context, key): the object last read while nothing was in flight, and its version. */
        this.objects = new Map();
    }

    get quiet() {
        return this.model.settled === this.model.submitted;
    }

    /** Submits a write the model knows as `ops`; returns its settlement (never rejects). */
    submit(promise, ops, refused) {
        const write = this.model.submit(ops);
        write.refused = refused;
        const p = promise.then(
            () => this.model.markDone(write),
            error => this.model.markDone(write, error),
        );
        this.inFlight.add(p);
        p.then(() => this.inFlight.delete(p));
        return { settled: p, write };
    }

    /** The range of states a read started now may see. */
    window(id) {
        const lo = Math.max(this.model.settled, this.lastSeen.get(id) ?? 0);
        return { lo, hi: this.model.submitted, quiet: this.quiet };
    }
}

/**
 * Runs one random scenario on two drivers at once, `Driver` (the read cache on) and `Bypass`
 * (the same code with the read cache never opened: every read is a native call), submitting
 * the same operations to both. Throws an AssertionError naming the step on the first read
 * that disagrees with the model, with an uncached native read (a transaction's), or, when
 * neither driver has a write in flight, with the other driver.
 */
async function runScenario(Driver, t, { seed, fsync, awaitWrites, steps = 400, Bypass = NoCacheDriver }) {
    const lanes = [];
    for (const [name, D] of [
        ["cached", Driver],
        ["bypassed", Bypass],
    ]) {
        const driver = await open(D, t, { fsync });
        lanes.push(new Lane(name, driver, await driver.begin()));
    }
    const random = prng(seed);
    let seq = 0;
    const where = (step, lane) => `seed ${seed}, fsync ${fsync}, awaitWrites ${awaitWrites}, step ${step}${lane ? `, ${lane.name} driver` : ""}`;

    /** Submits a write to every lane (`submit(driver)` returns its promise); awaits it sometimes. */
    async function write(step, submit, ops, { refused = false } = {}) {
        const pending = lanes.map((lane, i) => lane.submit(submit(lane.driver, i), refused ? [] : ops, refused));
        if (refused || awaitWrites || random() < 0.15) {
            await Promise.all(pending.map(p => p.settled));
            const outcomes = pending.map(({ write }) => (write.error ? `${write.error.name}: ${write.error.message}` : "ok"));
            for (const [i, { write }] of pending.entries()) {
                if (refused) {
                    assert.ok(write.error instanceof native.StorageError, `${where(step, lanes[i])}: a refused write was accepted (${outcomes[i]})`);
                } else if (write.error) {
                    throw write.error;
                }
            }
            assert.equal(outcomes[0], outcomes[1], `${where(step)}: the two drivers settled a write differently`);
        }
    }

    function accept(step, lane, id, win, observed, stateText, what) {
        for (let j = win.lo; j <= win.hi; j++) {
            if (stateText(j) === observed) {
                lane.lastSeen.set(id, j);
                return j;
            }
        }
        const allowed = [];
        for (let j = win.lo; j <= win.hi; j++) allowed.push(`#${j}: ${stateText(j)}`);
        assert.fail(`${where(step, lane)}: ${what} gave ${observed}; the store held one of\n  ${allowed.join("\n  ")}`);
    }

    function checkIdentity(step, lane, ctx, key, value, j) {
        if (value === null || typeof value !== "object") return;
        const id = `${ctx}\0${key}`;
        const version = lane.model.versionAt(j, ctx, key);
        const before = lane.objects.get(id);
        if (before?.version === version) {
            assert.ok(before.value === value, `${where(step, lane)}: get/values of ${ctx}/${key} unchanged since write #${version} gave a new object`);
        } else if (before !== undefined) {
            assert.ok(before.value !== value, `${where(step, lane)}: ${ctx}/${key} written (#${before.version} → #${version}) but the old object came back`);
        }
        lane.objects.set(id, { value, version });
    }

    /**
     * One read on every lane, started in the same tick: `read(driver)` is the read, `text` the
     * result as comparable text, `expected(model, j)` the text of state `j`. Each result must be
     * one of the states its lane's store could hold; with nothing in flight, exactly the last
     * one, equal to the lane's uncached native read and (both quiet) to the other lane's.
     */
    async function read(step, id, what, call, text, expected, onQuiet) {
        const started = lanes.map(lane => {
            const win = lane.window(id);
            return { lane, win, pending: call(lane.driver), direct: win.quiet ? call(lane.oracle) : undefined };
        });
        const texts = [];
        for (const { lane, win, pending, direct } of started) {
            const result = await pending;
            const observed = text(result);
            const j = accept(step, lane, id, win, observed, s => expected(lane.model, s), what);
            if (win.quiet) {
                assert.equal(observed, text(await direct), `${where(step, lane)}: ${what} differs from an uncached native read`);
                onQuiet?.(lane, result, j);
                texts.push(observed);
            }
        }
        if (texts.length === lanes.length) assert.equal(texts[0], texts[1], `${where(step)}: ${what}: the cached and the bypassed driver disagree`);
        return started;
    }

    for (let step = 0; step < steps; step++) {
        const contexts = pick(random, CONTEXTS);
        const ctx = ctxKey(contexts);
        const key = pick(random, KEYS);
        const r = random();
        if (r < 0.2) {
            const value = randomValue(random, ++seq);
            await write(step, d => d.set([...contexts], key, value), [{ type: "set", ctx, values: [[key, canon(value)]] }]);
        } else if (r < 0.27) {
            const record = {};
            for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
                // defined, so "__proto__" is an own property as any other key
                Object.defineProperty(record, pick(random, KEYS), { value: randomValue(random, ++seq), enumerable: true, writable: true, configurable: true });
            }
            const values = Object.keys(record).map(k => [k, canon(record[k])]);
            await write(step, d => d.set([...contexts], record), [{ type: "set", ctx, values }]);
        } else if (r < 0.33) {
            await write(step, d => d.delete([...contexts], key), [{ type: "delete", ctx, keys: [key] }]);
        } else if (r < 0.36) {
            // Half of the clears are of a context with contexts below it (whose reads it must reach).
            const cleared = random() < 0.5 ? pick(random, PARENTS) : contexts;
            await write(step, d => d.clearAll([...cleared]), [{ type: "clear", ctx: ctxKey(cleared) }]);
        } else if (r < 0.38) {
            // Refused writes: a value that cannot be stored, or an invalid context or key.
            const kind = random();
            if (kind < 0.5) {
                const bad = refusedValue(random);
                await write(step, d => (random() < 0.5 ? d.set([...contexts], key, bad) : d.set([...contexts], { fine: 1, [key]: bad })), [], { refused: true });
            } else if (kind < 0.75) {
                await write(step, d => d.set([...contexts, ""], key, 1), [], { refused: true });
            } else {
                await write(step, d => d.delete([...contexts], 7), [], { refused: true });
            }
        } else if (r < 0.43) {
            // A transaction: begin, some ops (one of them now and then refused on the spot:
            // the rest still commits), then commit, roll back, or roll back and try to commit.
            const txs = await Promise.all(lanes.map(lane => lane.driver.begin()));
            const ops = [];
            for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
                const c = pick(random, CONTEXTS);
                const k = pick(random, KEYS);
                const kind = random();
                if (kind < 0.55) {
                    const value = randomValue(random, ++seq);
                    for (const tx of txs) tx.set(c, k, value);
                    ops.push({ type: "set", ctx: ctxKey(c), values: [[k, canon(value)]] });
                } else if (kind < 0.8) {
                    for (const tx of txs) tx.delete(c, k);
                    ops.push({ type: "delete", ctx: ctxKey(c), keys: [k] });
                } else if (kind < 0.93) {
                    for (const tx of txs) tx.clearAll(c);
                    ops.push({ type: "clear", ctx: ctxKey(c) });
                } else {
                    const bad = refusedValue(random);
                    for (const tx of txs) assert.throws(() => tx.set(c, k, bad), native.StorageError, `${where(step)}: a transaction took a value it cannot store`);
                }
            }
            const end = random();
            if (end < 0.08) {
                for (const tx of txs) tx[Symbol.dispose](); // rolled back: nothing written
            } else if (end < 0.12) {
                for (const tx of txs) await tx[Symbol.asyncDispose]();
                await write(step, (_d, i) => txs[i].commit(), [], { refused: true });
            } else {
                await write(step, (_d, i) => txs[i].commit(), ops);
            }
        } else if (r < 0.58) {
            await read(
                step,
                `get\0${ctx}\0${key}`,
                `get(${ctx}, ${key})`,
                d => d.get(contexts, key),
                canon,
                (m, s) => m.valueAt(s, ctx, key),
                (lane, value, j) => checkIdentity(step, lane, ctx, key, value, j),
            );
        } else if (r < 0.66) {
            await read(
                step,
                `has\0${ctx}\0${key}`,
                `has(${ctx}, ${key})`,
                d => d.has(contexts, key),
                String,
                (m, s) => String(m.valueAt(s, ctx, key) !== "undefined"),
            );
        } else if (r < 0.8) {
            const started = await read(
                step,
                `values\0${ctx}`,
                `values(${ctx})`,
                d => d.values(contexts),
                canonRecord,
                (m, s) => m.valuesAt(s, ctx),
                (lane, values, j) => {
                    for (const k of Object.keys(values)) checkIdentity(step, lane, ctx, k, values[k], j);
                },
            );
            // The caller owns the record: changing it changes nothing stored.
            if (random() < 0.5) {
                const victim = pick(random, KEYS);
                for (const { pending } of started) {
                    const values = await pending;
                    values.junk = 1;
                    delete values[victim];
                }
            }
        } else if (r < 0.88) {
            const started = await read(
                step,
                `keys\0${ctx}`,
                `keys(${ctx})`,
                d => d.keys(contexts),
                JSON.stringify,
                (m, s) => JSON.stringify(m.keysAt(s, ctx)),
            );
            if (random() < 0.3) for (const { pending } of started) (await pending).push("junk");
        } else if (r < 0.94) {
            await Promise.all(lanes.flatMap(lane => [...lane.inFlight]));
        } else {
            await new Promise(resolve => setTimeout(resolve, random() < 0.5 ? 0 : 2));
        }
    }
    for (const lane of lanes) {
        await Promise.all(lane.inFlight);
        for (const w of lane.model.writes) if (!w.refused) assert.equal(w.error, undefined, `${lane.name}: no accepted write failed`);
        lane.oracle[Symbol.dispose]();
        await lane.driver.close();
    }
}

// ---------------------------------------------------------------------------------------------
// Against matter.js's driver: identity and what a caller's change to a value it read does

/** Value kinds a matter.js driver reads back unchanged (no undefined, NaN, -0, ...). */
function makeValue(kind, seq) {
    switch (kind) {
        case 0:
            return seq;
        case 1:
            return `s${seq}`;
        case 2:
            return { v: seq, nested: { list: [seq, "x", null] } };
        case 3:
            return [seq, { w: seq }];
        case 4:
            return new Uint8Array([seq & 0xff, seq >> 8, 7]);
        case 5:
            return new Map([
                ["v", seq],
                [seq, { m: true }],
            ]);
        case 6:
            return BigInt(seq) * 1_000_000_007n;
        case 7:
            return seq % 2 === 0 ? null : true;
        default:
            return { v: seq, 3: "index", b: [new Uint8Array([1]), 2n] };
    }
}

/** Changes an object read from a driver, the same way whichever driver gave it. */
function mutate(value, seq) {
    if (value instanceof Uint8Array) {
        if (value.length) value[0] = seq & 0xff;
    } else if (value instanceof Map) {
        value.set("changed", seq);
    } else if (Array.isArray(value)) {
        value.push(seq);
    } else {
        value.changed = seq;
        const nested = Object.values(value).find(v => v !== null && typeof v === "object" && !(v instanceof Uint8Array) && !(v instanceof Map));
        if (nested !== undefined) nested.deep = seq;
    }
}

const MATTER_KEYS = ["k", "j", "2", "10", "01", "", "x.y"]; // no __proto__: matter.js would set a prototype

/**
 * Random operations, each awaited, on several drivers at once (matter.js's, ours with the read
 * cache, ours without): every read must give the same value on all of them, an object read
 * must be the one the previous read of that key gave on each exactly when it is on the others,
 * and objects read are now and then changed by the caller, on every driver alike. matter.js
 * hands out the object its cache holds, so such a change shows in later reads until the key
 * is written or cleared; the cache must neither hide it nor make it show where matter.js's and
 * the native path's would not.
 */
async function runAgainstMatter(t, drivers, { seed, fsync, steps = 300 }) {
    const opened = [];
    for (const [name, make] of drivers) opened.push({ name, driver: await open(make, t, { fsync }), last: new Map() });
    const random = prng(seed);
    let seq = 0;
    const where = step => `seed ${seed}, fsync ${fsync}, step ${step}`;

    /** The same read on every driver: equal values, and the same "same object as last time". */
    async function read(step, what, call, text, objectsOf) {
        const results = [];
        for (const d of opened) results.push(await call(d.driver));
        const texts = results.map(text);
        for (const [i, d] of opened.entries()) assert.equal(texts[i], texts[0], `${where(step)}: ${what}: ${d.name} gave ${texts[i]}, ${opened[0].name} ${texts[0]}`);
        if (objectsOf !== undefined) {
            const same = opened.map((d, i) =>
                objectsOf(results[i]).map(([id, value]) => {
                    if (value === null || typeof value !== "object") return "-";
                    const before = d.last.get(id);
                    d.last.set(id, value);
                    return before === undefined ? "first" : before === value ? "same" : "new";
                }),
            );
            for (const [i, d] of opened.entries()) assert.deepEqual(same[i], same[0], `${where(step)}: ${what}: objects same as the last read's on ${d.name}: ${same[i]}, on ${opened[0].name}: ${same[0]}`);
        }
        return results;
    }

    for (let step = 0; step < steps; step++) {
        const contexts = pick(random, CONTEXTS);
        const ctx = ctxKey(contexts);
        const key = pick(random, MATTER_KEYS);
        const r = random();
        if (r < 0.2) {
            const kind = Math.floor(random() * 9);
            const n = ++seq;
            for (const d of opened) await d.driver.set([...contexts], key, makeValue(kind, n)); // each its own object: matter.js keeps it
        } else if (r < 0.26) {
            const entries = [];
            for (let n = 1 + Math.floor(random() * 3); n > 0; n--) entries.push([pick(random, MATTER_KEYS), Math.floor(random() * 9), ++seq]);
            for (const d of opened) await d.driver.set([...contexts], Object.fromEntries(entries.map(([k, kind, s]) => [k, makeValue(kind, s)])));
        } else if (r < 0.32) {
            for (const d of opened) await d.driver.delete([...contexts], key);
        } else if (r < 0.35) {
            for (const d of opened) await d.driver.clearAll([...contexts]);
        } else if (r < 0.4) {
            const ops = [];
            for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
                const kind = random();
                ops.push([kind < 0.6 ? "set" : kind < 0.85 ? "delete" : "clearAll", pick(random, CONTEXTS), pick(random, MATTER_KEYS), Math.floor(random() * 9), ++seq]);
            }
            const rollback = random() < 0.15;
            for (const d of opened) {
                const tx = await d.driver.begin();
                for (const [op, c, k, kind, s] of ops) {
                    if (op === "set") await tx.set(c, k, makeValue(kind, s));
                    else if (op === "delete") await tx.delete(c, k);
                    else await tx.clearAll(c);
                }
                if (rollback) await tx[Symbol.asyncDispose]();
                else await tx.commit();
            }
        } else if (r < 0.62) {
            const [value] = await read(step, `get(${ctx}, ${key})`, d => d.get(contexts, key), canon, v => [[`${ctx}\0${key}`, v]]);
            if (value !== null && typeof value === "object" && random() < 0.3) {
                const s = ++seq;
                for (const d of opened) mutate(d.last.get(`${ctx}\0${key}`), s);
            }
        } else if (r < 0.7) {
            await read(step, `has(${ctx}, ${key})`, d => d.has(contexts, key), String);
        } else if (r < 0.85) {
            const [record] = await read(step, `values(${ctx})`, d => d.values(contexts), canonRecord, v => Object.keys(v).map(k => [`${ctx}\0${k}`, v[k]]));
            const keys = Object.keys(record);
            if (keys.length && random() < 0.4) {
                // Change the record (the caller's own) and one object in it (the store's, as with get()).
                const k = pick(random, keys);
                const s = ++seq;
                const records = await read(step, `values(${ctx}) again`, d => d.values(contexts), canonRecord, v => Object.keys(v).map(k => [`${ctx}\0${k}`, v[k]]));
                for (const fresh of records) {
                    const object = fresh[k];
                    fresh.added = s;
                    delete fresh[k];
                    if (object !== null && typeof object === "object") mutate(object, s);
                }
            }
        } else {
            await read(step, `keys(${ctx})`, d => d.keys(contexts), JSON.stringify);
        }
    }
}

const MODES = [
    { fsync: true, awaitWrites: false },
    { fsync: false, awaitWrites: false },
    { fsync: true, awaitWrites: true },
    { fsync: false, awaitWrites: true },
];

// ---------------------------------------------------------------------------------------------
// Bound, close() and refused writes, as checks any driver class must pass

/**
 * The cache's memory bound (100,000 values): reading more than that many values lets go of
 * the first one's object, and a context with more keys than that is not kept whole. Seen from
 * outside as identity: a held object comes back as itself, a dropped one is built anew (the
 * native value cache has the same bound, so the native path builds it anew as well).
 */
async function checkBound(Driver, t) {
    const driver = await open(Driver, t);
    await driver.set(["first"], "a", { v: 1 });
    const a = await driver.get(["first"], "a");
    assert.equal(await driver.get(["first"], "a"), a, "held while fewer values were read");
    const contexts = 101;
    for (let c = 0; c < contexts; c++) {
        const record = {};
        for (let k = 0; k < 1000; k++) record[`k${k}`] = { n: c * 1000 + k };
        await driver.set(["many", `c${c}`], record);
    }
    for (let c = 0; c < contexts; c++) {
        for (let k = 0; k < 1000; k++) {
            const value = await driver.get(["many", `c${c}`], `k${k}`);
            if (value?.n !== c * 1000 + k) assert.fail(`many.c${c}/k${k} read ${canon(value)}`);
        }
    }
    const again = await driver.get(["first"], "a");
    assert.deepEqual(again, { v: 1 });
    assert.notEqual(again, a, "after 101,000 other values were read the first one's object is no longer held");

    const huge = {};
    const size = 100_500;
    for (let k = 0; k < size; k++) huge[`k${k}`] = { n: k };
    await driver.set(["huge"], huge);
    const one = await driver.values(["huge"]);
    const two = await driver.values(["huge"]);
    assert.equal(Object.keys(two).length, size);
    assert.deepEqual(two.k0, { n: 0 });
    assert.notEqual(two.k0, one.k0, `a context of ${size} keys is not held whole`);
    assert.equal(two[`k${size - 1}`].n, size - 1);
}

/**
 * Each kind of write to a key, left in flight while the key is read (with fsync on the writer
 * thread applies it after its fdatasync, so these reads are likely to see the old value and
 * must not keep it), then settled: from then on every read gives the new state.
 */
async function checkInFlight(Driver, t) {
    // [what, submit (returns [the write's promise]), k of a.b after it, k of a.b.c after it]
    const writes = [
        ["set()", d => [d.set(["a", "b"], "k", { v: 2 })], { v: 2 }, { v: 1 }],
        ["set() of a record", d => [d.set(["a", "b"], { k: { v: 2 }, other: 3 })], { v: 2 }, { v: 1 }],
        ["delete()", d => [d.delete(["a", "b"], "k")], undefined, { v: 1 }],
        ["clearAll() of the context", d => [d.clearAll(["a", "b"])], undefined, undefined],
        ["clearAll() of its parent", d => [d.clearAll(["a"])], undefined, undefined],
        ["clearAll() of the root", d => [d.clearAll([])], undefined, undefined],
        [
            "a transaction's set()",
            async d => {
                const tx = await d.begin();
                tx.set(["a", "b"], "k", { v: 2 });
                return [tx.commit()];
            },
            { v: 2 },
            { v: 1 },
        ],
        [
            "a transaction's clearAll() of the parent",
            async d => {
                const tx = await d.begin();
                tx.set(["z"], "k", 1);
                tx.clearAll(["a"]);
                return [tx.commit()];
            },
            undefined,
            undefined,
        ],
    ];
    for (const fsync of [true, false]) {
        const driver = await open(Driver, t, { fsync });
        for (const [what, write, expected, below] of writes) {
            await driver.set(["a", "b"], { k: { v: 1 }, other: { o: 1 } });
            await driver.set(["a", "b", "c"], "k", { v: 1 });
            for (const ctx of [["a", "b"], ["a", "b", "c"]]) {
                await driver.get(ctx, "k");
                await driver.values(ctx);
            }
            const [settled] = await write(driver);
            const where = `fsync ${fsync}, ${what}`;
            for (let i = 0; i < 3; i++) {
                for (const [ctx, after] of [[["a", "b"], expected], [["a", "b", "c"], below]]) {
                    const allowed = [canon({ v: 1 }), canon(after)];
                    for (const observed of [await driver.get(ctx, "k"), (await driver.values(ctx)).k]) {
                        assert.ok(allowed.includes(canon(observed)), `${where} in flight: ${ctx.join(".")}/k read ${canon(observed)}`);
                    }
                    await driver.has(ctx, "k");
                    await driver.keys(ctx);
                }
            }
            await settled;
            for (const [ctx, after] of [[["a", "b"], expected], [["a", "b", "c"], below]]) {
                const at = `${where}, settled: ${ctx.join(".")}/k`;
                assert.equal(canon(await driver.get(ctx, "k")), canon(after), `${at}: get()`);
                assert.equal(await driver.has(ctx, "k"), after !== undefined, `${at}: has()`);
                assert.equal(canon((await driver.values(ctx)).k), canon(after), `${at}: values()`);
                assert.equal((await driver.keys(ctx)).includes("k"), after !== undefined, `${at}: keys()`);
            }
        }
    }
}

/** What reads give once close() has been called (while it runs, and after); each as text. */
async function closeOutcomes(Driver, t) {
    const driver = await open(Driver, t);
    await driver.set(["c"], { k: { v: 1 }, n: 2 });
    await driver.set(["c", "d"], "k", [1]);
    const before = await driver.get(["c"], "k");
    await driver.get(["c"], "absent");
    await driver.values(["c"]);
    await driver.values(["c", "d"]);
    const reads = [
        ["get", [["c"], "k"]],
        ["get", [["c"], "n"]],
        ["get", [["c"], "absent"]],
        ["get", [["c", "d"], "k"]],
        ["has", [["c"], "k"]],
        ["has", [["c"], "absent"]],
        ["values", [["c"]]],
        ["keys", [["c"]]],
        ["contexts", [["c"]]],
    ];
    const outcome = promise =>
        promise.then(
            v => `answered ${canon(v)}`,
            e => {
                assert.ok(e instanceof matter.StorageError, `refused with a StorageError (${e})`);
                return `${e.name}: ${e.message}`;
            },
        );
    const closing = driver.close();
    const during = [];
    for (const [method, args] of reads) during.push(`${method}: ${await outcome(driver[method](...args))}`);
    await closing;
    const after = [];
    for (const [method, args] of reads) {
        const text = await outcome(driver[method](...args));
        assert.ok(!text.startsWith("answered"), `${method}(${args.map(String).join(", ")}) after close() ${text}`);
        after.push(`${method}: ${text}`);
    }
    await driver.initialize();
    const again = await driver.get(["c"], "k");
    assert.deepEqual(again, { v: 1 });
    assert.notEqual(again, before, "a reopened store builds its values anew");
    assert.deepEqual(await driver.values(["c"]), { k: { v: 1 }, n: 2 });
    return { during, after };
}

/**
 * Writes refused for bad input, with the cache warm for the contexts they name: each must be
 * a rejected promise (never a synchronous throw), and every read after it must give what it
 * gave before. Returns each refusal's text.
 */
async function refusedWrites(Driver, t, fsync) {
    const driver = await open(Driver, t, { fsync });
    await driver.set(["w"], { a: { v: 1 }, b: 2 });
    await driver.set(["w", "sub"], "c", [3]);
    let deep = 1;
    for (let i = 0; i < 20_001; i++) deep = [deep];
    const cycle = { a: 1 };
    cycle.self = cycle;
    const state = async () => ({
        a: await driver.get(["w"], "a"),
        b: await driver.get(["w"], "b"),
        x: await driver.get(["w"], "x"),
        c: await driver.get(["w", "sub"], "c"),
        hasX: await driver.has(["w"], "x"),
        values: canonRecord(await driver.values(["w"])),
        sub: canonRecord(await driver.values(["w", "sub"])),
        keys: JSON.stringify(await driver.keys(["w"])),
    });
    const before = await state();
    const writes = [
        ["set: a function", d => d.set(["w"], "x", () => 1)],
        ["set: a record with one bad value", d => d.set(["w"], { a: 5, x: Symbol("s") })],
        ["set: a cycle", d => d.set(["w"], "a", cycle)],
        ["set: an unknown marker string", d => d.set(["w"], "a", '{"__object__":"Foo"}')],
        ["set: too deep", d => d.set(["w"], "a", deep)],
        ["set: a record holding a too-deep value", d => d.set(["w"], { b: 9, x: deep })],
        ["set: an empty context segment", d => d.set(["w", ""], "a", 1)],
        ["set: a dotted context", d => d.set(["w.sub"], "c", 1)],
        ["set: a non-string key", d => d.set(["w"], 1, 1)],
        ["delete: a non-string key", d => d.delete(["w"], null)],
        ["clearAll: not an array", d => d.clearAll("w")],
        [
            "commit of a disposed transaction",
            async d => {
                const tx = await d.begin();
                tx.set(["w"], "a", 7);
                tx.clearAll(["w", "sub"]);
                tx[Symbol.dispose]();
                return tx.commit();
            },
        ],
        [
            "second commit of a transaction",
            async d => {
                const tx = await d.begin();
                await tx.commit();
                tx.set?.(["w"], "a", 7);
                return tx.commit();
            },
        ],
    ];
    const refusals = [];
    for (const [what, write] of writes) {
        let promise;
        assert.doesNotThrow(() => {
            promise = write(driver);
        }, `${what}: refused with a promise, not a throw`);
        const text = await promise.then(
            () => "accepted",
            e => `${e.name}: ${e.message}`,
        );
        assert.notEqual(text, "accepted", `${what}: refused`);
        refusals.push(`${what}: ${text}`);
        const after = await state();
        for (const key of ["b", "x", "hasX", "values", "sub", "keys"]) assert.deepEqual(after[key], before[key], `${what}: ${key} as before`);
        assert.equal(canon(after.a), canon(before.a), `${what}: a as before`);
        assert.equal(after.a, before.a, `${what}: the same object for a`);
        assert.equal(after.c, before.c, `${what}: the same object for sub.c`);
    }

    // A transaction whose bad op is refused on the spot commits its other ops.
    const tx = await driver.begin();
    tx.set(["w"], "x", { x: 1 });
    assert.throws(() => tx.set(["w"], "a", '{"__object__":"Foo"}'), matter.StorageError);
    assert.throws(() => tx.set(["w"], "b", deep), matter.StorageError);
    assert.throws(() => tx.delete(["w", ""], "b"), matter.StorageError);
    await tx.commit();
    const after = await state();
    assert.equal(canon(after.x), canon({ x: 1 }));
    assert.equal(after.hasX, true);
    assert.equal(after.a, before.a, "a, untouched, is the same object");
    assert.equal(after.b, 2);
    assert.equal(after.keys, JSON.stringify(["a", "b", "x"]));
    return refusals;
}

/**
 * Writes submitted while close() runs: the native side refuses them on the spot (it throws);
 * each must come back as a rejected promise, not a throw, and leave the cache able to answer
 * reads. Returns what each write gave.
 */
async function writesWhileClosing(Driver, t) {
    const driver = await open(Driver, t);
    await driver.set(["w"], "a", { v: 1 });
    const closing = driver.close();
    const outcomes = [];
    for (const [what, write] of Object.entries({
        set: d => d.set(["w"], "a", { v: 2 }),
        record: d => d.set(["w"], { a: 3 }),
        delete: d => d.delete(["w"], "a"),
        clearAll: d => d.clearAll(["w"]),
    })) {
        let promise;
        assert.doesNotThrow(() => {
            promise = write(driver);
        }, `${what} while closing: refused with a promise, not a throw`);
        outcomes.push(`${what}: ${await promise.then(() => "accepted", e => `${e.name}: ${e.message}`)}`);
    }
    await closing;
    return outcomes;
}

// ---------------------------------------------------------------------------------------------
// Copies of lib/api.cjs: the cache bypassed, and broken ones the checks must catch

/** Loads lib/api.cjs with `from` → `to` replacements, as a driver class. */
function loadVariant(dir, name, replacements) {
    let source = fs.readFileSync(path.join(ROOT, "lib", "api.cjs"), "utf8");
    for (const [from, to] of replacements) {
        assert.equal(source.split(from).length, 2, `${name}: its code is in lib/api.cjs exactly once`);
        source = source.replace(from, to);
    }
    source = source
        .replace('require("../load-native.cjs")', `require(${JSON.stringify(path.join(ROOT, "load-native.cjs"))})`)
        .replace('require("./values.cjs")', `require(${JSON.stringify(path.join(ROOT, "lib", "values.cjs"))})`);
    const file = path.join(dir, `api-${name.replace(/[^a-z0-9]+/gi, "-")}.cjs`);
    fs.writeFileSync(file, source);
    return require(file).createApi(matter, () => import("@matter/nodejs")).WalStorageDriver;
}

/** The same code with the read cache never opened: every read is a native call. */
const VARIANTS_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-readcache-variants-"));
after(() => fs.rmSync(VARIANTS_DIR, { recursive: true, force: true }));
const NoCacheDriver = NATIVE_AVAILABLE ? loadVariant(VARIANTS_DIR, "no-cache", [["            this.#cache.open();\n", ""]]) : undefined;

/** By default a mutant must be caught by a random scenario; `check` names another check. */
const MUTANTS = [
    {
        name: "a write does not drop the cached context",
        from: "            this.forget(ctx);\n            this.pending.set",
        to: "            this.pending.set",
    },
    {
        name: "a clearAll drops the context only, not the contexts below it",
        from: "            this.forgetTree(ctx);\n",
        to: "            this.forget(ctx);\n",
    },
    {
        name: "reads keep values while writes are in flight",
        from: "        if (this.inFlight === 0) return true;",
        to: "        return true;",
    },
    {
        name: "a write stops holding back caching when submitted, not when settled",
        from: "        promise.then(done, done);",
        to: "        done();",
    },
    {
        name: "an in-flight clearAll does not hold back caching below it",
        from: "(ctx.startsWith(cleared) && ctx.charCodeAt(cleared.length) === 46)",
        to: "false",
        check: "in flight",
    },
    {
        name: "a transaction's commit is not seen by the cache",
        from: "return this.#cache.write([...this.#written], [...this.#cleared], () => this.#tx.commit());",
        to: "return promised(() => this.#tx.commit());",
    },
    {
        name: "values() hands out the cached object itself",
        from: "if (node?.complete) return Promise.resolve({ ...node.template });",
        to: "if (node?.complete) return Promise.resolve(node.template);",
    },
    {
        name: "values() caches the object it hands out",
        from: "        node.template = { ...values };",
        to: "        node.template = values;",
    },
    {
        name: "get() hands out a copy of the value it holds",
        from: "                    if (value !== undefined || entries.has(key) || (node.complete && typeof key === \"string\")) {\n                        return Promise.resolve(value);",
        to: "                    if (value !== undefined || entries.has(key) || (node.complete && typeof key === \"string\")) {\n                        return Promise.resolve(structuredClone(value));",
        check: "matter",
    },
    {
        name: "the cache never starts over",
        from: "        if (this.count + n > READ_CACHE_MAX) this.reset();",
        to: "",
        check: "bound",
    },
    {
        name: "a context larger than the bound is kept whole",
        from: "        if (keys.length >= READ_CACHE_MAX) return;",
        to: "",
        check: "bound",
    },
    {
        name: "close() leaves the cache answering",
        from: "            this.#cache.close();\n            if (this.#initializing",
        to: "            if (this.#initializing",
        check: "close",
    },
    {
        name: "a write refused by the native side throws instead of rejecting",
        from: "        try {\n            promise = submit();\n        } catch (error) {\n            done();\n            return Promise.reject(error);\n        }",
        to: "        promise = submit();",
        check: "refused",
    },
];

/** Runs `mutant`'s check on `Broken`; returns the AssertionError that caught it, if any. */
async function catchMutant(Broken, mutant, t) {
    const attempt = async run => {
        try {
            await run();
        } catch (error) {
            return error;
        }
    };
    switch (mutant.check) {
        case "bound":
            return attempt(() => checkBound(Broken, t));
        case "in flight":
            // Its reads race the writer thread (with fsync on): a few tries.
            for (let i = 0; i < 5; i++) {
                const caught = await attempt(() => checkInFlight(Broken, t));
                if (caught) return caught;
            }
            return undefined;
        case "close":
            return attempt(async () => assert.deepEqual(await closeOutcomes(Broken, t), await closeOutcomes(NoCacheDriver, t)));
        case "refused":
            return attempt(async () => {
                await refusedWrites(Broken, t, false);
                await writesWhileClosing(Broken, t);
            });
        case "matter":
            for (const seed of [1, 2, 3]) {
                const caught = await attempt(() => runAgainstMatter(t, matterDrivers(Broken), { seed, fsync: false }));
                if (caught) return caught;
            }
            return undefined;
        default:
            for (const seed of [1, 2, 3, 4, 5, 6]) {
                for (const mode of MODES) {
                    const caught = await attempt(() => runScenario(Broken, t, { ...mode, seed }));
                    if (caught) return caught;
                }
            }
            return undefined;
    }
}

/** matter.js's driver, ours with the read cache (`Driver`), ours without it. */
function matterDrivers(Driver) {
    return [
        ["matter.js", (dir, options) => new TsWalStorageDriver(undefined, { ...options, storageDir: matterDirectory(dir) })],
        ["cached", (dir, options) => new Driver(dir, options)],
        ["bypassed", (dir, options) => new NoCacheDriver(dir, options)],
    ];
}

// ---------------------------------------------------------------------------------------------

if (!NATIVE_AVAILABLE) {
    const reason = `native addon not built (${NATIVE_LOAD_ERROR?.message ?? "unknown"})`;
    if (NATIVE_REQUIRED) {
        it("native addon loads (required because CI or REQUIRE_NATIVE=1 is set)", () => {
            throw new Error(reason, { cause: NATIVE_LOAD_ERROR });
        });
    } else {
        describe("read cache", { skip: reason }, () => {});
    }
} else {
    const Driver = native.WalStorageDriver;

    describe("read cache: random interleavings against the model, uncached native reads and the cache bypassed", () => {
        for (const mode of MODES) {
            it(`fsync ${mode.fsync ? "on" : "off"}, writes ${mode.awaitWrites ? "awaited" : "left in flight"}`, { timeout: 180_000 }, async t => {
                for (const seed of [1, 2, 3, 4, 5, 6]) await runScenario(Driver, t, { ...mode, seed });
            });
        }
    });

    describe("read cache: against matter.js's driver (identity, a caller changing what it read)", () => {
        for (const fsync of [false, true]) {
            it(`random awaited operations give the same values and the same objects as matter.js and the native path (fsync ${fsync ? "on" : "off"})`, { timeout: 180_000 }, async t => {
                for (const seed of [1, 2, 3, 4]) await runAgainstMatter(t, matterDrivers(Driver), { seed, fsync });
            });
        }

        it("a changed object shows in later reads of its key until the key is written, as in matter.js", async t => {
            const drivers = [];
            for (const [name, make] of matterDrivers(Driver)) drivers.push([name, await open(make, t)]);
            for (const [name, driver] of drivers) {
                await driver.set(["m"], "obj", { a: 1 });
                await driver.set(["m"], "other", 1);
                const obj = await driver.get(["m"], "obj");
                obj.a = 2;
                assert.deepEqual(await driver.get(["m"], "obj"), { a: 2 }, `${name}: the change shows`);
                await driver.set(["m"], "other", 2); // another key of the context: the object stays
                assert.equal(await driver.get(["m"], "obj"), obj, `${name}: same object after a write to another key`);
                assert.deepEqual((await driver.values(["m"])).obj, { a: 2 }, `${name}: values() holds it too`);
                await driver.set(["m"], "obj", { a: 3 });
                assert.deepEqual(await driver.get(["m"], "obj"), { a: 3 }, `${name}: written: the new value`);
                assert.deepEqual(obj, { a: 2 }, `${name}: the old object is left alone`);
            }
        });
    });

    describe("read cache: identity, freshness, agreement", () => {
        for (const fsync of [false, true]) {
            it(`a repeated get() gives the same object while the value is unchanged, a new one once a write to it lands (fsync ${fsync ? "on" : "off"})`, async t => {
                const driver = await open(Driver, t, { fsync });
                const objects = { obj: { a: 1, b: [1, 2] }, arr: [1, "x", { y: 2 }], bytes: new Uint8Array([1, 2, 3]), map: new Map([["k", 1], [2, { v: 2n }]]) };
                const primitives = { num: 12.5, str: "text", big: 123456789012345678901234567890n, yes: true, nil: null };
                await driver.set(["ctx", "sub"], { ...objects, ...primitives });
                const first = {};
                for (const key of Object.keys(objects)) {
                    first[key] = await driver.get(["ctx", "sub"], key);
                    assert.equal(canon(first[key]), canon(objects[key]));
                    assert.notEqual(first[key], objects[key], "what is read is built from the store, not the object written");
                    assert.equal(await driver.get(["ctx", "sub"], key), first[key], `${key}: the same object`);
                    assert.equal(await driver.get(["ctx", "sub"], key), first[key], `${key}: still the same object`);
                }
                for (const [key, value] of Object.entries(primitives)) assert.equal(await driver.get(["ctx", "sub"], key), value);

                // Writes to other keys of the context, to its parent and to a child leave the objects as they are.
                await driver.set(["ctx", "sub"], "other", { o: 1 });
                await driver.delete(["ctx", "sub"], "num");
                await driver.set(["ctx"], "parent", 1);
                await driver.set(["ctx", "sub", "child"], "c", 1);
                const tx = await driver.begin();
                tx.set(["ctx", "sub"], "other", 2);
                await tx.commit();
                for (const key of Object.keys(objects)) assert.equal(await driver.get(["ctx", "sub"], key), first[key], `${key}: same object after other writes`);

                // A write to the key: once it has landed, a new object with the new value; the old one is left alone.
                const written = driver.set(["ctx", "sub"], "obj", { a: 2 });
                const during = await driver.get(["ctx", "sub"], "obj");
                // (While in flight: the old value or the new one, whichever the store holds; the native
                // value cache lets go of the old object when the write is submitted.)
                assert.ok([canon({ a: 2 }), canon(objects.obj)].includes(canon(during)), "while in flight: the old value or the new one");
                await written;
                const after = await driver.get(["ctx", "sub"], "obj");
                assert.notEqual(after, first.obj);
                assert.equal(canon(after), canon({ a: 2 }));
                assert.equal(canon(first.obj), canon(objects.obj), "the object handed out before is not changed");
                assert.equal(await driver.get(["ctx", "sub"], "obj"), after);
                for (const key of ["arr", "bytes", "map"]) assert.equal(await driver.get(["ctx", "sub"], key), first[key]);

                // Each kind of write to a key gives a new object once it lands.
                await driver.set(["ctx", "sub"], { arr: [1, "x", { y: 2 }] }); // the same value again is a new write
                assert.notEqual(await driver.get(["ctx", "sub"], "arr"), first.arr);
                await driver.delete(["ctx", "sub"], "bytes");
                assert.equal(await driver.get(["ctx", "sub"], "bytes"), undefined);
                await driver.clearAll(["ctx"]);
                assert.equal(await driver.get(["ctx", "sub"], "map"), undefined);
                assert.deepEqual(await driver.values(["ctx", "sub"]), {});
            });
        }

        it("values() gives a fresh object each call, holding get()'s objects; changing it changes nothing stored", async t => {
            const driver = await open(Driver, t);
            await driver.set(["c"], { a: { x: 1 }, b: [2], n: 3, 7: "seven", __proto__: 1 });
            await driver.set(["c"], "__proto__", { p: true });
            const one = await driver.values(["c"]);
            const two = await driver.values(["c"]);
            assert.notEqual(one, two);
            assert.deepEqual(Object.keys(one), ["7", "a", "b", "n", "__proto__"]);
            assert.equal(Object.getPrototypeOf(one), Object.prototype, "__proto__ is an own property, not the prototype");
            assert.deepEqual(Object.keys(two), Object.keys(one));
            for (const key of Object.keys(one)) {
                assert.equal(two[key], one[key]);
                assert.equal(await driver.get(["c"], key), one[key], `values().${key} is get()'s value`);
            }
            one.added = 1;
            delete one.a;
            one.b = "replaced";
            const three = await driver.values(["c"]);
            assert.deepEqual(Object.keys(three), ["7", "a", "b", "n", "__proto__"]);
            assert.equal(three.a, two.a);
            assert.equal(three.b, two.b);
            assert.equal(await driver.has(["c"], "added"), false);
            assert.deepEqual(await driver.keys(["c"]), ["7", "a", "b", "n", "__proto__"]);
            const keys = await driver.keys(["c"]);
            keys.push("x");
            assert.deepEqual(await driver.keys(["c"]), ["7", "a", "b", "n", "__proto__"], "keys() is fresh too");

            // values() and keys() follow writes to the context and clears of its parents.
            await driver.set(["c"], "m", 1);
            await driver.delete(["c"], "a");
            assert.deepEqual(Object.keys(await driver.values(["c"])), ["7", "b", "n", "__proto__", "m"]);
            assert.deepEqual(await driver.keys(["c"]), ["7", "b", "n", "__proto__", "m"]);
            await driver.set(["c", "d"], "k", 1);
            assert.deepEqual(await driver.values(["c", "d"]), { k: 1 });
            await driver.clearAll([]);
            assert.deepEqual(await driver.values(["c"]), {});
            assert.deepEqual(await driver.values(["c", "d"]), {});
            assert.deepEqual(await driver.keys(["c"]), []);
        });

        it("has() agrees with get() for every kind of value, absent keys and removed ones", async t => {
            const driver = await open(Driver, t);
            const stored = { zero: 0, empty: "", no: false, nil: null, obj: {}, gone: undefined };
            await driver.set(["h"], stored);
            await driver.set(["h"], "removed", 1);
            await driver.set(["h"], "removed", undefined);
            for (const warm of ["cold", "after get", "after values"]) {
                if (warm === "after values") await driver.values(["h"]);
                for (const key of [...Object.keys(stored), "removed", "absent"]) {
                    const value = await driver.get(["h"], key);
                    assert.equal(await driver.has(["h"], key), value !== undefined, `${warm}: has(${key}) with get() = ${canon(value)}`);
                }
                assert.equal(await driver.has(["nowhere"], "k"), false);
            }
            assert.equal(await driver.get(["h"], "gone"), undefined);
            assert.deepEqual(await driver.keys(["h"]), ["zero", "empty", "no", "nil", "obj"]);
        });

        it("a write submitted while a read builds its value (user code in Map.prototype.set) is not hidden by the cache", async t => {
            for (const fsync of [false, true]) {
                const driver = await open(Driver, t, { fsync });
                await driver.set(["r"], { m: new Map([["k", 1]]), other: { o: 1 } });
                const set = Map.prototype.set;
                let write;
                Map.prototype.set = function (...args) {
                    Map.prototype.set = set;
                    write = driver.set(["r"], { m: "changed", other: "changed" });
                    return set.apply(this, args);
                };
                let during;
                try {
                    during = await driver.get(["r"], "m");
                } finally {
                    Map.prototype.set = set;
                }
                assert.ok(write, "the read built a Map");
                assert.ok(during instanceof Map, "the read gave the value it was building");
                await write;
                assert.equal(await driver.get(["r"], "m"), "changed");
                assert.equal(await driver.get(["r"], "other"), "changed");

                // The same while the cache files what a native values() returned (its Maps).
                await driver.set(["v"], { a: 1, b: { o: 1 } });
                write = undefined;
                Map.prototype.set = function (...args) {
                    Map.prototype.set = set;
                    write = driver.set(["v"], { a: "changed" });
                    return set.apply(this, args);
                };
                try {
                    assert.deepEqual(await driver.values(["v"]), { a: 1, b: { o: 1 } });
                } finally {
                    Map.prototype.set = set;
                }
                assert.ok(write, "the cache filled a Map");
                await write;
                assert.deepEqual(await driver.values(["v"]), { a: "changed", b: { o: 1 } });
                assert.equal(await driver.get(["v"], "a"), "changed");
            }
        });

        it("invalid contexts and keys are refused exactly as without a cache, whatever it holds", async t => {
            const warm = await open(Driver, t);
            const cold = await open(Driver, t);
            for (const driver of [warm, cold]) await driver.set(["a"], { k: 1, 1: 2 });
            await warm.values(["a"]);
            await warm.get(["a"], "k");
            await warm.get([], "k");
            const inputs = [
                ["a", "k"],
                [["a"], 1],
                [["a"], new String("k")],
                [["a"], undefined],
                [["a", ""], "k"],
                [["a."], "k"],
                [[""], "k"],
                [null, "k"],
                [{ 0: "a", length: 1 }, "k"],
                [[1], "k"],
                [[new String("a")], "k"],
            ];
            const outcome = async promise => {
                try {
                    return { value: canon(await promise) };
                } catch (error) {
                    return { name: error.name, message: error.message, isStorageError: error instanceof native.StorageError };
                }
            };
            for (const [contexts, key] of inputs) {
                for (const method of ["get", "has"]) {
                    const got = await outcome(warm[method](contexts, key));
                    assert.deepEqual(got, await outcome(cold[method](contexts, key)), `${method}(${String(contexts)}, ${String(key)})`);
                    assert.equal(got.isStorageError, true, `${method}(${String(contexts)}, ${String(key)}) is refused`);
                }
                for (const method of ["values", "keys"]) {
                    assert.deepEqual(await outcome(warm[method](contexts)), await outcome(cold[method](contexts)), `${method}(${String(contexts)})`);
                }
            }
        });

        it("after close() reads are refused as before, cached or not; a reopened driver reads the store again", async t => {
            const driver = await open(Driver, t);
            const never = new Driver(path.join(tempDir(t), "never"), { fsync: false });
            await driver.set(["c"], { k: { v: 1 } });
            const before = await driver.get(["c"], "k");
            await driver.values(["c"]);
            const closing = driver.close();
            assert.deepEqual(await driver.get(["c"], "k"), { v: 1 }, "until the close completes the store answers, as before");
            await closing;
            const refusal = async promise => promise.then(
                v => assert.fail(`answered ${canon(v)}`),
                e => `${e.name}: ${e.message}`,
            );
            for (const [method, args] of [["get", [["c"], "k"]], ["has", [["c"], "k"]], ["values", [["c"]]], ["keys", [["c"]]]]) {
                assert.equal(await refusal(driver[method](...args)), await refusal(never[method](...args)), `${method} after close()`);
            }
            await driver.initialize();
            const again = await driver.get(["c"], "k");
            assert.deepEqual(again, { v: 1 });
            assert.notEqual(again, before, "a reopened store builds its values anew");
            assert.deepEqual(await driver.values(["c"]), { k: { v: 1 } });
        });

        it("a write of each kind left in flight: reads during it give the old or the new state, reads after it the new one", async t => {
            await checkInFlight(Driver, t);
            await checkInFlight(NoCacheDriver, t);
        });

        it("reads while close() runs and after it give exactly what they give with the cache bypassed", async t => {
            const cached = await closeOutcomes(Driver, t);
            assert.deepEqual(cached, await closeOutcomes(NoCacheDriver, t));
            t.diagnostic(`after close(): ${cached.after[0]}`);
        });

        for (const fsync of [false, true]) {
            it(`a refused write (bad input) leaves every read as it was, with the same refusal as with the cache bypassed (fsync ${fsync ? "on" : "off"})`, async t => {
                assert.deepEqual(await refusedWrites(Driver, t, fsync), await refusedWrites(NoCacheDriver, t, fsync));
            });
        }

        it("writes submitted while close() runs are refused with a rejected promise, as with the cache bypassed", async t => {
            const cached = await writesWhileClosing(Driver, t);
            assert.deepEqual(cached, await writesWhileClosing(NoCacheDriver, t));
            for (const outcome of cached) assert.match(outcome, /StorageError: WalStorageDriver is closing/);
        });

        it("the bound (100,000 values) is kept: past it, and for a larger context, objects are built anew, as on the native path", { timeout: 120_000 }, async t => {
            await checkBound(Driver, t);
            await checkBound(NoCacheDriver, t);
        });

        it("reads stay right past the cache's size bound (100,000 values)", { timeout: 120_000 }, async t => {
            const driver = await open(Driver, t);
            const contexts = 105;
            for (let c = 0; c < contexts; c++) {
                const record = {};
                for (let k = 0; k < 1000; k++) record[`k${k}`] = c * 1000 + k;
                await driver.set(["big", `c${c}`], record);
            }
            for (let round = 0; round < 2; round++) {
                for (let c = 0; c < contexts; c++) {
                    for (let k = 0; k < 1000; k += round ? 7 : 1) {
                        const value = await driver.get(["big", `c${c}`], `k${k}`);
                        if (value !== c * 1000 + k) assert.fail(`round ${round}: big.c${c}/k${k} read ${value}`);
                    }
                }
            }
            await driver.set(["big", "c0"], "k0", "new");
            assert.equal(await driver.get(["big", "c0"], "k0"), "new");
            assert.equal(Object.keys(await driver.values(["big", "c104"])).length, 1000);
        });
    });

    describe("read cache: the checks catch a broken cache", () => {
        for (const mutant of MUTANTS) {
            it(`catches: ${mutant.name}`, { timeout: 180_000 }, async t => {
                const Broken = loadVariant(tempDir(t), mutant.name, [[mutant.from, mutant.to]]);
                const caught = await catchMutant(Broken, mutant, t);
                assert.ok(caught instanceof assert.AssertionError, `the broken cache went unnoticed (${caught ?? "no failure"})`);
                t.diagnostic(`caught by: ${caught.message.split("\n")[0]}`);
            });
        }
    });
}
