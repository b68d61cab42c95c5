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
 */
function valuesJson(record, makeError) {
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

module.exports = { toJsonReplacer, setJson, contextKey, keyOf };
