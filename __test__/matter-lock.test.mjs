// Lock interop: our driver and matter.js's take the same matter.lock / matter.pid lock.
// A directory held by one process, with either driver and either lock implementation (our
// native one for plain paths, matter.js's Node.js one for a DatafileRoot), is refused to another
// process with matter.js's StorageLockError, whichever driver that one uses; the lock of a
// process that died (SIGKILL) is reclaimed by all of them, with the dead process's data intact.
// A second process starting the same ServerNode is refused too.
//
// The holders are child processes (fixtures/matter-lock-holder.mjs, fixtures/matter-light-node.mjs);
// the contenders run in this process.

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import * as general from "@matter/general";
import { NodeJsFilesystem } from "@matter/nodejs";

import { WalStorageDriver, registerWalDriver } from "../index.js";
import { LIGHT, LOCK_HOLDER, cleanup, matterEnv, start, tempDir } from "./fixtures/matter-harness.mjs";

const { DatafileRoot, Environment, Filesystem, Logger, StorageLockError, StorageService } = general;

Logger.level = "error";

after(cleanup);

const HOLDERS = ["ours-path", "ours-root", "matter-root"];

function root(dir) {
    return new DatafileRoot(new NodeJsFilesystem(path.dirname(dir)).directory(path.basename(dir)));
}

/** Ways to open a directory in this process; each resolves to { get(contexts, key), close() }. */
const CONTENDERS = {
    "ours-path": async dir => {
        const driver = new WalStorageDriver(dir, { fsync: false });
        await driver.initialize();
        return driver;
    },
    "ours-root": dir => WalStorageDriver.create(root(dir), { kind: "wal", fsync: false }),
    "matter-root": dir => general.WalStorageDriver.create(root(dir), { kind: "wal", fsync: false }),
    // what an application does: our driver registered in matter.js's StorageService
    "ours-service": async dir => {
        const env = new Environment(`contender-${path.basename(dir)}`);
        env.set(Filesystem, new NodeJsFilesystem(path.dirname(dir)));
        const service = registerWalDriver(env, { select: true });
        const manager = await service.open(path.basename(dir));
        return { get: (contexts, key) => manager.driver.get(contexts, key), close: () => manager.close() };
    },
};

function lockFiles(dir) {
    return ["matter.lock", "matter.pid"].filter(name => fs.existsSync(path.join(dir, name)));
}

function lockOwner(dir) {
    return Number(fs.readFileSync(path.join(dir, "matter.pid"), "utf8").split(/\s+/)[0]);
}

async function startHolder(dir, kind) {
    const holder = start(LOCK_HOLDER, { dir, kind }, { timeoutMs: 60_000 });
    const ready = await holder.next("ready");
    assert.equal(ready.event, "ready", `${kind} holder failed: ${ready.message}\n${holder.output()}`);
    assert.deepEqual(lockFiles(dir), ["matter.lock", "matter.pid"]);
    assert.equal(lockOwner(dir), ready.pid);
    return { holder, pid: ready.pid };
}

describe("matter.lock interop between processes", () => {
    for (const holderKind of HOLDERS) {
        it(`a directory held by ${holderKind} in another process is refused to every driver, and reclaimed once that process is killed`, { timeout: 60_000 }, async () => {
            const base = tempDir();
            const dir = path.join(base, "node");
            // matter.js's Node.js lock only locks a directory that exists (a fresh one has nothing to protect)
            fs.mkdirSync(dir);
            const { holder, pid } = await startHolder(dir, holderKind);

            for (const [contender, open] of Object.entries(CONTENDERS)) {
                await assert.rejects(
                    open(dir),
                    error => {
                        assert.ok(
                            error instanceof StorageLockError,
                            `${contender}: expected matter.js's StorageLockError, got ${error?.constructor?.name}: ${error?.message}`,
                        );
                        assert.equal(error.message, `Storage is locked by another process (pid ${pid})`);
                        return true;
                    },
                    `${contender} must not open a directory ${holderKind} holds in process ${pid}`,
                );
                assert.equal(lockOwner(dir), pid, `${contender} left the holder's lock alone`);
            }

            // The holder dies without releasing anything.
            const { signal } = await holder.kill();
            assert.equal(signal, "SIGKILL");
            assert.deepEqual(lockFiles(dir), ["matter.lock", "matter.pid"], "a killed process leaves its lock behind");

            for (const [contender, open] of Object.entries(CONTENDERS)) {
                const copy = path.join(base, `stale-${contender}`);
                fs.cpSync(dir, copy, { recursive: true });
                assert.equal(lockOwner(copy), pid);
                const storage = await open(copy);
                try {
                    assert.equal(lockOwner(copy), process.pid, `${contender} reclaimed the stale lock`);
                    assert.equal(await storage.get(["holder"], "pid"), pid, "the dead process's commit is there");
                    assert.equal(await storage.get(["holder"], "kind"), holderKind);
                } finally {
                    await storage.close();
                }
                assert.deepEqual(lockFiles(copy), [], `${contender} released the lock on close`);
            }
        });
    }

    it("a holder that closes releases the lock for the other drivers", { timeout: 60_000 }, async () => {
        const base = tempDir();
        for (const holderKind of HOLDERS) {
            const dir = path.join(base, holderKind);
            fs.mkdirSync(dir);
            const { holder } = await startHolder(dir, holderKind);
            assert.equal((await holder.close()).code, 0, holder.output());
            assert.deepEqual(lockFiles(dir), []);
            for (const [contender, open] of Object.entries(CONTENDERS)) {
                const storage = await open(dir);
                assert.equal(await storage.get(["holder"], "kind"), holderKind, contender);
                await storage.close();
            }
        }
    });

    it("a second process cannot start a ServerNode another process runs on our driver", { timeout: 80_000 }, async () => {
        const rootDir = tempDir();
        const storagePath = path.join(rootDir, "storage");
        const env = matterEnv(rootDir, { MATTER_STORAGE_DRIVER: "wal" });

        const running = start(LIGHT, { storagePath, driver: "ours", forbidTs: true, hold: true }, { env });
        const ready = await running.next("ready");
        assert.equal(ready.event, "ready", running.output());

        for (const driver of ["ours", "matter"]) {
            const second = start(LIGHT, { storagePath, driver }, { env });
            const outcome = await second.next("ready");
            await second.done;
            assert.equal(outcome.event, "error", `a second ${driver} node started: ${second.output()}`);
            assert.ok(outcome.storageError?.isStorageLockError, `${driver}: ${outcome.message}\n${outcome.stack}`);
            assert.equal(outcome.storageError.message, `Storage is locked by another process (pid ${ready.pid})`);
        }

        assert.equal((await running.close()).code, 0, running.output());
        const closed = running.events.find(e => e.event === "closed");
        assert.ok(closed, running.output());
    });
});
