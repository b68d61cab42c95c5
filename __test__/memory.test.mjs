// Memory (issue 9 item 8): a driver must not keep what it no longer stores. 100,000 overwrites of
// one key with fresh ~1 KB values, with reads in between, leave heap and RSS (after a full GC)
// within a few MB of where they started; the same for a set/get/delete cycle and a
// set/get/clearAll cycle. Each run is a child process with --expose-gc
// (fixtures/memory-child.mjs). matter.js's own driver runs the same measurement (overwrite) and
// must pass it, so the limits are ones a driver that keeps only the current value meets. A run
// of ours past the RSS limit (but within the heap limit) is measured a second time, which decides.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { NATIVE_AVAILABLE, NATIVE_LOAD_ERROR } from "./helpers.mjs";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "memory-child.mjs");
const ITERATIONS = 100_000;
const WARMUP = 5_000; // reach the steady state (heap size, allocator pools) before the start figure
const MB = 1024 * 1024;
const HEAP_LIMIT = 4 * MB;
const RSS_LIMIT = 16 * MB;

function measure(kind, scenario) {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-mem-"));
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["--expose-gc", CHILD, kind, scenario, path.join(base, "store"), String(ITERATIONS), String(WARMUP)], {
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", d => (out += d));
        child.stderr.on("data", d => (err += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            fs.rmSync(base, { recursive: true, force: true });
            if (code !== 0) return reject(new Error(`${kind} ${scenario}: child exited with ${code ?? signal}\n${err}`));
            try {
                resolve(JSON.parse(out.trim().split("\n").at(-1)));
            } catch (error) {
                reject(new Error(`${kind} ${scenario}: no result (${error.message})\n${out}\n${err}`));
            }
        });
    });
}

function report(r) {
    const heap = (r.heapEnd - r.heapStart) / MB;
    const rss = (r.rssEnd - r.rssStart) / MB;
    return { heap, rss, text: `${r.kind} ${r.scenario}: heap ${(r.heapStart / MB).toFixed(1)} → ${(r.heapEnd / MB).toFixed(1)} MB (${heap >= 0 ? "+" : ""}${heap.toFixed(1)}), RSS ${(r.rssStart / MB).toFixed(1)} → ${(r.rssEnd / MB).toFixed(1)} MB (${rss >= 0 ? "+" : ""}${rss.toFixed(1)})` };
}

function assertBounded(r, { rss: checkRss = true } = {}) {
    const { heap, rss, text } = report(r);
    process.stdout.write(`${text}\n`);
    assert.ok(heap * MB <= HEAP_LIMIT, `${text}: the heap grew by more than ${HEAP_LIMIT / MB} MB`);
    if (checkRss) assert.ok(rss * MB <= RSS_LIMIT, `${text}: RSS grew by more than ${RSS_LIMIT / MB} MB`);
}

describe("memory stays bounded over 100,000 writes of one key", { concurrency: true }, () => {
    // two lanes on this 2-core machine: matter.js's calibration run next to ours.
    // Its RSS is printed, not held to the limit: on Node 22 and 24 (not 20) matter.js's driver's
    // RSS outside V8's heap ends anywhere from -0.4 to +50 MB above its start in repeated runs
    // of this same workload (heap flat, growth not proportional to the iterations: allocator
    // retention, not a value kept), so it calibrates the heap limit only.
    const tsRss = !/^v(2[2-9]|[3-9]\d)\./.test(process.version);
    it(`matter.js's own driver (calibration: the heap limit${tsRss ? " and the RSS limit are" : " is"} reachable)`, { timeout: 300_000 }, async () => {
        assertBounded(await measure("ts", "overwrite"), { rss: tsRss });
    });

    describe("ours", { concurrency: false, skip: NATIVE_AVAILABLE ? false : `native addon not built: ${NATIVE_LOAD_ERROR?.message}` }, () => {
        for (const scenario of ["overwrite", "delete", "clear"]) {
            const what = { overwrite: "set + get of fresh 1 KB values", delete: "set + get + delete + get", clear: "set + get + clearAll + get" }[scenario];
            it(`${what}`, { timeout: 300_000 }, async () => {
                // A driver that keeps what it no longer stores grows on every run. RSS alone
                // also jumps now and then on Node 24 (once +41.8 MB in CI, with the heap flat;
                // +1–3 MB in the runs before and after), as matter.js's driver's does: a run
                // past the RSS limit is measured once more, and the second run decides. The
                // heap limit holds for both runs.
                const first = await measure("native", scenario);
                const { rss, text } = report(first);
                if (rss * MB <= RSS_LIMIT) return assertBounded(first);
                assertBounded(first, { rss: false });
                process.stdout.write(`${text}: RSS past the limit, measuring again\n`);
                assertBounded(await measure("native", scenario));
            });
        }
    });
});
