// The same files as matter.js for the same ops, around segment-size boundaries and across
// reopens: matter.js's writer counts a resumed segment one byte longer than it is, and
// gzips rotated segments only after a rotation, never on open.

import { it } from "node:test";
import assert from "node:assert/strict";

import {
    describeKindOrSkipIfNativeMissing,
    listSegments,
    makeTempDir,
    openDriver,
    readSegmentLines,
    registerCleanup,
    sleep,
    walDirNames,
} from "./helpers.mjs";
import path from "node:path";

registerCleanup();

/** Segment names and the line count of each plain one. */
function layout(dir) {
    return listSegments(dir).map(s => (s.compressed ? s.name : `${s.name}:${readSegmentLines(dir, s.segment).length}`));
}

/** Waits until background gzips are done: no temp files and nothing changing for `quietMs`. */
async function settled(dir, quietMs = 200) {
    let last;
    let stableSince = Date.now();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
        const now = JSON.stringify([walDirNames(dir), layout(dir)]);
        if (now !== last) {
            last = now;
            stableSince = Date.now();
        } else if (Date.now() - stableSince >= quietMs && !walDirNames(dir).some(n => n.includes(".tmp"))) {
            return;
        }
        await sleep(20);
    }
    throw new Error(`${dir} kept changing`);
}

/** Runs the same phases through one driver kind and returns the layout after each. */
async function phases(kind, dir, maxSegmentSize) {
    const seen = [];
    const options = { maxSegmentSize, compressLog: true, compressSnapshot: false };
    let n = 0;
    // Each write settles before the next: matter.js starts one gzip pass per rotation, and
    // passes that overlap race for the same temp file, so one of them fails and leaves a
    // rotated segment plain (its log: "Failed to compress WAL segment N"). Only with one pass
    // at a time is its layout a fixed reference.
    const write = async (driver, count) => {
        for (let i = 0; i < count; i++, n++) {
            await driver.set(["c"], `k${n % 3}`, n % 10);
            await settled(dir, 50);
        }
    };
    for (const count of [2, 0, 3, 1, 4]) {
        const driver = await openDriver(kind, dir, options);
        await write(driver, count);
        await settled(dir); // a gzip on open would show here
        seen.push(layout(dir));
        await driver.close();
        seen.push(layout(dir));
    }
    return seen;
}

describeKindOrSkipIfNativeMissing("native", "on-disk layout matches matter.js across reopens", () => {
    it("same segments, same line counts, gzipped at the same points", async t => {
        const root = makeTempDir(t);
        // Every line is the same length (13-digit ts, one-digit values): find it, then try
        // every maximum around 1–3 lines.
        const probe = path.join(root, "probe");
        const p = await openDriver("ts", probe, { compressLog: false });
        await p.set(["c"], "k0", 0);
        await p.close();
        const line = Buffer.byteLength(readSegmentLines(probe, 1)[0]) + 1;
        for (const max of [line - 1, line, line + 1, line + 2, 2 * line - 1, 2 * line, 2 * line + 1, 3 * line]) {
            const theirs = await phases("ts", path.join(root, `ts-${max}`), max);
            const ours = await phases("native", path.join(root, `native-${max}`), max);
            assert.deepEqual(ours, theirs, `maxSegmentSize ${max} (lines of ${line} bytes)`);
        }
    });
});
