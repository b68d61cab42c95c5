// Kill harness, short run: a child writes numbered commits with fsync on (sometimes off:
// SIGKILL keeps the page cache), we SIGKILL it at random moments and right as it starts a
// snapshot, a head snapshot (cleaning), the gzip of a rotated segment, a new segment, or
// close() with writes in flight; after each kill the directory is reopened and must hold
// every acknowledged commit, in order, with no gap before the last one present.
// `npm run crash -- --cycles 1000` runs the long version (fixtures/crash-run.mjs).

import { it } from "node:test";
import assert from "node:assert/strict";

import { describeKindOrSkipIfNativeMissing } from "./helpers.mjs";
import { MODES, runCrashCycles } from "./fixtures/crash-harness.mjs";

const CYCLES = Number(process.env.CRASH_CYCLES ?? 9 * MODES.length);

describeKindOrSkipIfNativeMissing("native", "reliability: SIGKILL at random moments loses no acknowledged commit", () => {
    it(`${CYCLES} kill/reopen cycles keep every acknowledged commit, in order`, { timeout: 10 * 60_000 }, async t => {
        const stats = await runCrashCycles({ cycles: CYCLES });
        t.diagnostic(JSON.stringify(stats));
        assert.equal(stats.cycles, CYCLES);
        assert.ok(stats.commits > CYCLES, "commits were made");
        // The files left behind prove where kills landed (temp files of an unfinished
        // snapshot, head snapshot or gzip; a segment just created; close() not finished).
        for (const what of ["snapshot", "clean", "gzip", "rotation", "close"]) {
            assert.ok(stats.killedDuring[what] > 0, `no kill landed during ${what} (seed ${stats.seed})`);
        }
    });
});
