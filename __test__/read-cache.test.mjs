// The JS-side read cache of lib/api.cjs (get/has/values/keys answered without a native call):
// a read through it must give exactly what the native store holds at that moment.
//
// - Random interleavings (seeded, replayable: a failure names its seed and mode) of set /
//   delete / clearAll (parents and the root included) / transactions and get / has / values /
//   keys on a few nested contexts, with fsync on (writes applied by the writer thread) and off
//   (applied inline), writes awaited or left in flight. Every read is checked against a model
//   of the store: while writes are in flight the store may hold any state between the last
//   settled write and the last submitted one, never an older one than a previous read showed;
//   when nothing is in flight the read must equal the model's state exactly AND an uncached
//   native read taken at the same moment (a transaction's read, which builds fresh values
//   from the committed state). Object identity is checked when nothing is in flight.
// - The same scenarios run against deliberately broken copies of lib/api.cjs (invalidation
//   dropped, in-flight writes not holding back caching, sub-contexts not cleared, ...); each
//   must be caught, so the checks above can fail.
// - Identity, values() freshness, has()/get() agreement, errors and close() one by one.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import { NATIVE_AVAILABLE, NATIVE_LOAD_ERROR, NATIVE_REQUIRED, matter, native } from "./helpers.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(HERE);
const require = createRequire(import.meta.url);

function tempDir(t) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-readcache-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
}

async function open(Driver, t, options = {}) {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-readcache-"));
    const driver = new Driver(path.join(base, "store"), { fsync: false, ...options });
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
const KEYS = ["k", "j", "2", "10", "01", "__proto__", "", "x.y"];

/** A fresh value of a random type; most are distinct, so a stale read shows. */
function randomValue(random, seq) {
    switch (Math.floor(random() * 12)) {
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
            return random() < 0.5 ? null : seq % 2 === 0;
        case 8:
            return undefined; // removes the key
        case 9:
            return { [`p${seq % 3}`]: seq, 3: "index", b: [new Uint8Array([1]), 2n] };
        default:
            return { v: seq };
    }
}

const pick = (random, list) => list[Math.floor(random() * list.length)];
const ctxKey = contexts => contexts.join(".");

/**
 * Runs one random scenario on `driver`; throws an AssertionError naming the step on the first
 * read that disagrees with the model or with an uncached native read.
 */
async function runScenario(Driver, t, { seed, fsync, awaitWrites, steps = 400 }) {
    const driver = await open(Driver, t, { fsync });
    const oracle = await driver.begin(); // never written: its reads are uncached native reads of the committed state
    const random = prng(seed);
    const model = new Model();
    const inFlight = new Set();
    /** Per read kind and (context, key): the oldest state the last read of it could have been. */
    const lastSeen = new Map();
    /** Per (context, key): the object last read while nothing was in flight, and its version. */
    const objects = new Map();
    let seq = 0;
    const where = step => `seed ${seed}, fsync ${fsync}, awaitWrites ${awaitWrites}, step ${step}`;

    function track(promise, write) {
        const p = promise.then(
            () => model.markDone(write),
            error => model.markDone(write, error),
        );
        inFlight.add(p);
        p.then(() => inFlight.delete(p));
        return p;
    }

    async function write(submit, ops) {
        const w = model.submit(ops);
        const p = track(submit(), w);
        if (awaitWrites || random() < 0.15) await p;
        if (w.error) throw w.error;
    }

    /** The range of states a read started now may see, and the id of its monotonic floor. */
    function window(id) {
        const lo = Math.max(model.settled, lastSeen.get(id) ?? 0);
        return { lo, hi: model.submitted, quiet: model.settled === model.submitted };
    }

    function accept(step, id, win, observed, stateText, what) {
        for (let j = win.lo; j <= win.hi; j++) {
            if (stateText(j) === observed) {
                lastSeen.set(id, j);
                return j;
            }
        }
        const allowed = [];
        for (let j = win.lo; j <= win.hi; j++) allowed.push(`#${j}: ${stateText(j)}`);
        assert.fail(`${where(step)}: ${what} gave ${observed}; the store held one of\n  ${allowed.join("\n  ")}`);
    }

    function checkIdentity(step, ctx, key, value, j) {
        if (value === null || typeof value !== "object") return;
        const id = `${ctx}\0${key}`;
        const version = model.versionAt(j, ctx, key);
        const before = objects.get(id);
        if (before?.version === version) {
            assert.ok(before.value === value, `${where(step)}: get/values of ${ctx}/${key} unchanged since write #${version} gave a new object`);
        } else if (before !== undefined) {
            assert.ok(before.value !== value, `${where(step)}: ${ctx}/${key} written (#${before.version} → #${version}) but the old object came back`);
        }
        objects.set(id, { value, version });
    }

    for (let step = 0; step < steps; step++) {
        const contexts = pick(random, CONTEXTS);
        const ctx = ctxKey(contexts);
        const key = pick(random, KEYS);
        const r = random();
        if (r < 0.2) {
            const value = randomValue(random, ++seq);
            await write(() => driver.set([...contexts], key, value), [{ type: "set", ctx, values: [[key, canon(value)]] }]);
        } else if (r < 0.27) {
            const record = {};
            for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
                // defined, so "__proto__" is an own property as any other key
                Object.defineProperty(record, pick(random, KEYS), { value: randomValue(random, ++seq), enumerable: true, writable: true, configurable: true });
            }
            const values = Object.keys(record).map(k => [k, canon(record[k])]);
            await write(() => driver.set([...contexts], record), [{ type: "set", ctx, values }]);
        } else if (r < 0.33) {
            await write(() => driver.delete([...contexts], key), [{ type: "delete", ctx, keys: [key] }]);
        } else if (r < 0.36) {
            await write(() => driver.clearAll([...contexts]), [{ type: "clear", ctx }]);
        } else if (r < 0.41) {
            const tx = await driver.begin();
            const ops = [];
            for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
                const c = pick(random, CONTEXTS);
                const k = pick(random, KEYS);
                const kind = random();
                if (kind < 0.6) {
                    const value = randomValue(random, ++seq);
                    tx.set(c, k, value);
                    ops.push({ type: "set", ctx: ctxKey(c), values: [[k, canon(value)]] });
                } else if (kind < 0.85) {
                    tx.delete(c, k);
                    ops.push({ type: "delete", ctx: ctxKey(c), keys: [k] });
                } else {
                    tx.clearAll(c);
                    ops.push({ type: "clear", ctx: ctxKey(c) });
                }
            }
            if (random() < 0.1) {
                tx[Symbol.dispose](); // rolled back: nothing written
            } else {
                await write(() => tx.commit(), ops);
            }
        } else if (r < 0.58) {
            const id = `get\0${ctx}\0${key}`;
            const win = window(id);
            const pending = driver.get(contexts, key);
            const direct = win.quiet ? oracle.get(contexts, key) : undefined;
            const value = await pending;
            const j = accept(step, id, win, canon(value), s => model.valueAt(s, ctx, key), `get(${ctx}, ${key})`);
            if (win.quiet) {
                assert.equal(canon(value), canon(await direct), `${where(step)}: get(${ctx}, ${key}) differs from an uncached native read`);
                checkIdentity(step, ctx, key, value, j);
            }
        } else if (r < 0.66) {
            const id = `has\0${ctx}\0${key}`;
            const win = window(id);
            const pending = driver.has(contexts, key);
            const direct = win.quiet ? oracle.has(contexts, key) : undefined;
            const found = await pending;
            accept(step, id, win, String(found), s => String(model.valueAt(s, ctx, key) !== "undefined"), `has(${ctx}, ${key})`);
            if (win.quiet) assert.equal(found, await direct, `${where(step)}: has(${ctx}, ${key}) differs from an uncached native read`);
        } else if (r < 0.8) {
            const id = `values\0${ctx}`;
            const win = window(id);
            const pending = driver.values(contexts);
            const direct = win.quiet ? oracle.values(contexts) : undefined;
            const values = await pending;
            const j = accept(step, id, win, canonRecord(values), s => model.valuesAt(s, ctx), `values(${ctx})`);
            if (win.quiet) {
                assert.equal(canonRecord(values), canonRecord(await direct), `${where(step)}: values(${ctx}) differs from an uncached native read`);
                for (const k of Object.keys(values)) checkIdentity(step, ctx, k, values[k], j);
            }
            // The caller owns the object: changing it changes nothing stored.
            if (random() < 0.5) {
                values.junk = 1;
                delete values[pick(random, KEYS)];
            }
        } else if (r < 0.88) {
            const id = `keys\0${ctx}`;
            const win = window(id);
            const pending = driver.keys(contexts);
            const direct = win.quiet ? oracle.keys(contexts) : undefined;
            const keys = await pending;
            accept(step, id, win, JSON.stringify(keys), s => JSON.stringify(model.keysAt(s, ctx)), `keys(${ctx})`);
            if (win.quiet) assert.deepEqual(keys, await direct, `${where(step)}: keys(${ctx}) differs from an uncached native read`);
        } else if (r < 0.94) {
            await Promise.all(inFlight);
        } else {
            await new Promise(resolve => setTimeout(resolve, random() < 0.5 ? 0 : 2));
        }
    }
    await Promise.all(inFlight);
    for (const w of model.writes) assert.equal(w.error, undefined, "no write failed");
    oracle[Symbol.dispose]();
    await driver.close();
}

const MODES = [
    { fsync: true, awaitWrites: false },
    { fsync: false, awaitWrites: false },
    { fsync: true, awaitWrites: true },
    { fsync: false, awaitWrites: true },
];

// ---------------------------------------------------------------------------------------------
// Broken copies of lib/api.cjs the scenarios must catch

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
        from: "        if (this.pending.size === 0 && this.pendingClears.size === 0) return true;",
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
];

function loadMutant(dir, mutant, n) {
    const source = fs.readFileSync(path.join(ROOT, "lib", "api.cjs"), "utf8");
    assert.equal(source.split(mutant.from).length, 2, `mutant "${mutant.name}": its code is in lib/api.cjs exactly once`);
    const broken = source
        .replace(mutant.from, mutant.to)
        .replace('require("../load-native.cjs")', `require(${JSON.stringify(path.join(ROOT, "load-native.cjs"))})`)
        .replace('require("./values.cjs")', `require(${JSON.stringify(path.join(ROOT, "lib", "values.cjs"))})`);
    const file = path.join(dir, `api-mutant-${n}.cjs`);
    fs.writeFileSync(file, broken);
    return require(file).createApi(matter, () => import("@matter/nodejs")).WalStorageDriver;
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

    describe("read cache: random interleavings against the model and uncached native reads", () => {
        for (const mode of MODES) {
            it(`fsync ${mode.fsync ? "on" : "off"}, writes ${mode.awaitWrites ? "awaited" : "left in flight"}`, { timeout: 120_000 }, async t => {
                for (const seed of [1, 2, 3, 4, 5, 6]) await runScenario(Driver, t, { ...mode, seed });
            });
        }
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

    describe("read cache: the scenarios catch a broken cache", () => {
        for (const [n, mutant] of MUTANTS.entries()) {
            it(`catches: ${mutant.name}`, { timeout: 120_000 }, async t => {
                const Broken = loadMutant(tempDir(t), mutant, n);
                let caught;
                search: for (const seed of [1, 2, 3, 4, 5, 6]) {
                    for (const mode of MODES) {
                        try {
                            await runScenario(Broken, t, { ...mode, seed });
                        } catch (error) {
                            caught = error;
                            break search;
                        }
                    }
                }
                assert.ok(caught instanceof assert.AssertionError, `the broken cache went unnoticed (${caught ?? "no failure"})`);
                t.diagnostic(`caught by: ${caught.message.split("\n")[0]}`);
            });
        }
    });
}
