"use strict";
// Values and names as matter.js's driver takes them: encoded here with JSON.stringify and a
// port of matter.js's `toJson` replacer, so the bytes in the log are exactly matter.js's for
// every value (toJSON with its key argument, boxed primitives, getters, class instances,
// every ArrayBuffer view, cycles and depth behave as in matter.js). The native side stores
// each value as matter.js's `fromJson` will read it back. Also the one rule for contexts and
// keys that every path applies. Shared by the CommonJS and ES module builds.

// ---------------------------------------------------------------------------------------------

const objectToString = Object.prototype.toString;

function hexOf(view) {
    return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("hex");
}

/** Raised inside JSON.stringify for values JSON.stringify would silently drop or empty. */
class Unstorable extends Error {
    constructor(what) {
        super(what);
        this.what = what;
    }
}

/** matter.js's `toJson` replacer (StringifyTools), in the same order of checks. */
function toJsonReplacer(_key, value) {
    if (value === undefined) {
        return '{"__object__":"Undefined"}';
    }
    switch (typeof value) {
        case "bigint":
            return `{"__object__":"BigInt","__value__":"${value.toString()}"}`;
        case "function":
            throw new Unstorable("a function");
        case "symbol":
            throw new Unstorable("a symbol");
        case "object":
            break;
        default:
            return value;
    }
    if (value === null) {
        return value;
    }
    // matter.js's Bytes.isBytes: every ArrayBuffer and every view of one.
    if (value instanceof ArrayBuffer) {
        return `{"__object__":"Uint8Array","__value__":"${Buffer.from(value).toString("hex")}"}`;
    }
    if (ArrayBuffer.isView(value)) {
        return `{"__object__":"Uint8Array","__value__":"${hexOf(value)}"}`;
    }
    // What Node's Buffer#toJSON produced (JSON.stringify calls toJSON before the replacer).
    if (objectToString.call(value) === "[object Object]" && value.type === "Buffer" && Array.isArray(value.data)) {
        return `{"__object__":"Uint8Array","__value__":"${hexOf(Uint8Array.from(value.data))}"}`;
    }
    if (value instanceof Map) {
        return `{"__object__":"Map","__value__":${JSON.stringify(JSON.stringify(Array.from(value.entries()), toJsonReplacer))}}`;
    }
    if (value instanceof Promise) {
        throw new Unstorable("a Promise");
    }
    return value;
}

/** The path (dotted) to the first value in `root` that JSON.stringify would drop, for messages. */
function unstorablePath(root) {
    const seen = new Set();
    const visit = (value, path) => {
        if (typeof value === "function" || typeof value === "symbol" || value instanceof Promise) return path;
        if (value === null || typeof value !== "object" || seen.has(value)) return undefined;
        seen.add(value);
        try {
            if (typeof value.toJSON === "function") return visit(value.toJSON(path.at(-1) ?? ""), path);
            if (value instanceof Map) {
                let i = 0;
                for (const [k, v] of value) {
                    const found = visit(k, [...path, `<map key ${i}>`]) ?? visit(v, [...path, `<map value ${i}>`]);
                    if (found) return found;
                    i++;
                }
                return undefined;
            }
            if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
            for (const k of Array.isArray(value) ? value.keys() : Object.keys(value)) {
                const found = visit(value[k], [...path, String(k)]);
                if (found) return found;
            }
        } catch {
            return undefined;
        }
        return undefined;
    };
    return visit(root, []);
}

/**
 * `{"values":<record>}`: the record of one update op exactly as matter.js's toJson writes it
 * in a commit line (the record's own toJSON, if any, is called with "values", as there).
 * Plain data takes the fast writer below; anything else, and any value it gives up on, is
 * written by JSON.stringify with the replacer.
 */
function valuesJson(record, makeError) {
    try {
        const fast = fastRecord(record);
        if (fast !== GIVE_UP) return `{"values":${fast}}`;
    } catch (error) {
        throw storeError(error, record, makeError);
    }
    return slowValuesJson(record, makeError);
}

// ---------------------------------------------------------------------------------------------
// The fast writer: the same text as JSON.stringify with toJsonReplacer, for the plain data
// matter.js stores (primitives, bigint, plain and null-prototype objects, arrays, ArrayBuffers
// and their views, Buffers), several times faster because no replacer call crosses back into
// JavaScript per value. It gives up (returns GIVE_UP, and the caller starts over with
// JSON.stringify) on anything where the replacer or JSON.stringify does more: a toJSON method
// other than Buffer's own, a Map, a Date, a class instance, a boxed primitive, a function, a
// symbol, an object shaped like Buffer#toJSON's output, nesting deeper than FAST_DEPTH (which
// also catches cycles), or a BigInt.prototype.toJSON someone installed. Values are read the
// way JSON.stringify reads them (Object.keys order, each property once, array indices up to
// length), so a getter runs once here and, only when the writer gives up after it, once more.

/** Returned instead of text when the fast writer leaves a value to JSON.stringify. */
const GIVE_UP = Symbol("give up");

/** Nesting the fast writer follows before it gives up (cycles and deep values go the slow way). */
const FAST_DEPTH = 64;

const OBJECT_PROTOTYPE = Object.prototype;
const bufferToJSON = Buffer.prototype.toJSON;
const quote = JSON.stringify;
/** The replacer's text for undefined, as it lands in the line: a JSON string. */
const UNDEFINED_TEXT = quote('{"__object__":"Undefined"}');

/** `bytes` (an ArrayBuffer or a view) as the replacer writes it: its marker, as a JSON string. */
function bytesText(hex) {
    return `"{\\"__object__\\":\\"Uint8Array\\",\\"__value__\\":\\"${hex}\\"}"`;
}

/** Quoted object keys, by key: the same few names come back in every value. */
const quotedKeys = new Map();
const QUOTED_KEYS_MAX = 4096;

/** `key` as a JSON string, from quotedKeys when it was seen before. */
function quoteKey(key) {
    let text = quotedKeys.get(key);
    if (text === undefined) {
        if (quotedKeys.size >= QUOTED_KEYS_MAX) quotedKeys.clear();
        text = quote(key);
        quotedKeys.set(key, text);
    }
    return text;
}

/** Hex digits of each byte value. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex of a view's bytes (a loop for short views, Buffer's encoder for long ones). */
function viewHex(view) {
    const n = view.byteLength;
    if (n > 64 || !(view instanceof Uint8Array)) return hexOf(view);
    let hex = "";
    for (let i = 0; i < n; i++) hex += HEX[view[i]];
    return hex;
}

/** The record's text, or GIVE_UP. */
function fastRecord(record) {
    if (record === null || typeof record !== "object" || BigInt.prototype.toJSON !== undefined) return GIVE_UP;
    return fastObject(record, 0);
}

function fastValue(value, depth) {
    switch (typeof value) {
        case "string":
            return quote(value);
        case "number":
            return Number.isFinite(value) ? `${value}` : "null";
        case "boolean":
            return value ? "true" : "false";
        case "undefined":
            return UNDEFINED_TEXT;
        case "bigint":
            return `"{\\"__object__\\":\\"BigInt\\",\\"__value__\\":\\"${value}\\"}"`;
        case "object":
            return value === null ? "null" : fastObject(value, depth);
        default:
            return GIVE_UP; // function, symbol: the replacer refuses them with its message
    }
}

function fastObject(value, depth) {
    if (depth >= FAST_DEPTH) return GIVE_UP;
    const toJSON = value.toJSON;
    if (toJSON !== undefined) {
        if (toJSON === bufferToJSON && Buffer.isBuffer(value)) return bytesText(hexOf(value));
        return GIVE_UP;
    }
    if (Array.isArray(value)) {
        const n = value.length;
        if (n === 0) return "[]";
        let text = "[";
        for (let i = 0; i < n; i++) {
            const item = fastValue(value[i], depth + 1);
            if (item === GIVE_UP) return GIVE_UP;
            text += i === 0 ? item : `,${item}`;
        }
        return `${text}]`;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto === OBJECT_PROTOTYPE || proto === null) {
        if (value.type === "Buffer") return GIVE_UP; // maybe Buffer#toJSON's shape, which the replacer turns into bytes
        const keys = Object.keys(value);
        if (keys.length === 0) return "{}";
        let text = "{";
        for (let i = 0; i < keys.length; i++) {
            const key = keys[i];
            const item = fastValue(value[key], depth + 1);
            if (item === GIVE_UP) return GIVE_UP;
            text += `${i === 0 ? "" : ","}${quoteKey(key)}:${item}`;
        }
        return `${text}}`;
    }
    if (ArrayBuffer.isView(value)) return bytesText(viewHex(value));
    if (value instanceof ArrayBuffer) return bytesText(Buffer.from(value).toString("hex"));
    return GIVE_UP;
}

/** {@link valuesJson} without the fast writer: the reference the tests hold it to. */
function slowValuesJson(record, makeError) {
    try {
        return JSON.stringify({ values: record }, toJsonReplacer);
    } catch (error) {
        throw storeError(error, record, makeError);
    }
}

function storeError(error, record, makeError) {
    if (error instanceof Unstorable) {
        const path = unstorablePath(record) ?? [];
        const [key, ...rest] = path;
        const at = rest.length ? ` at "${rest.join(".")}"` : "";
        const of = key === undefined ? "" : ` (key "${key}")`;
        return makeError("StorageError", `Cannot store ${error.what}${at}: not a supported storage type${of}`);
    }
    if (error instanceof TypeError && /circular/i.test(error.message)) {
        return makeError("StorageError", `Cannot store a circular structure: ${error.message.split("\n")[0]}`);
    }
    if (error instanceof RangeError) {
        return makeError(
            "StorageError",
            `Cannot store a value nested too deeply (circular, or deeper than JSON.stringify can go): ${error.message}`,
        );
    }
    // Anything else was thrown by the value itself (a toJSON method, a getter) or by
    // JSON.stringify (a bigint it cannot serialize): the cause stays attached.
    return makeError("StorageError", `Cannot store this value: ${error?.message ?? error}`, error);
}

function setJson(keyOrValues, value, makeError) {
    if (typeof keyOrValues === "string") {
        return valuesJson({ [keyOrValues]: value }, makeError);
    }
    if (keyOrValues === null || typeof keyOrValues !== "object" || Array.isArray(keyOrValues)) {
        throw makeError("StorageError", "set() needs a string key or a record of values");
    }
    return valuesJson(keyOrValues, makeError);
}

const CONTEXT_RULE = "Context must not contain empty segments or leading or trailing dots.";

/** matter.js's rule for contexts, on every path: an array of non-empty strings without dots, joined. */
function contextKey(contexts, makeError) {
    if (!Array.isArray(contexts)) {
        throw makeError("StorageError", "Contexts must be an array of strings");
    }
    let key = "";
    for (let i = 0; i < contexts.length; i++) {
        const part = contexts[i];
        if (typeof part !== "string") {
            throw makeError("StorageError", "Contexts must be an array of strings");
        }
        if (part.length === 0 || part.includes(".")) {
            throw makeError("StorageError", CONTEXT_RULE);
        }
        key = i === 0 ? part : `${key}.${part}`;
    }
    return key;
}

function keyOf(key, makeError) {
    if (typeof key !== "string") {
        throw makeError("StorageError", "Key must be a string");
    }
    return key;
}

module.exports = { toJsonReplacer, setJson, slowValuesJson, contextKey, keyOf };
