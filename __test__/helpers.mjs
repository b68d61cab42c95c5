// Shared helpers for the matter-wal-native JavaScript test suite.
//
// The suite runs the same assertions against two driver "kinds":
//   "ts"     - matter.js's own TypeScript WalStorageDriver from @matter/general (the reference behaviour)
//   "native" - our Rust/napi WalStorageDriver exported by ../index.js
//
// Running everything against "ts" proves that the assertions describe matter.js's real behaviour; running it
// against "native" proves the addon is a drop-in replacement.

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { pathToFileURL } from "node:url";

import * as matter from "@matter/general";
import { NodeJsFilesystem } from "@matter/nodejs";

const { WalStorageDriver: TsWalStorageDriver, DatafileRoot, toJson, fromJson, Logger } = matter;

export { matter, toJson, fromJson, DatafileRoot, NodeJsFilesystem, TsWalStorageDriver };

// matter.js logs lock acquisition etc. at debug level to stdout; keep test output readable.
try {
    Logger.level = "warn";
} catch {
    // ignore - logging level is cosmetic
}

const require = createRequire(import.meta.url);

// The CommonJS build of @matter/general has distinct class identities from the ESM build.  A CommonJS addon that
// extends matter's error classes will extend the CJS ones, so accept either when checking `instanceof`.
let matterCjs;
try {
    matterCjs = require("@matter/general");
} catch {
    matterCjs = undefined;
}
try {
    if (matterCjs) matterCjs.Logger.level = "warn";
} catch {
    // ignore
}
export { matterCjs };

// ---------------------------------------------------------------------------------------------------------------
// Native addon loading
// ---------------------------------------------------------------------------------------------------------------

/** True when the suite must fail (not skip) if the native addon cannot be loaded. */
export const NATIVE_REQUIRED =
    (process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "0" && process.env.CI !== "false") ||
    process.env.REQUIRE_NATIVE === "1";

/**
 * Module specifier of the native package.  MATTER_WAL_NATIVE_MODULE can point elsewhere (used to exercise the
 * native-side test code against a stand-in while the addon is not built); defaults to ../index.js.
 */
export const NATIVE_MODULE_PATH = process.env.MATTER_WAL_NATIVE_MODULE
    ? path.resolve(process.env.MATTER_WAL_NATIVE_MODULE)
    : "../index.js";

/**
 * Load the package with import() so that both a CommonJS index.js (module.exports = {...}) and an ESM index.js
 * (named exports and/or a default export) work.  Returns { WalStorageDriver, StorageError, StorageCommitError,
 * StorageLockError, namespace }.
 */
async function loadNativePackage() {
    const specifier = path.isAbsolute(NATIVE_MODULE_PATH)
        ? pathToFileURL(NATIVE_MODULE_PATH).href
        : new URL(NATIVE_MODULE_PATH, import.meta.url).href;
    const namespace = await import(specifier);
    const fromDefault = namespace.default;
    const pick = name =>
        namespace[name] ??
        (fromDefault && typeof fromDefault === "object" ? fromDefault[name] : undefined) ??
        (typeof fromDefault === "function" ? fromDefault[name] : undefined);
    let WalStorageDriver = pick("WalStorageDriver");
    if (!WalStorageDriver && typeof fromDefault === "function" && fromDefault.id === "wal") {
        WalStorageDriver = fromDefault; // `export default WalStorageDriver`
    }
    if (typeof WalStorageDriver !== "function") {
        throw new Error(`${NATIVE_MODULE_PATH} loaded but does not export a WalStorageDriver class`);
    }
    return {
        WalStorageDriver,
        StorageError: pick("StorageError"),
        StorageCommitError: pick("StorageCommitError"),
        StorageLockError: pick("StorageLockError"),
        namespace,
    };
}

let nativeModule;
let nativeLoadError;
try {
    nativeModule = await loadNativePackage();
} catch (error) {
    nativeModule = undefined;
    nativeLoadError = error;
}

/** The loaded native package ({ WalStorageDriver, StorageError, ... } from ../index.js) or undefined when not built. */
export const native = nativeModule;
export const NATIVE_AVAILABLE = nativeModule !== undefined;
export const NATIVE_LOAD_ERROR = nativeLoadError;

export const KINDS = ["ts", "native"];

/** Kinds that can actually run in this process (native is omitted when the addon is missing). */
export const AVAILABLE_KINDS = NATIVE_AVAILABLE ? ["ts", "native"] : ["ts"];

/**
 * Describe a suite for one driver kind.  For "native" when the addon failed to load:
 *  - if CI / REQUIRE_NATIVE=1 is set, registers a suite containing a single FAILING test reporting the load error;
 *  - otherwise the suite is skipped with the load error as reason.
 */
export function describeKindOrSkipIfNativeMissing(kind, title, fn) {
    if (kind === "native" && !NATIVE_AVAILABLE) {
        const reason = `native addon not built (${NATIVE_MODULE_PATH} failed to load: ${nativeLoadError?.message ?? "unknown"})`;
        if (NATIVE_REQUIRED) {
            describe(title, () => {
                it("native addon loads (required because CI or REQUIRE_NATIVE=1 is set)", () => {
                    throw new Error(reason, { cause: nativeLoadError });
                });
            });
        } else {
            describe(title, { skip: reason }, () => {});
        }
        return;
    }
    describe(title, () => fn(kind));
}

/** Run `fn(kind)` inside one describe per kind ("ts" and "native"). */
export function describeEachKind(title, fn) {
    for (const kind of KINDS) {
        describeKindOrSkipIfNativeMissing(kind, `${title} [${kind}]`, fn);
    }
}

/** Driver class for a kind. */
export function driverClass(kind) {
    if (kind === "ts") return TsWalStorageDriver;
    if (kind === "native") {
        if (!NATIVE_AVAILABLE) throw new Error("native addon not available");
        return native.WalStorageDriver;
    }
    throw new Error(`unknown kind ${kind}`);
}

/** Error classes a kind is expected to throw. */
export function errorClasses(kind) {
    if (kind === "ts") {
        return {
            StorageError: matter.StorageError,
            StorageCommitError: matter.StorageCommitError,
            StorageLockError: matter.StorageLockError,
        };
    }
    return {
        StorageError: native.StorageError,
        StorageCommitError: native.StorageCommitError,
        StorageLockError: native.StorageLockError,
    };
}

function isMatterInstance(error, className) {
    if (error instanceof matter[className]) return true;
    if (matterCjs && error instanceof matterCjs[className]) return true;
    return false;
}

/**
 * Assert that `error` is a storage error of the given class with the given message, for the given kind.
 * For "native" additionally requires `.name` to equal the class name and `instanceof` both our exported class and
 * matter's class (ESM or CJS build).  matter.js's own errors have `.name === "Error"` so that is not checked for "ts".
 */
export function assertStorageError(kind, error, className, message) {
    assert.ok(error instanceof Error, `expected an Error, got ${typeof error}: ${String(error)}`);
    if (message instanceof RegExp) {
        assert.match(error.message, message);
    } else if (message !== undefined) {
        assert.equal(error.message, message);
    }
    assert.ok(
        isMatterInstance(error, className),
        `expected instance of @matter/general ${className}, got ${error?.constructor?.name} (${error.name}): ${error.message}`,
    );
    assert.equal(error.constructor.name, className);
    if (kind === "native") {
        assert.equal(error.name, className, "native errors must have .name equal to the class name");
        assert.ok(error instanceof native[className], `expected instance of our exported ${className}`);
    }
}

/** Expect that calling `fn` either throws synchronously or returns a promise that rejects; returns the error. */
export async function captureError(fn) {
    let result;
    try {
        result = fn();
    } catch (error) {
        return error;
    }
    try {
        await result;
    } catch (error) {
        return error;
    }
    assert.fail("expected the call to throw or reject, but it succeeded");
}

/** Expect that calling `fn` returns a promise (does not throw synchronously) which rejects; returns the error. */
export async function captureRejection(fn) {
    let result;
    try {
        result = fn();
    } catch (error) {
        assert.fail(`expected a rejected promise, but the call threw synchronously: ${error?.message}`);
    }
    assert.ok(isThenable(result), "expected the call to return a promise");
    try {
        await result;
    } catch (error) {
        return error;
    }
    assert.fail("expected the promise to reject, but it resolved");
}

/** Expect that calling `fn` throws synchronously; returns the error. */
export function captureSyncThrow(fn) {
    let result;
    try {
        result = fn();
    } catch (error) {
        return error;
    }
    if (isThenable(result)) {
        result.catch(() => {});
        assert.fail("expected a synchronous throw, but the call returned a promise");
    }
    assert.fail("expected a synchronous throw, but the call returned normally");
}

export function isThenable(value) {
    return value !== null && (typeof value === "object" || typeof value === "function") && typeof value.then === "function";
}

// ---------------------------------------------------------------------------------------------------------------
// Temp directories
// ---------------------------------------------------------------------------------------------------------------

const tempDirs = new Set();

function removeDirSync(dir) {
    try {
        fs.rmSync(dir, { recursive: true, force: true });
    } catch {
        // best effort
    }
}

process.on("exit", () => {
    for (const dir of tempDirs) removeDirSync(dir);
});

/**
 * Create a fresh real directory under os.tmpdir().  Removed after the test when `t` (a node:test context) is given,
 * and in any case when the process exits.
 */
export function makeTempDir(t, prefix = "mwn-test-") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    tempDirs.add(dir);
    if (t?.after) {
        t.after(async () => {
            // close drivers left open by the test first, so their final snapshot doesn't hit a deleted directory
            await closeAllDrivers();
            removeDirSync(dir);
            tempDirs.delete(dir);
        });
    }
    return dir;
}

/** A storage directory path (not yet created) inside a fresh temp dir. */
export function makeStorageDir(t, name = "node0") {
    return path.join(makeTempDir(t), name);
}

/**
 * Recursively copy a storage directory (used to freeze a storage state and give each reader its own copy).  matter's
 * lock files are not copied (a copy taken while the writer is open would otherwise look locked by this process).
 */
export function copyDir(src, dest) {
    fs.cpSync(src, dest, {
        recursive: true,
        filter: source => !["matter.lock", "matter.pid"].includes(path.basename(source)),
    });
    return dest;
}

/**
 * Run `fn` and return [result, newEntries] where newEntries are the clone copies that appeared in os.tmpdir()
 * meanwhile: ours are `matter-wal-clone-<hex>`, matter.js's `matter-<pid>-<time>-<n>` (NodeJsFilesystem's
 * tempFilename, this process's pid).  Only those names: the caller removes what is returned, and anything else
 * new in the temp directory may belong to another process (a second test run on the machine once lost its store
 * directory this way, mid-test).
 */
export async function withNewTmpEntries(fn) {
    const tmp = os.tmpdir();
    const isCloneCopy = name => /^matter-wal-clone-[0-9a-f]{16}$/.test(name) || name.startsWith(`matter-${process.pid}-`);
    const before = new Set(fs.readdirSync(tmp));
    const result = await fn();
    const created = fs
        .readdirSync(tmp)
        .filter(name => !before.has(name) && isCloneCopy(name))
        .map(name => path.join(tmp, name));
    return [result, created];
}

export function removeDirs(dirs) {
    for (const dir of dirs) removeDirSync(dir);
}

// ---------------------------------------------------------------------------------------------------------------
// Driver factory
// ---------------------------------------------------------------------------------------------------------------

const openDrivers = new Set();

/** matter.js Directory for an absolute path. */
export function matterDirectory(dir) {
    return new NodeJsFilesystem(path.dirname(dir)).directory(path.basename(dir));
}

export function matterRoot(dir) {
    return new DatafileRoot(matterDirectory(dir));
}

/**
 * Construct (and by default initialize) a driver of the given kind for storage directory `dir`.
 *
 * options:
 *   via: how the storage location is passed
 *     "root"       - namespace = DatafileRoot(Directory(dir))                  (default for "ts")
 *     "path"       - namespace = dir (plain path string); for "ts" this falls back to storageDir Directory
 *                                                                                (default for "native")
 *     "storageDir" - namespace undefined, options.storageDir = dir as a path string ("native") or Directory ("ts")
 *     "directory"  - namespace undefined, options.storageDir = matter Directory (both kinds)
 *   root: an existing DatafileRoot to use (implies via "root")
 *   initialize: default true
 *   every other property is passed through as a driver option (fsync defaults to false here)
 */
export async function openDriver(kind, dir, options = {}) {
    const { via: viaOption, root, initialize = true, ...rest } = options;
    const driverOptions = { fsync: false, ...rest };
    const Driver = driverClass(kind);
    const via = root ? "root" : (viaOption ?? (kind === "ts" ? "root" : "path"));

    let driver;
    switch (via) {
        case "root":
            driver = new Driver(root ?? matterRoot(dir), driverOptions);
            break;
        case "path":
            if (kind === "ts") {
                driver = new Driver(undefined, { ...driverOptions, storageDir: matterDirectory(dir) });
            } else {
                driver = new Driver(dir, driverOptions);
            }
            break;
        case "storageDir":
            driver = new Driver(undefined, {
                ...driverOptions,
                storageDir: kind === "ts" ? matterDirectory(dir) : dir,
            });
            break;
        case "directory":
            driver = new Driver(undefined, { ...driverOptions, storageDir: matterDirectory(dir) });
            break;
        default:
            throw new Error(`unknown via ${via}`);
    }

    openDrivers.add(driver);
    if (initialize) {
        await driver.initialize();
    }
    return driver;
}

/** Register an externally created driver (e.g. from create() or clone()) so it's closed at the end. */
export function trackDriver(driver) {
    openDrivers.add(driver);
    return driver;
}

/** Close a driver if it is still initialized (ignoring errors); used for cleanup. */
export async function safeClose(driver) {
    try {
        if (driver?.initialized) {
            await driver.close();
        }
    } catch {
        // ignore
    }
    openDrivers.delete(driver);
}

/** Close every driver opened through this module that is still open.  Call from an `after` hook. */
export async function closeAllDrivers() {
    for (const driver of [...openDrivers]) {
        await safeClose(driver);
    }
}

/** Register the standard cleanup hook for a test file. */
export function registerCleanup() {
    after(async () => {
        await closeAllDrivers();
        for (const dir of tempDirs) removeDirSync(dir);
        tempDirs.clear();
    });
}

// ---------------------------------------------------------------------------------------------------------------
// On-disk layout helpers
// ---------------------------------------------------------------------------------------------------------------

export function segmentName(segment, compressed = false) {
    return segment.toString(16).padStart(8, "0") + (compressed ? ".jsonl.gz" : ".jsonl");
}

/** Segment files in `<dir>/wal`, sorted by segment number (plain before gz for the same segment). */
export function listSegments(dir) {
    const walDir = path.join(dir, "wal");
    if (!fs.existsSync(walDir)) return [];
    const result = [];
    for (const name of fs.readdirSync(walDir)) {
        const match = name.match(/^([0-9a-f]{8})\.jsonl(\.gz)?$/i);
        if (!match) continue;
        const file = path.join(walDir, name);
        let size;
        try {
            size = fs.statSync(file).size;
        } catch (error) {
            if (error.code === "ENOENT") continue; // removed by background compression/cleaning meanwhile
            throw error;
        }
        result.push({
            name,
            segment: parseInt(match[1], 16),
            compressed: match[2] !== undefined,
            path: file,
            size,
        });
    }
    return result.sort((a, b) => a.segment - b.segment || Number(a.compressed) - Number(b.compressed));
}

/** All names in `<dir>/wal` (including temp files), sorted. */
export function walDirNames(dir) {
    const walDir = path.join(dir, "wal");
    return fs.existsSync(walDir) ? fs.readdirSync(walDir).sort() : [];
}

/** Names in the storage dir, excluding matter's lock files; sorted. */
export function storageDirNames(dir) {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter(name => name !== "matter.lock" && name !== "matter.pid")
        .sort();
}

export function readMaybeGzip(file) {
    const bytes = fs.readFileSync(file);
    return file.endsWith(".gz") ? zlib.gunzipSync(bytes).toString("utf8") : bytes.toString("utf8");
}

export function isGzipFile(file) {
    const bytes = fs.readFileSync(file);
    return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Text of a segment, preferring the compressed file like matter.js's reader does. */
export function readSegmentText(dir, segment) {
    const walDir = path.join(dir, "wal");
    const gz = path.join(walDir, segmentName(segment, true));
    if (fs.existsSync(gz)) return readMaybeGzip(gz);
    return fs.readFileSync(path.join(walDir, segmentName(segment)), "utf8");
}

/** Non-empty lines of a segment. */
export function readSegmentLines(dir, segment) {
    return readSegmentText(dir, segment)
        .split("\n")
        .filter(line => line.trim() !== "");
}

/**
 * Every WAL commit on disk, in order: [{ id: {segment, offset}, line, commit }] where commit is JSON.parse(line)
 * (raw JSON, special types still encoded) and `decoded` is fromJson(line).
 */
export function readWal(dir) {
    const segments = [...new Set(listSegments(dir).map(s => s.segment))];
    const result = [];
    for (const segment of segments) {
        const lines = readSegmentText(dir, segment).split("\n");
        lines.forEach((line, offset) => {
            if (line.trim() === "") return;
            result.push({ id: { segment, offset }, line, commit: JSON.parse(line) });
        });
    }
    return result;
}

export function walLineCount(dir) {
    return readWal(dir).length;
}

export function lastWalEntry(dir) {
    const all = readWal(dir);
    return all[all.length - 1];
}

/**
 * Read a snapshot file (`snapshot` or `head`): { name, compressed, text, parsed } or undefined.  If both the plain
 * and gz variants exist, returns the one with the newer mtime (matter.js's rule), preferring gz on ties.
 */
export function readSnapshotFile(dir, basename = "snapshot") {
    const gz = path.join(dir, `${basename}.json.gz`);
    const plain = path.join(dir, `${basename}.json`);
    const gzExists = fs.existsSync(gz);
    const plainExists = fs.existsSync(plain);
    if (!gzExists && !plainExists) return undefined;
    let useGz = gzExists;
    if (gzExists && plainExists) {
        useGz = fs.statSync(gz).mtimeMs >= fs.statSync(plain).mtimeMs;
    }
    const file = useGz ? gz : plain;
    const text = readMaybeGzip(file);
    return { name: path.basename(file), compressed: useGz, text, parsed: fromJson(text) };
}

/** Byte length of a line including its newline, as counted by the writer's rotation logic. */
export function lineBytes(line) {
    return Buffer.byteLength(line + "\n", "utf8");
}

/**
 * Assert segment sizes follow the writer's rotation rule: the writer rotates before writing when the current
 * segment size >= maxSegmentSize.  So every closed segment is >= max, and no segment had reached max before its last
 * line was written.
 */
export function assertRotationRule(dir, maxSegmentSize) {
    const segments = [...new Set(listSegments(dir).map(s => s.segment))];
    segments.forEach((segment, index) => {
        const lines = readSegmentLines(dir, segment);
        assert.ok(lines.length > 0, `segment ${segment} is empty`);
        const total = lines.reduce((sum, line) => sum + lineBytes(line), 0);
        const beforeLast = total - lineBytes(lines[lines.length - 1]);
        assert.ok(beforeLast < maxSegmentSize, `segment ${segment} should have rotated before its last line`);
        if (index < segments.length - 1) {
            assert.ok(total >= maxSegmentSize, `segment ${segment} rotated early (size ${total} < ${maxSegmentSize})`);
        }
    });
}

/** Poll until `predicate()` is truthy (or throw after `timeout` ms). */
export async function waitFor(predicate, { timeout = 5000, interval = 10, message = "condition" } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
        let value;
        try {
            value = await predicate();
        } catch {
            value = undefined; // files may vanish while background workers rotate/compress/clean
        }
        if (value) return value;
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeout} ms waiting for ${message}`);
        }
        await sleep(interval);
    }
}

export function sleep(ms) {
    return new Promise(resolve => setTimeout(resolve, ms));
}

/** Wait until Date.now() has advanced past `ts` (so the next commit gets a strictly larger timestamp). */
export async function nextMillisecond(ts = Date.now()) {
    while (Date.now() <= ts) {
        await sleep(1);
    }
}

/**
 * Wait until rotated segments have been compressed: every segment except the highest is .jsonl.gz only and no
 * temp files remain in wal/.
 */
export async function waitForCompression(dir, timeout = 5000) {
    await waitFor(
        () => {
            const names = walDirNames(dir);
            if (names.some(n => n.endsWith(".tmp"))) return false;
            const segs = listSegments(dir);
            if (segs.length === 0) return true;
            const max = Math.max(...segs.map(s => s.segment));
            return segs.every(s => (s.segment === max ? !s.compressed : s.compressed));
        },
        { timeout, message: `rotated WAL segments in ${dir} to be gzip-compressed` },
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Canonical comparisons and a model of the store
// ---------------------------------------------------------------------------------------------------------------

/**
 * Canonical string for a stored value: matter.js's own encoding (so bigint/Uint8Array/Map/undefined are
 * distinguished, Buffer and Uint8Array compare equal, and key order is significant).
 */
export function canon(value) {
    return toJson(value);
}

/** The value as it comes back after being written to disk and read again (fromJson(toJson(v))). */
export function persisted(value) {
    return fromJson(toJson(value));
}

export function assertSameValue(actual, expected, message) {
    assert.equal(canon(actual), canon(expected), message);
}

/** Context key as used in the WAL: contexts joined with ".". */
export function contextKey(contexts) {
    return contexts.join(".");
}

/**
 * Apply WAL ops to a plain-object store, with matter.js's semantics (Object.assign for upd, key deletion, clearAll
 * of a context and its sub-contexts, "" wipes everything).  Values are stored as given.
 */
export function applyOps(store, ops) {
    for (const op of ops) {
        if (op.op === "upd") {
            store[op.key] ??= {};
            Object.assign(store[op.key], op.values);
        } else if (op.values) {
            const record = store[op.key];
            if (record) for (const k of op.values) delete record[k];
        } else if (op.key === "") {
            for (const k of Object.keys(store)) delete store[k];
        } else {
            delete store[op.key];
            for (const k of Object.keys(store)) if (k.startsWith(`${op.key}.`)) delete store[k];
        }
    }
    return store;
}

/** Ops as they are after a round-trip through the WAL file (values in persisted form). */
export function persistedOps(ops) {
    return fromJson(toJson(ops));
}

/** Sub-contexts of `contexts` in a model store, with matter.js's rule. */
export function modelContexts(store, contexts) {
    const prefix = contexts.length ? `${contexts.join(".")}.` : "";
    const found = new Set();
    for (const key of Object.keys(store)) {
        if (key.startsWith(prefix)) {
            const first = key.substring(prefix.length).split(".")[0];
            if (first.length > 0) found.add(first);
        }
    }
    return [...found];
}

/**
 * Dump everything a driver (or transaction) exposes: for every context reachable from [] via contexts(), its
 * keys, canonical values and sub-contexts.  Returns a plain object suitable for deepEqual.
 */
export async function dumpDriver(driver) {
    const out = {};
    const visit = async contexts => {
        const subs = await driver.contexts(contexts);
        const name = contexts.length ? contexts.join(".") : "<root>";
        out[name] = {
            keys: await driver.keys(contexts),
            values: canon(await driver.values(contexts)),
            contexts: subs,
        };
        for (const sub of subs) await visit([...contexts, sub]);
    };
    await visit([]);
    return out;
}

/** Same as dumpDriver but for a model store. */
export function dumpModel(store) {
    const out = {};
    const visit = contexts => {
        const subs = modelContexts(store, contexts);
        const name = contexts.length ? contexts.join(".") : "<root>";
        const record = store[contexts.join(".")] ?? {};
        out[name] = { keys: Object.keys(record), values: canon({ ...record }), contexts: subs };
        for (const sub of subs) visit([...contexts, sub]);
    };
    visit([]);
    return out;
}

/** Comparable view of a snapshot object returned by snapshotAtTime/snapshotAtCommit. */
export function snapshotView(snapshot) {
    return {
        commitId: { segment: snapshot.commitId.segment, offset: snapshot.commitId.offset },
        ts: snapshot.ts,
        data: canon(snapshot.data),
    };
}

/** Outcome of an async call as a comparable object: { ok: result } or { error: "<message>" }. */
export async function outcome(fn, map = x => x) {
    try {
        return { ok: map(await fn()) };
    } catch (error) {
        return { error: String(error?.message ?? error) };
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Value generators
// ---------------------------------------------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32), shared with the benchmark. */
export { prng as rng } from "../bench/common.mjs";

export const SAMPLE_STRINGS = [
    "",
    "plain",
    "quote \" backslash \\ slash / done",
    "controls \b\f\n\r\t and \u0000\u0001\u001f\u007f",
    "line sep \u2028 para sep \u2029",
    "unicode: äöü ß € 日本語 Ελληνικά",
    "emoji: 😀👍🏽 🇩🇪 family 👨‍👩‍👧",
    "</script><!-- -->",
    '{"__object__":"not really"',
    "tab\tinside",
    "1e21",
    "x".repeat(300),
];

export const SAMPLE_NUMBERS = [
    0,
    -0,
    1,
    -1,
    42,
    0.1,
    0.5,
    123.456,
    -98.765,
    1e21,
    1e20,
    1e-6,
    1e-7,
    5e-7,
    1.5e300,
    -2.5e-300,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    2 ** 53 + 2,
    2 ** 64,
    4294967295,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.EPSILON,
    1 / 3,
    100,
    1e100,
    123456789012345680000,
];

export const SAMPLE_BIGINTS = [
    0n,
    1n,
    -1n,
    123n,
    2n ** 63n - 1n,
    2n ** 64n,
    -(2n ** 64n) - 12345n,
    12345678901234567890123456789012345678901234567890n,
    -98765432109876543210987654321098765432109876543210n,
];

/** Object with index-like and ordinary keys (order is significant: JS puts array indices first). */
export function indexLikeObject() {
    return {
        b: "b",
        10: "ten",
        1: "one",
        "02": "zero-two",
        a: "a",
        0: "zero",
        4294967294: "max index",
        4294967295: "not an index",
        "-1": "negative",
        1.5: "fraction",
        "": "empty key",
    };
}

/**
 * Named samples of every value type matter.js stores (top-level undefined included; nested undefined is kept out
 * because matter.js drops it on reload - see undefinedSamples()).
 */
export function valueSamples() {
    const samples = [];
    SAMPLE_STRINGS.forEach((s, i) => samples.push([`string${i}`, s]));
    SAMPLE_NUMBERS.forEach((n, i) => samples.push([`number${i}`, n]));
    SAMPLE_BIGINTS.forEach((n, i) => samples.push([`bigint${i}`, n]));
    samples.push(
        ["true", true],
        ["false", false],
        ["null", null],
        ["undefined", undefined],
        ["bytesEmpty", new Uint8Array()],
        ["bytes", new Uint8Array([0, 1, 2, 127, 128, 254, 255])],
        ["buffer", Buffer.from("deadbeef00ff", "hex")],
        ["bufferSlice", Buffer.from("xxABCDEFxx").subarray(2, 8)],
        ["mapEmpty", new Map()],
        [
            "map",
            new Map([
                ["a", 1],
                ["b", "two"],
            ]),
        ],
        [
            "mapMixedKeys",
            new Map([
                [1, "number key"],
                [2n, "bigint key"],
                [-(2n ** 70n), "huge negative bigint key"],
                ["s", new Uint8Array([9, 8])],
                [true, null],
            ]),
        ],
        [
            "mapNested",
            new Map([
                ["inner", new Map([[1n, new Map([["deep", [1, 2n, "three"]]])]])],
                ["obj", { x: 1, y: [new Map([["z", 0]])] }],
            ]),
        ],
        ["arrayEmpty", []],
        ["array", [1, "two", 3n, null, true, new Uint8Array([1]), [4, [5, [6]]]]],
        ["mapStyleArray", [["k1", 1], ["k2", { v: 2 }]]],
        ["objectEmpty", {}],
        ["indexLikeKeys", indexLikeObject()],
        [
            "nested",
            {
                fabric: { id: 12345678901234567890n, label: "Küche 🍳", keys: [new Uint8Array(16).fill(7)] },
                list: [{ a: 1 }, { "1": "x", "0": "y" }],
                acl: new Map([[1, { privilege: 5, subjects: [112233n] }]]),
                flags: { enabled: true, ratio: 5e-7, big: 1e21, neg: -0 },
            },
        ],
    );
    return samples;
}

/** Values containing undefined in nested positions (matter.js keeps them in memory, drops them on reload). */
export function undefinedSamples() {
    return [
        ["topLevel", undefined],
        ["inObject", { a: undefined, b: 1 }],
        ["inArray", [1, undefined, 3]],
    ];
}

const KEY_POOL = ["a", "b", "key", "0", "1", "2", "10", "02", "007", "-1", "x.y", "with space", "ünï", "", "__value__"];
const STRING_CHARS = [
    "a",
    "Z",
    "0",
    " ",
    '"',
    "\\",
    "/",
    "\n",
    "\t",
    "\r",
    "\b",
    "\f",
    "\u0000",
    "\u0007",
    "\u001f",
    "\u007f",
    "\u0080",
    "é",
    "ß",
    "€",
    "日",
    "\u2028",
    "\u2029",
    "\ufeff",
    "😀",
    "🏳️‍🌈",
    "<",
    ">",
    "&",
    "'",
];

function pick(r, list) {
    return list[Math.floor(r() * list.length)];
}

function randomString(r, maxLen = 12) {
    const len = Math.floor(r() * maxLen);
    let s = "";
    for (let i = 0; i < len; i++) s += pick(r, STRING_CHARS);
    return s;
}

/** Random double covering many exponents and formatting regimes of Number#toString. */
export function randomNumber(r) {
    const mode = Math.floor(r() * 7);
    switch (mode) {
        case 0:
            return pick(r, SAMPLE_NUMBERS);
        case 1:
            return Math.floor((r() - 0.5) * 2 ** 32);
        case 2:
            return Math.floor((r() - 0.5) * 2 ** 54);
        case 3: {
            const exp = Math.floor(r() * 60) - 30;
            return (r() - 0.5) * 10 ** exp;
        }
        case 4: {
            // near the 1e21 / 1e-7 formatting thresholds
            const base = pick(r, [1e21, 1e-7, 1e-6, 1e20]);
            return base * (0.5 + r());
        }
        case 5: {
            // arbitrary bit patterns
            const buf = new DataView(new ArrayBuffer(8));
            buf.setUint32(0, Math.floor(r() * 2 ** 32));
            buf.setUint32(4, Math.floor(r() * 2 ** 32));
            const v = buf.getFloat64(0);
            return Number.isFinite(v) ? v : 0.25;
        }
        default:
            return Math.round(r() * 1000) / 100;
    }
}

function randomBigInt(r) {
    const digits = 1 + Math.floor(r() * 45);
    let s = String(1 + Math.floor(r() * 9));
    for (let i = 1; i < digits; i++) s += String(Math.floor(r() * 10));
    const v = BigInt(s);
    return r() < 0.4 ? -v : v;
}

function randomBytes(r) {
    const len = Math.floor(r() * 20);
    const bytes = new Uint8Array(len);
    for (let i = 0; i < len; i++) bytes[i] = Math.floor(r() * 256);
    return r() < 0.3 ? Buffer.from(bytes) : bytes;
}

function randomKey(r) {
    return r() < 0.6 ? pick(r, KEY_POOL) : randomString(r, 6);
}

/**
 * Random storable value.  options.undefined: allow undefined in nested positions (default false).
 */
export function randomValue(r, depth = 0, options = {}) {
    const leafOnly = depth >= 3;
    const roll = Math.floor(r() * (leafOnly ? 8 : 12));
    switch (roll) {
        case 0:
            return randomString(r);
        case 1:
        case 2:
            return randomNumber(r);
        case 3:
            return r() < 0.5;
        case 4:
            return options.undefined && r() < 0.5 ? undefined : null;
        case 5:
            return randomBigInt(r);
        case 6:
            return randomBytes(r);
        case 7:
            return pick(r, SAMPLE_STRINGS);
        case 8: {
            const len = Math.floor(r() * 5);
            return Array.from({ length: len }, () => randomValue(r, depth + 1, options));
        }
        case 9: {
            const map = new Map();
            const len = Math.floor(r() * 4);
            for (let i = 0; i < len; i++) {
                const kr = r();
                const key = kr < 0.4 ? randomKey(r) : kr < 0.7 ? Math.floor(r() * 100) : randomBigInt(r);
                map.set(key, randomValue(r, depth + 1, options));
            }
            return map;
        }
        default: {
            const obj = {};
            const len = Math.floor(r() * 6);
            for (let i = 0; i < len; i++) obj[randomKey(r)] = randomValue(r, depth + 1, options);
            return obj;
        }
    }
}

/** Random record of values (for the set(contexts, values) overload). */
export function randomRecord(r, options = {}) {
    const obj = {};
    const len = 1 + Math.floor(r() * 4);
    for (let i = 0; i < len; i++) obj[randomKey(r)] = randomValue(r, 1, options);
    return obj;
}

/** Random valid context path (segments non-empty, no dots). */
export function randomContexts(r) {
    const pool = ["root", "fabric", "1", "2", "10", "node", "endpoint", "ü", "a-b", "x_y"];
    const len = 1 + Math.floor(r() * 3);
    return Array.from({ length: len }, () => pick(r, pool));
}
