// The fast value writer in lib/values.cjs against the reference encoding it must equal:
// JSON.stringify with the port of matter.js's toJson replacer (itself checked against
// matter.js by the differential test). Same text for every value the writer handles, the same
// outcome (text or the same StorageError message) when it gives a value up to JSON.stringify,
// over the differential test's whole value space and at every edge the writer has.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";

import * as gen from "./fixtures/value-gen.mjs";
import { rng } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const { setJson, slowValuesJson } = require("../lib/values.cjs");

const COUNT = Number(process.env.WRITER_COUNT ?? 6000);
const SEED = Number(process.env.WRITER_SEED ?? Math.floor(Math.random() * 2 ** 31));

const makeError = (name, message) => Object.assign(new Error(message), { name });

/** What setJson gives: its text, or the class name and message of what it threw. */
function outcome(fn) {
    try {
        return { text: fn() };
    } catch (error) {
        return { error: `${error.name}: ${error.message}` };
    }
}

/** The reference: the record through JSON.stringify and the replacer only, as setJson's text or error. */
function reference(keyOrValues, value) {
    const record = typeof keyOrValues === "string" ? { [keyOrValues]: value } : keyOrValues;
    return outcome(() => slowValuesJson(record, makeError));
}

/** Compares setJson on `build()` (fresh each time: getters and toJSON may count calls) with the reference. */
function check(build, key, label) {
    const ours = outcome(() => (key === undefined ? setJson(build(), undefined, makeError) : setJson(key, build(), makeError)));
    const theirs = key === undefined ? reference(build()) : reference(key, build());
    assert.deepEqual(ours, theirs, label);
}

describe("fast value writer: the same text as JSON.stringify with matter.js's replacer", () => {
    it(`random values and records (seed ${SEED}; replay: WRITER_SEED=${SEED})`, () => {
        const r = rng(SEED);
        for (let i = 0; i < COUNT; i++) {
            const recipe = i % 3 === 2 ? gen.genRecord(r) : gen.genValue(r);
            const label = `seed ${SEED} #${i}: ${gen.toSource(recipe).slice(0, 300)}`;
            if (i % 3 === 2) check(() => gen.build(recipe), undefined, label);
            else check(() => gen.build(recipe), gen.genKey(r), label);
        }
    });

    it("every string of the boundary sweep, as value and as key", () => {
        for (const s of gen.sweepStrings()) {
            check(() => s, "k", JSON.stringify(s).slice(0, 80));
            check(() => ({ [s]: 1, b: s }), undefined, `key ${JSON.stringify(s).slice(0, 80)}`);
        }
    });

    it("every ArrayBuffer and view form, at the loop/encoder length edge and with offsets", () => {
        for (const form of Object.keys(gen.BYTE_FORMS)) {
            for (const n of [0, 1, 8, 56, 63, 64, 65, 72, 200].filter(n => n % gen.BYTE_FORMS[form] === 0)) {
                const hex = Array.from({ length: n }, (_, i) => ((i * 37 + 11) & 0xff).toString(16).padStart(2, "0")).join("");
                const size = gen.BYTE_FORMS[form];
                for (const opts of [{}, { offset: 3 * size, tail: 5 * size }, { shared: true }]) {
                    check(() => ({ v: gen.bytes(form, hex, opts), list: [gen.bytes(form, hex, opts)] }), undefined, `${form} ${n} ${JSON.stringify(opts)}`);
                }
            }
        }
        check(() => Buffer.from("buffer"), "k", "a Buffer");
        check(() => Buffer.from("buffer").subarray(2, 4), "k", "a Buffer slice");
        check(() => new Float64Array([1.5, -0, NaN]), "k", "a Float64Array");
        check(() => new DataView(new ArrayBuffer(9), 2, 5), "k", "a DataView");
        check(() => new ArrayBuffer(70), "k", "an ArrayBuffer past the loop length");
    });

    it("each case the writer leaves to JSON.stringify gives the same text or error", () => {
        const cases = {
            "Buffer#toJSON's shape": () => ({ type: "Buffer", data: [1, 2, 255] }),
            "Buffer's shape with non-array data": () => ({ type: "Buffer", data: "x" }),
            "a Buffer with its own toJSON": () => Object.assign(Buffer.from("ab"), { toJSON: () => "mine" }),
            "a toJSON method": () => ({ a: { toJSON: key => `key ${key}` } }),
            "a toJSON that is not a function": () => ({ toJSON: 5, b: 1 }),
            "a record key named toJSON": () => ({ toJSON: () => ({ x: 1 }) }),
            "a Map": () => ({ m: new Map([[1, { a: 2n }]]) }),
            "a Date": () => ({ d: new Date(0) }),
            "a class instance": () => ({ c: new (class Point { x = 1; y = [2]; })() }),
            "boxed primitives": () => ({ n: Object(1), s: Object("s"), b: Object(false) }),
            "a boxed bigint": () => ({ n: Object(1n) }),
            "a function": () => ({ f() {} }),
            "a symbol": () => ({ s: Symbol("s") }),
            "a Promise": () => ({ p: Promise.resolve(1) }),
            "a getter": () => ({ get g() { return [1, 2]; } }),
            "a throwing getter": () => ({ get g() { throw new Error("no"); } }),
            "a proxy of an object": () => ({ p: new Proxy({ a: 1, b: [2] }, {}) }),
            "a proxy of an array": () => ({ p: new Proxy([1, undefined, 3], {}) }),
            "a proxy of a Uint8Array": () => ({ p: new Proxy(new Uint8Array([1, 2]), {}) }),
            "holes and undefined": () => ({ a: [1, , undefined, 3], u: undefined }),
            "numbers JSON writes as null": () => ({ a: [NaN, Infinity, -Infinity, -0, 1e21, 5e-324] }),
            "a null-prototype object": () => Object.assign(Object.create(null), { a: 1, __proto__x: 2 }),
            "an own __proto__": () => JSON.parse('{"__proto__": {"a": 1}, "b": 2}'),
            "integer-like keys": () => ({ b: 1, 2: 2, 1: 1, "-1": 0, "01": 3 }),
        };
        for (const [label, build] of Object.entries(cases)) {
            check(build, undefined, label);
            check(build, "key", `${label} (under a key)`);
        }
    });

    it("nesting around the writer's depth limit, cycles, and values too deep for JSON.stringify", () => {
        for (const n of [62, 63, 64, 65, 66, 500]) {
            check(() => gen.nest("arr", n, 1), "k", `arrays ${n} deep`);
            check(() => gen.nest("obj", n, "x"), "k", `objects ${n} deep`);
        }
        for (const kind of ["obj", "arr", "map", "deep"]) check(() => gen.cycle(kind), "k", `cycle ${kind}`);
        const deep = () => gen.nest("arr", 200_000, 1);
        check(deep, "k", "200,000 levels");
    });

    it("a BigInt.prototype.toJSON someone installed is honoured, as JSON.stringify honours it", () => {
        BigInt.prototype.toJSON = function () {
            return `big ${this}`;
        };
        try {
            check(() => ({ a: 5n, b: [6n] }), undefined, "patched BigInt");
        } finally {
            delete BigInt.prototype.toJSON;
        }
        check(() => ({ a: 5n }), undefined, "after the patch is removed");
    });

    it("more distinct keys than the quoted-key cache holds", () => {
        for (let round = 0; round < 3; round++) {
            const record = {};
            for (let i = 0; i < 5000; i++) record[`k${round}-${i}\u00e9"`] = i;
            check(() => record, undefined, `round ${round}`);
        }
    });
});
