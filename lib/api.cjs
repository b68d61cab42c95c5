"use strict";
// The public classes over the native ones, bound to one build of `@matter/general`: the
// CommonJS entry (index.cjs) binds them to matter.js's CommonJS build, the ES module entry
// (index.js) to its ES module build, so errors are instances of the app's own StorageError
// classes, the driver is a real subclass of its StorageDriver, and registerWalDriver()
// registers in its Environment.default. Only argument shaping, promise wrapping and
// matter.js integration live here; all storage work is in Rust. The native addon is one per
// process whichever entry loads it (load-native.cjs is a CommonJS module: one instance).

const { basename, dirname } = require("node:path");

const native = require("../load-native.cjs");
const { contextKey, keyOf, setJson } = require("./values.cjs");

const HOURS_6 = 6 * 60 * 60 * 1000;

/** Error classes when @matter/general is not installed: one set for both entries. */
const fallbackErrors = (() => {
    class StorageError extends Error {}
    class StorageCommitError extends StorageError {}
    class StorageLockError extends StorageError {}
    return { StorageError, StorageCommitError, StorageLockError };
})();

/** Runs a synchronous native call and hands its outcome back as a promise. */
function promised(call) {
    try {
        return Promise.resolve(call());
    } catch (error) {
        return Promise.reject(error);
    }
}

/** Most values (and contexts) the read cache holds before it starts over, as the native one. */
const READ_CACHE_MAX = 100_000;

/** One context of the read cache: its values read so far, and the contexts below it. */
class CachedContext {
    constructor() {
        /** Sub-context name → CachedContext. */
        this.children = undefined;
        /** Key → value as the native read returned it (`undefined`: the store has no value). */
        this.entries = undefined;
        /** `entries` holds every key of the context (filled from a native `values()`). */
        this.complete = false;
        /** With `complete`: the context's values as a native `values()` returned them, copied. */
        this.template = undefined;
    }
}

/**
 * Values read through the native driver, kept on the JS side so a repeated read answers
 * without crossing into native code (each crossing reads the context key and key strings and
 * builds or looks up the value). What it holds is always what the native store holds:
 *
 * - A context's entries are dropped when a write to it is submitted (a `clearAll` drops the
 *   context and every context below it), before the native call, and nothing is added for a
 *   context while a write that can change it is in flight: the writer thread applies a write
 *   to the store at a moment of its own before settling its promise, so until then a native
 *   read may give the old value or the new one. Such reads go to native code every time.
 * - A value read natively is only kept when no write was submitted during that read (building
 *   a `Map` runs `Map.prototype.set`, which user code may replace and which may write).
 * - The objects kept are the ones the native value cache handed out, so a repeated read gives
 *   the very same object, from either cache, while the stored value is unchanged.
 *
 * Contexts form a tree by segment, so a lookup never joins the context array into a string;
 * a context in the tree was validated when it was added, so a hit needs no validation.
 */
class ReadCache {
    constructor() {
        /** The tree's root (context `[]`), or undefined while the driver is not open. */
        this.root = undefined;
        /** Entries and contexts held. */
        this.count = 0;
        /** Bumped whenever a write is submitted. */
        this.writes = 0;
        /** Context key → writes to that context in flight (0 once they settled; see release). */
        this.pending = new Map();
        /** Context key → clearAll()s of it (and so of everything below it) in flight. */
        this.pendingClears = new Map();
        /** Writes in flight (each counted once, whatever it touches). */
        this.inFlight = 0;
    }

    open() {
        this.root = new CachedContext();
        this.count = 0;
    }

    /** Starts over (when full); stays closed when closed. */
    reset() {
        if (this.root !== undefined) this.open();
    }

    close() {
        this.root = undefined;
        this.count = 0;
    }

    /** The cached context of a context array, if any (the hot path). */
    lookup(contexts) {
        let node = this.root;
        if (node === undefined || !Array.isArray(contexts)) return undefined;
        for (let i = 0; i < contexts.length; i++) {
            const children = node.children;
            if (children === undefined) return undefined;
            node = children.get(contexts[i]);
            if (node === undefined) return undefined;
        }
        return node;
    }

    /** The cached context of a (valid) context key, added when `create`. */
    find(ctx, create) {
        let node = this.root;
        if (node === undefined || ctx === "") return node;
        // Segment by segment without split(): a write-only workload finds the root empty at once.
        for (let start = 0; start <= ctx.length; ) {
            let end = ctx.indexOf(".", start);
            if (end < 0) end = ctx.length;
            const part = ctx.slice(start, end);
            start = end + 1;
            let children = node.children;
            if (children === undefined && !create) return undefined;
            let child = children?.get(part);
            if (child === undefined) {
                if (!create) return undefined;
                if (children === undefined) node.children = children = new Map();
                children.set(part, (child = new CachedContext()));
                this.count++;
            }
            node = child;
        }
        return node;
    }

    /**
     * Whether a value of context `ctx` read natively while the write count was `writes` is
     * what the store will keep holding until the next write is submitted.
     */
    settled(ctx, writes) {
        if (writes !== this.writes || this.root === undefined) return false;
        if (this.inFlight === 0) return true;
        if (this.pending.get(ctx) > 0) return false;
        for (const [cleared, n] of this.pendingClears) {
            if (n > 0 && (cleared === "" || cleared === ctx || (ctx.startsWith(cleared) && ctx.charCodeAt(cleared.length) === 46))) {
                return false;
            }
        }
        return true;
    }

    /** Keeps the value `get()` read natively while the write count was `writes`, if `settled`. */
    put(ctx, key, value, writes) {
        if (!this.settled(ctx, writes)) return;
        this.makeRoom(1);
        const node = this.find(ctx, true);
        let entries = node.entries;
        if (entries === undefined) node.entries = entries = new Map();
        if (!entries.has(key)) this.count++;
        entries.set(key, value);
        this.recheck(ctx, writes);
    }

    /** Keeps the values `values()` read natively (a fresh object the caller gets), if `settled`. */
    fill(ctx, values, writes) {
        if (!this.settled(ctx, writes)) return;
        const keys = Object.keys(values);
        if (keys.length >= READ_CACHE_MAX) return; // a context that alone would fill the cache is not kept
        this.makeRoom(keys.length);
        const node = this.find(ctx, true);
        const entries = new Map();
        for (const key of keys) entries.set(key, values[key]);
        this.count += entries.size - (node.entries?.size ?? 0);
        node.entries = entries;
        node.template = { ...values };
        node.complete = true;
        this.recheck(ctx, writes);
    }

    /** Starts over when `n` more entries would take the cache past its bound. */
    makeRoom(n) {
        if (this.count + n > READ_CACHE_MAX) this.reset();
    }

    /**
     * Drops `ctx` again if a write was submitted while it was being filled (only user code
     * can do that: a replaced `Map.prototype.set` runs inside the Map calls above).
     */
    recheck(ctx, writes) {
        if (writes !== this.writes) this.forget(ctx);
    }

    /** Drops what the cache holds of context `ctx` (not of the contexts below it). */
    forget(ctx) {
        const node = this.find(ctx, false);
        if (node === undefined) return;
        if (node.entries !== undefined) {
            this.count -= node.entries.size;
            node.entries = undefined;
        }
        node.complete = false;
        node.template = undefined;
    }

    /** Drops context `ctx` and every context below it (`""`: everything). */
    forgetTree(ctx) {
        if (this.root === undefined) return;
        if (ctx === "") {
            this.reset();
            return;
        }
        const cut = ctx.lastIndexOf(".");
        const parent = this.find(cut < 0 ? "" : ctx.slice(0, cut), false);
        const name = ctx.slice(cut + 1);
        const node = parent?.children?.get(name);
        if (node === undefined) return;
        // Emptied in place rather than deleted from its parent's map (see release); it stays
        // counted, so the bound still holds.
        const stack = [node];
        while (stack.length) {
            const n = stack.pop();
            this.count -= (n === node ? 0 : 1) + (n.entries?.size ?? 0);
            if (n.children !== undefined) for (const child of n.children.values()) stack.push(child);
        }
        node.children = undefined;
        node.entries = undefined;
        node.complete = false;
        node.template = undefined;
    }

    /**
     * Submits a write: drops what it changes, holds back caching of those contexts until its
     * promise settles (fulfilled or rejected), and returns that promise. `contexts` are the
     * context keys written, `cleared` the ones cleared with everything below them.
     */
    write(contexts, cleared, submit) {
        for (const ctx of contexts) {
            this.forget(ctx);
            this.pending.set(ctx, (this.pending.get(ctx) ?? 0) + 1);
        }
        for (const ctx of cleared) {
            this.forgetTree(ctx);
            this.pendingClears.set(ctx, (this.pendingClears.get(ctx) ?? 0) + 1);
        }
        this.writes++;
        this.inFlight++;
        const done = () => {
            release(this.pending, contexts);
            release(this.pendingClears, cleared);
            if (--this.inFlight === 0 && this.pending.size + this.pendingClears.size > SETTLED_KEYS_MAX) {
                this.pending.clear();
                this.pendingClears.clear();
            }
        };
        let promise;
        try {
            promise = submit();
        } catch (error) {
            done();
            return Promise.reject(error);
        }
        promise.then(done, done);
        return promise;
    }
}

/**
 * Counts one settled write off each of `keys` in `counts`. A key at 0 stays in the map: on
 * Node.js 22 and 24 (V8 12+), deleting a Map entry whose key is a freshly built string, once a
 * write, grows the process's memory outside the JS heap by tens of MB over 100,000 writes (the
 * heap itself stays flat); keeping the key does not. The maps are emptied when nothing is in
 * flight and they hold more than SETTLED_KEYS_MAX keys.
 */
function release(counts, keys) {
    for (const key of keys) counts.set(key, counts.get(key) - 1);
}

/** Context keys the in-flight maps keep at 0 before they are emptied (when nothing is in flight). */
const SETTLED_KEYS_MAX = 1024;

/**
 * The package's API bound to `matter` (a build of @matter/general, or undefined when it is
 * not installed); `importNodejs()` loads the matching build of @matter/nodejs.
 */
function createApi(matter, importNodejs) {
    const classes = matter?.StorageError
        ? {
              StorageError: matter.StorageError,
              StorageCommitError: matter.StorageCommitError,
              StorageLockError: matter.StorageLockError,
          }
        : fallbackErrors;
    const { StorageError } = classes;

    function makeError(name, message, cause) {
        const error = new (classes[name] ?? StorageError)(message, cause === undefined ? undefined : { cause });
        Object.defineProperty(error, "name", { value: name, enumerable: false, configurable: true, writable: true });
        return error;
    }

    // Errors raised natively for this build's drivers are made of this build's classes.
    const errorClasses = native.setErrorFactory(makeError);

    // Rust-side tracing events go to matter.js's Logger (facility "WalStorageDriver") when
    // @matter/general is present, otherwise to the console; its Logger.level applies.
    const matterLogger = matter?.Logger?.get?.("WalStorageDriver");
    native.setLogSink((level, message) => {
        const target = matterLogger ?? console;
        const method = level === "trace" ? "debug" : level;
        (target[method] ?? target.info).call(target, message);
    });

    /** Sets how verbose the native core's logging is: "error", "warn", "info" (default), "debug", "trace" or "off". */
    function setLogLevel(level) {
        native.setLogLevel(level);
    }

    let tokenShared;

    /**
     * When matter.js's Node.js filesystem is in use in this process, lock one throwaway
     * directory with it so the native lock adopts matter.js's process token: the two lock
     * implementations then see each other's locks as this process's and refuse them, instead
     * of reclaiming them as left over by a reused pid. Done once, before our first lock.
     */
    function shareMatterLockToken() {
        tokenShared ??= (async () => {
            try {
                if (!matter?.Environment?.default?.has?.(matter.Filesystem)) return false; // @matter/nodejs not loaded
                const { NodeJsFilesystem } = await importNodejs();
                const probe = native.lockProbeDir();
                const release = await new NodeJsFilesystem(dirname(probe)).directory(basename(probe)).lock();
                try {
                    return native.adoptLockToken(probe);
                } finally {
                    await release();
                }
            } catch {
                return false;
            }
        })();
        return tokenShared;
    }

    function isDatafileRoot(ns) {
        return ns !== null && typeof ns === "object" && typeof ns.lock === "function" && ns.directory !== undefined;
    }

    function pathOf(dir) {
        if (typeof dir === "string") return dir;
        if (dir !== null && typeof dir === "object" && typeof dir.path === "string") return dir.path;
        throw makeError("StorageError", "storageDir must be a path string or a Directory with a native path");
    }

    /** What each option takes: [check, description]; null and undefined mean "the default". */
    const OPTION_TYPES = {
        maxSegmentSize: [v => typeof v === "number" && Number.isFinite(v) && v > 0, "a positive number (bytes)"],
        fsync: [v => typeof v === "boolean", "a boolean"],
        snapshotInterval: [v => typeof v === "number" && v >= 0, "a non-negative number (milliseconds, a matter.js Duration)"],
        cleanInterval: [v => typeof v === "number" && v >= 0, "a non-negative number (milliseconds, a matter.js Duration)"],
        compressSnapshot: [v => typeof v === "boolean", "a boolean"],
        compressLog: [v => typeof v === "boolean", "a boolean"],
        headSnapshot: [v => typeof v === "boolean", "a boolean"],
        lock: [v => typeof v === "boolean", "a boolean"],
    };

    function describeValue(value) {
        if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
        if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${value}`;
        if (typeof value === "bigint") return `bigint ${value}n`;
        if (Array.isArray(value)) return "an array";
        return value === null ? "null" : typeof value === "object" ? `an object (${value.constructor?.name ?? "Object"})` : typeof value;
    }

    /** The options as the native constructor takes them; a StorageError naming the option when one has the wrong type. */
    function nativeOptions(options, lock) {
        const picked = {};
        for (const [name, [valid, expected]] of Object.entries(OPTION_TYPES)) {
            const value = name === "lock" ? lock : options[name];
            if (value === undefined || value === null) continue;
            if (!valid(value)) {
                throw makeError("StorageError", `WalStorageDriver option ${name} must be ${expected}, not ${describeValue(value)}`);
            }
            picked[name] = value;
        }
        return picked;
    }

    // With @matter/general, the driver is a real StorageDriver and its transactions real
    // StorageDriver.Transactions (instanceof holds; matter.js's base behaviour is overridden).
    const DriverBase = matter?.StorageDriver ?? class {};
    const TransactionBase = matter?.StorageDriver?.Transaction ?? class {};

    /** A transaction from {@link WalStorageDriver.begin}; commit writes one WAL line. */
    class WalTransaction extends TransactionBase {
        #tx;
        #cache;
        /** Context keys this transaction writes, and the ones it clears (for the read cache). */
        #written = new Set();
        #cleared = new Set();

        constructor(storage, tx, cache) {
            super(storage);
            this.#tx = tx;
            this.#cache = cache;
        }

        get committed() {
            return this.#tx.committed;
        }

        get disposed() {
            return this.#tx.disposed;
        }

        get initialized() {
            return true;
        }

        get type() {
            return "kv";
        }

        set(contexts, keyOrValues, value) {
            const ctx = contextKey(contexts, makeError);
            const json = setJson(keyOrValues, value, makeError);
            this.#written.add(ctx);
            this.#tx.set(ctx, json);
        }

        delete(contexts, key) {
            const ctx = contextKey(contexts, makeError);
            const k = keyOf(key, makeError);
            this.#written.add(ctx);
            this.#tx.delete(ctx, k);
        }

        clearAll(contexts) {
            const ctx = contextKey(contexts, makeError);
            this.#cleared.add(ctx);
            this.#tx.clearAll(ctx);
        }

        // Like matter.js: a key decided by this transaction's own ops answers synchronously,
        // anything else with a promise.
        get(contexts, key) {
            const decided = this.#decided(contexts, key);
            return decided ? decided[0] : promised(() => this.#tx.get(contextKey(contexts, makeError), keyOf(key, makeError)));
        }

        has(contexts, key) {
            const decided = this.#decided(contexts, key);
            return decided ? decided[0] !== undefined : promised(() => this.#tx.has(contextKey(contexts, makeError), keyOf(key, makeError)));
        }

        #decided(contexts, key) {
            try {
                return this.#tx.buffered(contextKey(contexts, makeError), keyOf(key, makeError));
            } catch {
                return null; // invalid input: the promise path rejects with the error
            }
        }

        keys(contexts) {
            return promised(() => this.#tx.keys(contextKey(contexts, makeError)));
        }

        values(contexts) {
            return promised(() => this.#tx.values(contextKey(contexts, makeError)));
        }

        contexts(contexts) {
            return promised(() => this.#tx.contexts(contextKey(contexts, makeError)));
        }

        commit() {
            return this.#cache.write([...this.#written], [...this.#cleared], () => this.#tx.commit());
        }

        begin() {
            throw makeError("StorageCommitError", "Nested transactions are not supported");
        }

        initialize() {
            throw makeError("StorageCommitError", "Cannot initialize storage from a transaction");
        }

        close() {
            throw makeError("StorageCommitError", "Cannot close storage from a transaction");
        }

        clear() {
            throw makeError("StorageError", "clear() is deprecated; use clearAll() instead");
        }

        [Symbol.dispose]() {
            this.#tx.dispose();
        }

        async [Symbol.asyncDispose]() {
            this.#tx.dispose();
        }
    }

    /**
     * The state as of one commit ({@link WalStorageDriver.snapshotAtTime} /
     * {@link WalStorageDriver.snapshotAtCommit}), queried synchronously like matter.js's WalSnapshot.
     */
    class WalSnapshot {
        #snapshot;

        constructor(snapshot) {
            this.#snapshot = snapshot;
        }

        get commitId() {
            return this.#snapshot.commitId;
        }

        get ts() {
            return this.#snapshot.ts;
        }

        get data() {
            return this.#snapshot.data;
        }

        get(contexts, key) {
            return this.#snapshot.get(contexts.join("."), keyOf(key, makeError));
        }

        keys(contexts) {
            return this.#snapshot.keys(contexts.join("."));
        }

        values(contexts) {
            return this.#snapshot.values(contexts.join("."));
        }

        contexts(contexts) {
            return this.#snapshot.contexts(contexts.length ? contexts.join(".") : "");
        }

        /**
         * Writes this state as `<basename>.json[.gz]` into `dir` (a path or a matter.js
         * Directory), as matter.js's WalSnapshot.save does: temp file, fsync, rename.
         */
        async save(dir, options = {}) {
            await this.#snapshot.save(pathOf(dir), options.compress ?? true, options.basename ?? "snapshot");
        }
    }

    /**
     * matter.js's write-ahead-log storage driver, implemented in Rust. Same API, same files.
     */
    class WalStorageDriver extends DriverBase {
        static id = "wal";

        static defaults = Object.freeze({
            maxSegmentSize: 16 * 1024 * 1024,
            fsync: true,
            snapshotInterval: HOURS_6,
            cleanInterval: undefined,
            compressSnapshot: true,
            compressLog: true,
            headSnapshot: true,
        });

        static async create(namespace, descriptor = {}) {
            const storage = new WalStorageDriver(namespace, {
                maxSegmentSize: descriptor.maxSegmentSize,
                fsync: descriptor.fsync,
                compressSnapshot: descriptor.compressSnapshot,
                compressLog: descriptor.compressLog,
                headSnapshot: descriptor.headSnapshot,
            });
            try {
                await storage.initialize();
            } catch (error) {
                await storage.close().catch(() => {});
                throw error;
            }
            return storage;
        }

        #native;
        #nativeLock;
        #fast;
        /** Values read, answered without a native call while unchanged (see ReadCache). */
        #cache = new ReadCache();
        #root;
        #lock;
        #options;
        /** The pending `initialize()`, while one runs. */
        #initializing;

        constructor(namespace, options = {}) {
            super();
            options ??= {};
            if (typeof options !== "object") {
                throw makeError("StorageError", `WalStorageDriver options must be an object, not ${describeValue(options)}`);
            }
            this.#options = { ...options };
            let dir;
            if (isDatafileRoot(namespace)) {
                this.#root = namespace;
                dir = namespace.directory.path;
            } else if (typeof namespace === "string") {
                dir = namespace;
            } else if (namespace !== undefined && namespace !== null) {
                throw makeError("StorageError", "WalStorageDriver needs a DatafileRoot or a directory path");
            }
            if (options.storageDir !== undefined) {
                dir = pathOf(options.storageDir);
            }
            if (dir === undefined) {
                throw makeError("StorageError", "WalStorageDriver needs a DatafileRoot, a directory path or options.storageDir");
            }
            if (dir === "") {
                throw makeError("StorageError", "WalStorageDriver needs a storage directory, not an empty path");
            }
            // A DatafileRoot brings matter.js's own reference-counted lock; plain paths lock natively.
            const nativeLock = options.lock ?? (this.#root === undefined);
            this.#nativeLock = nativeLock;
            this.#native = new native.NativeWal(dir, { ...nativeOptions(options, nativeLock), errorClasses });
            this.#fast = this.#native.fastReads();
        }

        get type() {
            return "kv";
        }

        /** The driver id, per instance as matter.js reads it (StorageManager.driverId, storage logs). */
        get id() {
            return WalStorageDriver.id;
        }

        get root() {
            return this.#root;
        }

        /** The storage directory. */
        get path() {
            return this.#native.directory;
        }

        get initialized() {
            return this.#native.initialized;
        }

        /** matter.js reads this to decide whether to batch writes; the WAL commits directly. */
        get writeCoalescingInterval() {
            return undefined;
        }

        initialize() {
            // A second call while the first runs (or after it) is refused without touching it.
            if (this.#initializing !== undefined || this.#native.initialized) {
                return Promise.reject(makeError("StorageError", "WalStorageDriver already initialized"));
            }
            this.#initializing = this.#initialize().finally(() => {
                this.#initializing = undefined;
            });
            return this.#initializing;
        }

        async #initialize() {
            if (this.#root) {
                this.#lock = await this.#root.lock();
            } else if (this.#nativeLock) {
                await shareMatterLockToken();
            }
            try {
                await this.#native.open();
            } catch (error) {
                await this.#releaseLock();
                throw error;
            }
            this.#cache.open();
        }

        close() {
            // Writes issued after close() returns are refused: the native close starts right
            // away (after a pending initialize() settles). Reads go to the native driver
            // from here on, which answers until the close completes and refuses after.
            this.#cache.close();
            if (this.#initializing !== undefined) {
                return this.#initializing.catch(() => {}).then(() => this.close());
            }
            return promised(() => this.#native.close()).finally(() => this.#releaseLock());
        }

        async #releaseLock() {
            const lock = this.#lock;
            this.#lock = undefined;
            await lock?.close();
        }

        // get/has/values are the hot path: answered from the read cache when it holds the
        // context (and the key, or all of the context's keys), else one native call with the
        // joined context key.
        get(contexts, key) {
            const node = this.#cache.lookup(contexts);
            if (node !== undefined) {
                const entries = node.entries;
                if (entries !== undefined) {
                    const value = entries.get(key);
                    if (value !== undefined || entries.has(key) || (node.complete && typeof key === "string")) {
                        return Promise.resolve(value);
                    }
                }
            }
            try {
                const ctx = contextKey(contexts, makeError);
                const k = keyOf(key, makeError);
                const writes = this.#cache.writes;
                const value = this.#fast.get(ctx, k);
                this.#cache.put(ctx, k, value, writes);
                return Promise.resolve(value);
            } catch (error) {
                return Promise.reject(error);
            }
        }

        has(contexts, key) {
            const node = this.#cache.lookup(contexts);
            if (node !== undefined) {
                const entries = node.entries;
                if (entries !== undefined) {
                    const value = entries.get(key);
                    if (value !== undefined || entries.has(key) || (node.complete && typeof key === "string")) {
                        return Promise.resolve(value !== undefined);
                    }
                }
            }
            try {
                return Promise.resolve(this.#fast.has(contextKey(contexts, makeError), keyOf(key, makeError)));
            } catch (error) {
                return Promise.reject(error);
            }
        }

        keys(contexts) {
            const node = this.#cache.lookup(contexts);
            if (node?.complete) return Promise.resolve(Object.keys(node.template));
            return promised(() => this.#native.keys(contextKey(contexts, makeError)));
        }

        values(contexts) {
            const node = this.#cache.lookup(contexts);
            if (node?.complete) return Promise.resolve({ ...node.template });
            try {
                const ctx = contextKey(contexts, makeError);
                const writes = this.#cache.writes;
                const values = this.#native.values(ctx);
                this.#cache.fill(ctx, values, writes);
                return Promise.resolve(values);
            } catch (error) {
                return Promise.reject(error);
            }
        }

        contexts(contexts) {
            return promised(() => this.#native.contexts(contextKey(contexts, makeError)));
        }

        set(contexts, keyOrValues, value) {
            let ctx, json;
            try {
                ctx = contextKey(contexts, makeError);
                json = setJson(keyOrValues, value, makeError);
            } catch (error) {
                return Promise.reject(error);
            }
            return this.#cache.write([ctx], [], () => this.#native.set(ctx, json));
        }

        delete(contexts, key) {
            let ctx, k;
            try {
                ctx = contextKey(contexts, makeError);
                k = keyOf(key, makeError);
            } catch (error) {
                return Promise.reject(error);
            }
            return this.#cache.write([ctx], [], () => this.#native.delete(ctx, k));
        }

        clearAll(contexts) {
            let ctx;
            try {
                ctx = contextKey(contexts, makeError);
            } catch (error) {
                return Promise.reject(error);
            }
            return this.#cache.write([], [ctx], () => this.#native.clearAll(ctx));
        }

        /** @deprecated matter.js removed it; use {@link clearAll}. */
        clear() {
            throw makeError("StorageError", "clear() is deprecated; use clearAll() instead");
        }

        begin() {
            return promised(() => new WalTransaction(this, this.#native.begin(), this.#cache));
        }

        async snapshotAtTime(asOf) {
            return new WalSnapshot(await this.#native.snapshotAtTime(asOf === undefined ? undefined : Number(asOf)));
        }

        async snapshotAtCommit(commitId) {
            return new WalSnapshot(await this.#native.snapshotAtCommit(commitId?.segment, commitId?.offset));
        }

        async clone() {
            const path = await this.#native.copyToTemp();
            const { storageDir: _ignored, ...options } = this.#options;
            const copy = new WalStorageDriver(path, { ...options, lock: false });
            await copy.initialize();
            return copy;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // matter.js integration: register this driver with a matter.js StorageService under id "wal".
    // ---------------------------------------------------------------------------------------------

    function matterFor(target, caller) {
        if (matter === undefined) {
            throw makeError("StorageError", `${caller}() needs @matter/general (install @matter/main or @matter/general)`);
        }
        // An Environment of the other build (an ES module app handing over the CommonJS
        // build's, say) needs that build's StorageService class to look the service up.
        if (target !== undefined && !(target instanceof matter.Environment) && !(target instanceof matter.StorageService)) {
            try {
                const cjs = require("@matter/general");
                if (target instanceof cjs.Environment || target instanceof cjs.StorageService) {
                    return cjs;
                }
            } catch {
                // no CommonJS build; fall through to this one
            }
        }
        return matter;
    }

    function storageServiceOf(target, caller) {
        if (target !== undefined && target !== null && typeof target.registerDriver === "function") {
            return target;
        }
        const general = matterFor(target, caller);
        const environment = target ?? general.Environment.default;
        if (typeof environment?.get !== "function") {
            throw makeError("StorageError", `${caller}() needs a matter.js Environment or StorageService`);
        }
        return environment.get(general.StorageService);
    }

    /**
     * Registers this native driver with matter.js's StorageService under id "wal", replacing
     * matter.js's TypeScript WalStorageDriver. Namespaces whose driver.json says "wal", or opened
     * with storage.driver=wal (MATTER_STORAGE_DRIVER=wal), then use this driver, and matter.js's
     * migrations to or from "wal" read and write through it. `{ select: true }` also selects "wal"
     * for the environment, as storage.driver=wal does when matter.js boots.
     */
    function registerWalDriver(target, options = {}) {
        const service = storageServiceOf(target, "registerWalDriver");
        service.registerDriver(WalStorageDriver);
        if (options.select) {
            service.defaultDriver = WalStorageDriver.id;
            service.configuredDriver = WalStorageDriver.id;
        }
        return service;
    }

    /** Puts matter.js's own TypeScript WalStorageDriver back under id "wal". */
    function unregisterWalDriver(target) {
        const service = storageServiceOf(target, "unregisterWalDriver");
        const general = matterFor(target, "unregisterWalDriver");
        service.registerDriver(general.WalStorageDriver);
        return service;
    }

    return {
        WalStorageDriver,
        WalTransaction,
        WalSnapshot,
        StorageError: classes.StorageError,
        StorageCommitError: classes.StorageCommitError,
        StorageLockError: classes.StorageLockError,
        registerWalDriver,
        unregisterWalDriver,
        setLogLevel,
    };
}

module.exports = { createApi };
