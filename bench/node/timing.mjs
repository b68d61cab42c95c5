// Time spent in storage driver calls, for the node benchmark's "driver share".
//
// The driver class's methods are replaced by wrappers on its prototype (and the static `create`
// that matter.js's StorageService calls), so `this` stays the real instance and private fields
// keep working; transactions returned by begin() get wrapped per instance. Three clocks:
//
//   busyMs   wall time during which at least one driver call was running or its promise still
//            pending (the union of all call intervals). An upper bound of what the node spent on
//            storage: the node may do other work while a write is in flight.
//   syncMs   time the JS thread spent inside driver calls before they returned (outermost calls
//            only, so a method calling another one is not counted twice).
//   idleMs   time the event loop sat idle (performance.eventLoopUtilization) while a driver call
//            was pending: the node waiting for storage I/O, with nothing else to do.
//
// blockedMs = syncMs + idleMs is the time the node was held up by its storage: inside a driver
// call, or with nothing to do but wait for one. It is a lower bound for a driver written as
// async JS (matter.js's): the code it runs after its own internal awaits executes while the
// loop is busy but outside any wrapped call, so it is in busyMs, not in blockedMs.

const METHODS = ["initialize", "close", "get", "set", "delete", "keys", "values", "contexts", "clearAll", "has", "begin"];
const TX_METHODS = ["get", "set", "delete", "keys", "values", "contexts", "clearAll", "has", "commit", "rollback"];

export function createDriverTimer() {
    const now = () => performance.now();
    const idleNow = () => performance.eventLoopUtilization().idle;
    let depth = 0;
    let pending = 0;
    let busySince = 0;
    let idleSince = 0;
    let busyMs = 0;
    let idleMs = 0;
    let syncMs = 0;
    let calls = 0;
    const byMethod = {};

    const enter = () => {
        if (pending++ === 0) {
            busySince = now();
            idleSince = idleNow();
        }
    };
    let settledWaiters = [];
    const leave = () => {
        if (--pending === 0) {
            busyMs += now() - busySince;
            idleMs += idleNow() - idleSince;
            const waiters = settledWaiters;
            settledWaiters = [];
            for (const resolve of waiters) resolve();
        }
    };

    function wrap(fn, name) {
        const wrapped = function (...args) {
            calls++;
            byMethod[name] = (byMethod[name] ?? 0) + 1;
            enter();
            const outer = depth === 0;
            const t0 = outer ? now() : 0;
            depth++;
            let result;
            try {
                result = fn.apply(this, args);
            } catch (error) {
                depth--;
                if (outer) syncMs += now() - t0;
                leave();
                throw error;
            }
            depth--;
            if (outer) syncMs += now() - t0;
            if (result !== null && typeof result?.then === "function") {
                // A derived promise only for the clock; the caller still gets (and handles) `result`.
                result.then(
                    value => {
                        if (name === "begin") wrapTransaction(value);
                        leave();
                    },
                    () => leave(),
                );
            } else {
                if (name === "begin") wrapTransaction(result);
                leave();
            }
            return result;
        };
        Object.defineProperty(wrapped, "name", { value: fn.name });
        return wrapped;
    }

    function wrapTransaction(tx) {
        if (!tx || typeof tx !== "object" || Object.hasOwn(tx, TIMED)) return;
        for (const name of TX_METHODS) {
            if (typeof tx[name] === "function") tx[name] = wrap(tx[name], `tx.${name}`);
        }
        for (const symbol of [Symbol.dispose, Symbol.asyncDispose]) {
            if (symbol && typeof tx[symbol] === "function") tx[symbol] = wrap(tx[symbol], `tx.${symbol.description}`);
        }
        Object.defineProperty(tx, TIMED, { value: true });
    }

    return {
        /** Wraps the instance methods and the static `create` of a driver class. */
        instrument(Class) {
            const proto = Class.prototype;
            for (const name of METHODS) {
                const fn = proto[name];
                if (typeof fn === "function") {
                    Object.defineProperty(proto, name, { value: wrap(fn, name), writable: true, configurable: true });
                }
            }
            if (typeof Class.create === "function") {
                Object.defineProperty(Class, "create", { value: wrap(Class.create, "create"), writable: true, configurable: true });
            }
        },
        /** Resolves once no driver call is running or pending (at once if none is). */
        settled() {
            return pending === 0 ? Promise.resolve() : new Promise(resolve => settledWaiters.push(resolve));
        },
        /** Totals so far; an interval still open is counted up to now. */
        read() {
            const open = pending > 0;
            return {
                busyMs: busyMs + (open ? now() - busySince : 0),
                idleMs: idleMs + (open ? idleNow() - idleSince : 0),
                syncMs,
                calls,
                byMethod: { ...byMethod },
            };
        },
    };
}

const TIMED = Symbol("bench-timed");

/** The difference of two read() results, with blockedMs = syncMs + idleMs. */
export function since(after, before) {
    const byMethod = {};
    for (const [name, n] of Object.entries(after.byMethod)) {
        const d = n - (before.byMethod[name] ?? 0);
        if (d) byMethod[name] = d;
    }
    const syncMs = after.syncMs - before.syncMs;
    const idleMs = after.idleMs - before.idleMs;
    return {
        busyMs: after.busyMs - before.busyMs,
        blockedMs: syncMs + idleMs,
        syncMs,
        idleMs,
        calls: after.calls - before.calls,
        byMethod,
    };
}

// ---------------------------------------------------------------------------
// CPU time in driver code, from V8's sampling profiler
//
// The wrappers above cannot see the code an async driver runs after its own internal awaits
// (matter.js's drivers are async JS: reading and parsing happen in such continuations). The
// profiler can: a sample counts as driver time when any frame on its stack is in one of the
// driver's own source files (or is one of the wrappers above, which only ever call a driver).
// Native code called from a driver's JS (our addon) is inside such a frame too.

import inspector from "node:inspector";

export function createProfiler(intervalUs = 250) {
    const session = new inspector.Session();
    session.connect();
    const post = (method, params) =>
        new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
    return {
        async start() {
            await post("Profiler.enable");
            await post("Profiler.setSamplingInterval", { interval: intervalUs });
            await post("Profiler.start");
        },
        /** Stops; returns { driverMs, sampledMs, samples } for frames whose url matches `isDriverUrl`. */
        async stop(isDriverUrl) {
            const { profile } = await post("Profiler.stop");
            await post("Profiler.disable");
            const byId = new Map(profile.nodes.map(n => [n.id, n]));
            const parent = new Map();
            for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
            const memo = new Map();
            const inDriver = id => {
                if (memo.has(id)) return memo.get(id);
                const node = byId.get(id);
                const url = node?.callFrame.url ?? "";
                const own = url !== "" && (isDriverUrl(url) || url.endsWith("/bench/node/timing.mjs"));
                const result = own || (parent.has(id) ? inDriver(parent.get(id)) : false);
                memo.set(id, result);
                return result;
            };
            let driverUs = 0;
            let sampledUs = 0;
            const { samples = [], timeDeltas = [] } = profile;
            for (let i = 0; i < samples.length; i++) {
                // timeDeltas[i + 1] is the time from sample i to the next one: sample i's share.
                const dt = timeDeltas[i + 1] ?? intervalUs;
                sampledUs += dt;
                if (inDriver(samples[i])) driverUs += dt;
            }
            return { driverMs: driverUs / 1000, sampledMs: sampledUs / 1000, samples: samples.length };
        },
        close() {
            session.disconnect();
        },
    };
}
