// Values nested 15,000 levels through the slow work that runs on the addon's task runtime
// (open, close, snapshotAtTime, snapshotAtCommit, and freeing a closed store): that work
// decodes, encodes and drops such values recursively, so it must run on threads with a large
// stack, wherever the addon is loaded — in a fresh driver, another thread, another process,
// and in a worker that loads the addon after every other environment using it went away
// (napi-rs then runs its own runtime, whose threads have small stacks).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";

import { NATIVE_AVAILABLE, NATIVE_LOAD_ERROR, makeTempDir, registerCleanup } from "./helpers.mjs";
import { run, writeHandWrittenStore } from "./fixtures/deep-values.mjs";

registerCleanup();

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "deep-values.mjs");
const DEPTH = 15_000;
const skip = NATIVE_AVAILABLE ? false : `native addon not built: ${NATIVE_LOAD_ERROR?.message}`;

/** The fixture as a Worker with a JavaScript stack large enough to stringify the value. */
function inWorker(workerData) {
    return new Promise((resolve, reject) => {
        const worker = new Worker(FIXTURE, { workerData, resourceLimits: { stackSizeMb: 64 } });
        let message;
        worker.on("message", m => (message = m));
        worker.on("error", reject);
        worker.on("exit", code => (code === 0 && message ? resolve(message) : reject(new Error(`worker exited ${code}: ${JSON.stringify(message)}`))));
    });
}

function inChild(args, script = FIXTURE) {
    const r = spawnSync(process.execPath, [script, ...args], { encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, `child failed (${r.status} ${r.signal}): ${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1));
}

const readReport = { mode: "read", get: null, small: 1, atTime: null, atCommit: null, locked: "StorageLockError (StorageLockError)" };

describe("values nested 15,000 levels", { skip, timeout: 300_000 }, () => {
    it("are stored, closed, reopened in a fresh driver and read back, and rebuilt by snapshotAtTime/AtCommit", async t => {
        const dir = path.join(makeTempDir(t), "deep");
        const written = await inWorker({ mode: "write", dir, depth: DEPTH });
        assert.equal(written.error, undefined);
        const { commitId, ...report } = written.report;
        assert.deepEqual(report, { mode: "write", get: null, small: 1, atTime: null, atCommit: null });

        // Another driver on this thread (another Node.js environment than the writer's).
        const here = await run({ mode: "read", dir, depth: DEPTH });
        assert.deepEqual({ ...here, commitId: undefined }, { ...readReport, commitId: undefined });
        assert.deepEqual(here.commitId, commitId);

        // A fresh process.
        const there = inChild(["read", dir, String(DEPTH)]);
        assert.deepEqual({ ...there.report, commitId: undefined }, { ...readReport, commitId: undefined });
        assert.deepEqual(there.report.commitId, commitId);
    });

    it("are decoded in a worker that loads the addon after the only other environment using it has gone", async t => {
        const work = makeTempDir(t);
        // Hand-written log lines (not canonical): opening decodes them into a value tree and
        // recurses over it, which overflows a 2 MiB stack (a build running this work on
        // napi-rs's own runtime crashed here with SIGSEGV).
        const dirs = ["first", "second"].map(name => path.join(work, name));
        for (const dir of dirs) writeHandWrittenStore(dir, DEPTH);
        // A process whose main thread never loads the addon: when the first worker exits, no
        // environment uses it and napi-rs shuts down the runtime it was given; the second
        // worker's slow work then lands on napi-rs's own runtime (small stacks) and must move
        // to a thread with a big one.
        const script = path.join(work, "two-workers.mjs");
        fs.writeFileSync(
            script,
            `import { Worker } from "node:worker_threads";
             const once = dir => new Promise((resolve, reject) => {
                 const w = new Worker(${JSON.stringify(FIXTURE)}, { workerData: { mode: "read", dir, depth: ${DEPTH} } });
                 let message;
                 w.on("message", m => (message = m));
                 w.on("error", reject);
                 w.on("exit", code => (code === 0 ? resolve(message) : reject(new Error("worker exited " + code))));
             });
             const reports = [];
             for (const dir of ${JSON.stringify(dirs)}) reports.push(await once(dir));
             process.stdout.write(JSON.stringify({ reports }));`,
        );
        const { reports } = inChild([], script);
        assert.equal(reports.length, 2);
        for (const r of reports) {
            assert.equal(r.error, undefined);
            assert.deepEqual({ ...r.report, commitId: undefined }, { ...readReport, commitId: undefined });
        }
    });
});
