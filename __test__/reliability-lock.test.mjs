// Locking and concurrency: a second open of a directory (same process or another; ours or
// matter.js's) fails with StorageLockError; a stale lock of a dead process is reclaimed;
// thousands of concurrent operations keep commit order and lose nothing.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
    assertStorageError,
    captureRejection,
    describeKindOrSkipIfNativeMissing,
    makeStorageDir,
    matter,
    matterRoot,
    native,
    readWal,
    registerCleanup,
    TsWalStorageDriver,
} from "./helpers.mjs";

registerCleanup();

const HOLDER = fileURLToPath(new URL("./fixtures/lock-holder.mjs", import.meta.url));

async function open(dir, options = {}) {
    const driver = new native.WalStorageDriver(dir, { fsync: false, ...options });
    await driver.initialize();
    return driver;
}

/** Starts a process holding `dir` open with the given driver kind; resolves once it holds the lock. */
function holder(kind, dir) {
    const child = spawn(process.execPath, [HOLDER, kind, dir], { stdio: ["pipe", "pipe", "inherit"] });
    return new Promise((resolve, reject) => {
        let out = "";
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", chunk => {
            out += chunk;
            const match = out.match(/locked (\d+)/);
            if (match) resolve({ child, pid: Number(match[1]) });
        });
        child.on("exit", code => reject(new Error(`lock holder exited (${code}) before locking`)));
    });
}

function stop(child) {
    return new Promise(resolve => {
        child.removeAllListeners("exit");
        child.on("exit", resolve);
        child.stdin.end();
    });
}

function kill(child) {
    return new Promise(resolve => {
        child.removeAllListeners("exit");
        child.on("exit", resolve);
        child.kill("SIGKILL");
    });
}

async function lockError(dir) {
    const driver = new native.WalStorageDriver(dir, {});
    try {
        const error = await captureRejection(() => driver.initialize());
        assert.equal(driver.initialized, false);
        return error;
    } finally {
        if (driver.initialized) await driver.close();
    }
}

async function tsLockError(dir) {
    const ts = new TsWalStorageDriver(matterRoot(dir), {});
    try {
        return await captureRejection(() => ts.initialize());
    } finally {
        await ts.close().catch(() => {});
    }
}

describeKindOrSkipIfNativeMissing("native", "reliability: locking", () => {
    it("a second open in the same process fails with StorageLockError, however the path is spelled", async t => {
        const dir = makeStorageDir(t);
        const first = await open(dir);
        await first.set(["a"], "k", 1);
        fs.symlinkSync(dir, `${dir}-link`);
        for (const spelling of [dir, `${dir}/`, path.join(dir, "..", path.basename(dir)), `${dir}-link`]) {
            // matter.js's message, naming the directory as it was given.
            assertStorageError("native", await lockError(spelling), "StorageLockError", `Storage is already locked by this process: ${spelling}`);
        }
        assert.equal(await first.get(["a"], "k"), 1, "the first driver is unaffected");
        await first.set(["a"], "k", 2);
        await first.close();
        const again = await open(`${dir}-link`);
        assert.equal(await again.get(["a"], "k"), 2);
        await again.close();
    });

    for (const holderKind of ["native", "ts"]) {
        it(`a directory held by another process (${holderKind === "ts" ? "matter.js" : "our"} driver) cannot be opened by either driver`, async t => {
            const dir = makeStorageDir(t);
            fs.mkdirSync(dir, { recursive: true });
            const { child, pid } = await holder(holderKind, dir);
            try {
                assertStorageError("native", await lockError(dir), "StorageLockError", `Storage is locked by another process (pid ${pid})`);
                const tsError = await tsLockError(dir);
                assert.ok(tsError instanceof matter.StorageLockError, `matter.js: ${tsError}`);
                assert.equal(tsError.message, `Storage is locked by another process (pid ${pid})`);
            } finally {
                await stop(child);
            }
            const driver = await open(dir);
            assert.equal(await driver.get(["held"], "by"), holderKind);
            await driver.close();
        });
    }

    it("a stale lock left by a killed process is reclaimed, by our driver and by matter.js", async t => {
        for (const holderKind of ["native", "ts"]) {
            const dir = makeStorageDir(t, `stale-${holderKind}`);
            fs.mkdirSync(dir, { recursive: true });
            const { child, pid } = await holder(holderKind, dir);
            await kill(child);
            assert.ok(fs.existsSync(path.join(dir, "matter.lock")), "the killed holder left its lock");
            assert.match(fs.readFileSync(path.join(dir, "matter.pid"), "utf8"), new RegExp(`^${pid} `));
            const driver = await open(dir);
            assert.equal(await driver.get(["held"], "by"), holderKind, "the killed holder's commit is there");
            await driver.close();
            assert.ok(!fs.existsSync(path.join(dir, "matter.lock")));
        }
        // matter.js reclaims a lock our killed process left.
        const dir = makeStorageDir(t, "stale-for-ts");
        fs.mkdirSync(dir, { recursive: true });
        const { child } = await holder("native", dir);
        await kill(child);
        const ts = new TsWalStorageDriver(matterRoot(dir), {});
        await ts.initialize();
        assert.equal(await ts.get(["held"], "by"), "native");
        await ts.close();
    });

    // Both drivers in ONE process: matter.js's lock treats a pid file with our pid but another
    // token as "PID reused" and reclaims it, and src/lock.rs does the same with matter.js's
    // token. See the report of issue #5: needs a shared token (src/lock.rs + index.js).
    it("in one process, matter.js's lock and ours exclude each other", async t => {
        const dir = makeStorageDir(t);
        fs.mkdirSync(dir, { recursive: true });
        const ts = new TsWalStorageDriver(matterRoot(dir), {});
        await ts.initialize();
        try {
            assertStorageError("native", await lockError(dir), "StorageLockError");
        } finally {
            await ts.close();
        }
        const ours = await open(dir);
        try {
            const error = await tsLockError(dir);
            assert.ok(error instanceof matter.StorageLockError, String(error));
        } finally {
            await ours.close();
        }
    });
});

describeKindOrSkipIfNativeMissing("native", "reliability: concurrency", () => {
    for (const fsync of [true, false]) {
        it(`10000 concurrent operations settle in order and none is lost (fsync ${fsync})`, { timeout: 60_000 }, async t => {
            const dir = makeStorageDir(t);
            const driver = await open(dir, { fsync, maxSegmentSize: 256 * 1024 });
            const model = new Map(); // "ctx/key" -> value, applying ops in issue order
            const settled = [];
            const ops = [];
            const transactions = [];
            for (let i = 0; i < 1000; i++) transactions.push(await driver.begin());
            for (let i = 0; i < 10000; i++) {
                const ctx = `c${i % 13}`;
                let p;
                switch (i % 10) {
                    case 0: {
                        const tx = transactions[i / 10];
                        tx.set([ctx], `k${i % 97}`, i);
                        tx.set(["tx", ctx], { [`t${i}`]: i, last: i });
                        tx.delete([ctx], `k${(i + 1) % 97}`);
                        model.set(`${ctx}/k${i % 97}`, i);
                        model.set(`tx.${ctx}/t${i}`, i);
                        model.set(`tx.${ctx}/last`, i);
                        model.delete(`${ctx}/k${(i + 1) % 97}`);
                        p = tx.commit();
                        break;
                    }
                    case 7:
                        model.delete(`${ctx}/k${i % 97}`);
                        p = driver.delete([ctx], `k${i % 97}`);
                        break;
                    case 9:
                        if (i % 1000 === 999) {
                            for (const k of [...model.keys()]) if (k.startsWith(`${ctx}/`)) model.delete(k);
                            p = driver.clearAll([ctx]);
                            break;
                        }
                    // fall through
                    default:
                        model.set(`${ctx}/k${i % 97}`, i);
                        p = driver.set([ctx], `k${i % 97}`, i);
                }
                ops.push(p.then(() => settled.push(i)));
            }
            await Promise.all(ops);
            assert.deepEqual(settled, [...settled].sort((a, b) => a - b), "promises settle in commit order");
            assert.equal(settled.length, 10000);

            const dump = async d => {
                const out = new Map();
                for (const c of await d.contexts([])) {
                    for (const [k, v] of Object.entries(await d.values([c]))) out.set(`${c}/${k}`, v);
                    for (const sub of await d.contexts([c])) {
                        for (const [k, v] of Object.entries(await d.values([c, sub]))) out.set(`${c}.${sub}/${k}`, v);
                    }
                }
                return out;
            };
            const sortMap = m => new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
            assert.deepEqual(sortMap(await dump(driver)), sortMap(model));
            // The log holds one line per write, in issue order (each line's ts never decreases).
            const wal = readWal(dir);
            assert.equal(wal.length, 10000);
            const firstValue = e => Object.values(e.commit.ops[0].values ?? {})[0];
            const sets = wal.filter(e => e.commit.ops[0].op === "upd").map(firstValue);
            assert.deepEqual(sets, [...sets].sort((a, b) => a - b), "WAL order is issue order");
            await driver.close();
            const reopened = await open(dir);
            assert.deepEqual(sortMap(await dump(reopened)), sortMap(model), "after reopen");
            await reopened.close();
        });
    }
});
