// Memory probe, one driver per process so RSS is not shared with anything else.
//
//   node --expose-gc bench/mem-child.mjs <ts|ours> <storeDir> [keyIndex] [readAll]
//
// Loads the driver module, settles the heap, records RSS, opens the store at
// <storeDir>, resolves one get() (which forces the TS driver's lazy load),
// settles the heap again and prints one JSON line with the growth. With a
// fourth argument N, it then reads keys 0..N-1 once (as a node reads its state
// at start-up; ours then holds each value's JS object in its read caches, up
// to 100,000 values before they start over) and reports the growth after that
// too (`allRssGrowthMB`, ...). The store
// directory is a throwaway copy: the process exits without close() so no final
// snapshot is written.

import fs from "node:fs";
import { fullGc, keyOf, loadDrivers, driverOptions, sleep } from "./common.mjs";

const [kind, dir, probeIndex = "0", readAll] = process.argv.slice(2);
if (!kind || !dir) {
    console.error("usage: node --expose-gc bench/mem-child.mjs <ts|ours> <storeDir> [keyIndex]");
    process.exit(2);
}

const MB = 1024 * 1024;

// Peak RSS. process.resourceUsage().maxRSS is no good here: Linux carries the
// parent's high-water mark across fork+exec, so a child of a big bench process
// starts with the parent's peak. /proc/self/status VmHWM belongs to this
// process's own address space, and writing 5 to /proc/self/clear_refs resets it
// to the current RSS, so the peak can be taken over the load alone.
function peakKb() {
    try {
        const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync("/proc/self/status", "utf8"));
        if (m) return Number(m[1]);
    } catch {}
    return process.resourceUsage().maxRSS;
}
function resetPeak() {
    try {
        fs.writeFileSync("/proc/self/clear_refs", "5");
        return true;
    } catch {
        return false;
    }
}

async function settle() {
    fullGc();
    await sleep(50);
    fullGc();
    await sleep(50);
    return process.memoryUsage();
}

// Load only the driver being measured (the other's module would count as baseline).
const drivers = await loadDrivers({ ours: kind === "ours", lmdb: false });
const driver = drivers[kind];
if (!driver?.available) {
    console.log(JSON.stringify({ kind, error: driver?.reason ?? `unknown driver ${kind}` }));
    process.exit(0);
}

const before = await settle();
const peakReset = resetPeak();
const peakBeforeKb = peakReset ? before.rss / 1024 : peakKb();

const t0 = performance.now();
const store = driver.open(dir, driverOptions(false));
// Reachable from a global: V8 may treat a local that is not read again as dead and collect
// the driver (and the JS values it keeps for reads) while the heap settles.
globalThis.memChildStore = store;
await store.initialize();
const [contexts, key] = keyOf(Number(probeIndex));
const value = await store.get(contexts, key);
const loadMs = performance.now() - t0;

const after = await settle();
const peakAfterKb = peakKb();

let all;
if (readAll !== undefined) {
    let found = 0;
    for (let i = 0; i < Number(readAll); i++) {
        const [c, k] = keyOf(i);
        if ((await store.get(c, k)) !== undefined) found++;
    }
    const settled = await settle();
    all = {
        allFound: found,
        allRssGrowthMB: (settled.rss - before.rss) / MB,
        allHeapGrowthMB: (settled.heapUsed - before.heapUsed) / MB,
        allPeakGrowthMB: (peakKb() - peakBeforeKb) / 1024,
    };
}

console.log(
    JSON.stringify({
        kind,
        loadMs,
        found: value !== undefined,
        rssBeforeMB: before.rss / MB,
        rssAfterMB: after.rss / MB,
        rssGrowthMB: (after.rss - before.rss) / MB,
        heapGrowthMB: (after.heapUsed - before.heapUsed) / MB,
        externalGrowthMB: (after.external - before.external) / MB,
        peakRssMB: peakAfterKb / 1024,
        peakGrowthMB: (peakAfterKb - peakBeforeKb) / 1024,
        peakMethod: peakReset ? "VmHWM after clear_refs" : "maxRSS",
        ...all,
    }),
);

// Leave without close() (which would write a snapshot we do not need).
process.exit(0);
