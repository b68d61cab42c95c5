// close() with writes in flight: every write whose promise resolved is durable, a write
// issued after close() started is rejected with a clear error, nothing hangs.

import { it } from "node:test";
import assert from "node:assert/strict";

import {
    assertStorageError,
    captureRejection,
    describeKindOrSkipIfNativeMissing,
    makeStorageDir,
    native,
    registerCleanup,
} from "./helpers.mjs";

registerCleanup();

async function open(dir, options = {}) {
    const driver = new native.WalStorageDriver(dir, options);
    await driver.initialize();
    return driver;
}

/** Settles within `ms` or fails the test (instead of hanging it). */
function within(promise, ms, what) {
    let timer;
    return Promise.race([
        promise.finally(() => clearTimeout(timer)),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms))),
    ]);
}

describeKindOrSkipIfNativeMissing("native", "reliability: close() with writes in flight", () => {
    for (const fsync of [true, false]) {
        it(`every resolved write is durable; writes after close() starts are rejected (fsync ${fsync})`, async t => {
            const dir = makeStorageDir(t);
            const driver = await open(dir, { fsync, maxSegmentSize: 64 * 1024 });
            const outcomes = [];
            const writes = [];
            const transactions = [];
            for (let i = 0; i < 1000; i++) transactions.push(await driver.begin());
            for (let i = 0; i < 3000; i++) {
                let p;
                if (i % 3 === 0) {
                    const tx = transactions[i / 3];
                    tx.set(["ctx"], `k${i}`, i);
                    tx.set(["other", `b${i % 7}`], `k${i}`, { i });
                    p = tx.commit();
                } else if (i % 3 === 1) {
                    p = driver.set(["ctx"], `k${i}`, i);
                } else {
                    // begin() resolves asynchronously: this commit may come after close() started.
                    p = driver.begin().then(tx => {
                        tx.set(["ctx"], `k${i}`, i);
                        return tx.commit();
                    });
                }
                writes.push(p.then(() => outcomes.push(["ok", i]), e => outcomes.push(["err", i, e])));
            }
            const closed = driver.close();
            const late = await captureRejection(() => driver.set(["ctx"], "late", 1));
            assertStorageError("native", late, "StorageError", /closing|not initialized/);
            const lateTx = await captureRejection(() => driver.delete(["ctx"], "k1"));
            assertStorageError("native", lateTx, "StorageError", /closing|not initialized/);
            await within(Promise.all(writes), 30_000, "writes in flight");
            await within(closed, 30_000, "close()");
            assert.equal(driver.initialized, false);

            const ok = new Set(outcomes.filter(o => o[0] === "ok").map(o => o[1]));
            const failed = outcomes.filter(o => o[0] === "err");
            t.diagnostic(`${ok.size} writes resolved, ${failed.length} late transactions rejected as closing`);
            // Writes submitted before close() must all succeed; only transactions begun
            // asynchronously (committed after close() started) may be rejected as "closing".
            for (const [, i, e] of failed) {
                assert.equal(i % 3, 2, `write #${i} submitted before close() failed: ${e?.message}`);
                assertStorageError("native", e, "StorageError", /closing|not initialized/);
            }
            const reopened = await open(dir, { fsync });
            const values = await reopened.values(["ctx"]);
            for (const i of ok) assert.equal(values[`k${i}`], i, `resolved write k${i} lost`);
            for (const [, i] of failed) assert.equal(values[`k${i}`], undefined, `rejected write k${i} present`);
            assert.equal(values.late, undefined);
            assert.equal(Object.keys(values).length, ok.size);
            await reopened.close();
        });
    }

    it("a transaction committed after close() started is rejected and leaves no trace", async t => {
        const dir = makeStorageDir(t);
        const driver = await open(dir, { fsync: true });
        await driver.set(["ctx"], "before", 1);
        const tx = await driver.begin();
        tx.set(["ctx"], "tx", 1);
        const closed = driver.close();
        const error = await captureRejection(() => tx.commit());
        assertStorageError("native", error, "StorageError", /closing|not initialized/);
        await within(closed, 10_000, "close()");
        const reopened = await open(dir);
        assert.deepEqual(await reopened.values(["ctx"]), { before: 1 });
        await reopened.close();
    });

    it("concurrent and repeated close() calls, and close() during history reads, all settle", async t => {
        const dir = makeStorageDir(t);
        const driver = await open(dir, { fsync: true });
        for (let i = 0; i < 50; i++) await driver.set(["ctx"], `k${i}`, i);
        const pending = [driver.snapshotAtTime(), driver.snapshotAtCommit({ segment: 1, offset: 10 })].map(p =>
            p.then(
                s => s,
                e => e,
            ),
        );
        for (let i = 50; i < 100; i++) driver.set(["ctx"], `k${i}`, i);
        const closes = [driver.close(), driver.close(), driver.close()];
        await within(Promise.all(closes), 10_000, "close() x3");
        const settled = await within(Promise.all(pending), 10_000, "history reads");
        for (const s of settled) assert.ok(!(s instanceof Error) || s.name === "StorageError", String(s));
        await within(driver.close(), 5000, "close() of a closed driver");
        const error = await captureRejection(() => driver.set(["ctx"], "x", 1));
        assertStorageError("native", error, "StorageError", "WalStorageDriver is not initialized");
        const reopened = await open(dir);
        assert.equal(Object.keys(await reopened.values(["ctx"])).length, 100);
        await reopened.close();
    });
});
