// A real matter.js node (@matter/main ServerNode, an on/off light, online on loopback only)
// runs on our WalStorageDriver, registered with registerWalDriver(), in fresh processes:
//   - its identity (unique id, passcode, discriminator) and changed attributes come back in a
//     new process, read from our WAL directory;
//   - a node directory written by matter.js's own "wal" driver starts under ours and the reverse;
//   - matter.js's StorageService migrates the node file -> wal (through ours) -> file.
// Each node runs in a child process (fixtures/matter-light-node.mjs); in the processes with our
// driver, matter.js's TypeScript WalStorageDriver is made to throw, so it cannot be used silently.

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { DatafileRoot, Logger, WalStorageDriver as TsWalStorageDriver } from "@matter/general";
import { NodeJsFilesystem } from "@matter/nodejs";

import { WalStorageDriver } from "../index.js";
import { dumpDriver } from "./helpers.mjs";
import { LIGHT, cleanup, eventOf, listTree, matterEnv, run, tempDir } from "./fixtures/matter-harness.mjs";

Logger.level = "warn";

after(cleanup);

const TIMEOUT = 60_000;

/** The identity fields a restarted node must get back from storage. */
function identity(state) {
    return {
        uniqueId: state.uniqueId,
        passcode: state.passcode,
        discriminator: state.discriminator,
    };
}

function assertIdentity(state) {
    assert.match(state.uniqueId, /^.{8,}$/, "matter.js generated a unique id");
    assert.ok(Number.isInteger(state.passcode) && state.passcode > 0, "matter.js generated a passcode");
    assert.ok(Number.isInteger(state.discriminator) && state.discriminator >= 0, "matter.js generated a discriminator");
}

function readJson(file) {
    return JSON.parse(fs.readFileSync(file, "utf8"));
}

function assertWalDirectory(dir) {
    const files = listTree(dir);
    assert.deepEqual(readJson(path.join(dir, "driver.json")), { kind: "wal", type: "kv" });
    assert.ok(
        files.some(f => /^wal\/[0-9a-f]{8}\.jsonl(\.gz)?$/.test(f)),
        `a WAL segment in ${dir}: ${files.join(", ")}`,
    );
    assert.ok(
        files.some(f => /^snapshot\.json(\.gz)?$/.test(f)),
        `a snapshot (written on close) in ${dir}: ${files.join(", ")}`,
    );
    // The file driver keeps one file per key ("root.basicInformation.nodeLabel", ...).
    assert.ok(!files.some(f => f.startsWith("root.")), `no file-driver key files in ${dir}: ${files.join(", ")}`);
    assert.ok(!files.includes("matter.lock") && !files.includes("matter.pid"), "the lock was released on close");
}

async function withDriver(driver, fn) {
    await driver.initialize();
    try {
        return await fn(driver);
    } finally {
        await driver.close();
    }
}

/** The node's state as stored, read with our driver on a plain path (no matter.js involved). */
function readNodeStorage(dir) {
    return withDriver(new WalStorageDriver(dir, { fsync: false }), async driver => ({
        uniqueId: await driver.get(["root", "basicInformation"], "uniqueId"),
        nodeLabel: await driver.get(["root", "basicInformation"], "nodeLabel"),
        passcode: await driver.get(["root", "commissioning"], "passcode"),
        discriminator: await driver.get(["root", "commissioning"], "discriminator"),
        onOff: await driver.get(["root", "parts", "light", "onOff"], "onOff"),
        dump: await dumpDriver(driver),
    }));
}

/** The same storage dumped by matter.js's own TypeScript WAL driver. */
function dumpWithMatter(dir) {
    const root = new DatafileRoot(new NodeJsFilesystem(path.dirname(dir)).directory(path.basename(dir)));
    return withDriver(new TsWalStorageDriver(root, { fsync: false }), dumpDriver);
}

describe("a matter.js ServerNode on our WalStorageDriver", () => {
    it("gets its unique id, commissioning data and changed attributes back in a fresh process", { timeout: TIMEOUT }, async () => {
        const root = tempDir();
        const storagePath = path.join(root, "storage");
        const nodeDir = path.join(storagePath, "light");
        const env = matterEnv(root, { MATTER_STORAGE_DRIVER: "wal" });

        const first = await run(
            LIGHT,
            { storagePath, driver: "ours", forbidTs: true, change: { nodeLabel: "Kitchen", onOff: true } },
            { env },
        );
        const created = eventOf(first, "ready");
        assert.equal(first.code, 0, first.output);
        assertIdentity(created);
        assert.equal(created.driverId, "wal");
        assert.deepEqual(created.oursOpened, [nodeDir], "our driver opened the node's directory");
        assert.deepEqual(created.tsCreated, []);
        assert.equal(created.onOff, false, "a new light starts off");
        const changed = eventOf(first, "changed");
        assert.equal(changed.nodeLabel, "Kitchen");
        assert.equal(changed.onOff, true);
        assertWalDirectory(nodeDir);

        const second = await run(LIGHT, { storagePath, driver: "ours", forbidTs: true }, { env });
        const restarted = eventOf(second, "ready");
        assert.equal(second.code, 0, second.output);
        assert.deepEqual(identity(restarted), identity(created), "same unique id, passcode and discriminator");
        assert.equal(restarted.nodeLabel, "Kitchen");
        assert.equal(restarted.onOff, true);
        assert.equal(restarted.driverId, "wal");
        assert.deepEqual(restarted.oursOpened, [nodeDir]);
        assertWalDirectory(nodeDir);

        // What the node read is what is in the WAL directory: read it back without matter.js ...
        const stored = await readNodeStorage(nodeDir);
        assert.deepEqual(
            { ...identity(stored), nodeLabel: stored.nodeLabel, onOff: stored.onOff },
            { ...identity(created), nodeLabel: "Kitchen", onOff: true },
        );
        // ... and matter.js's own WAL driver reads exactly the same state from it.
        assert.deepEqual(await dumpWithMatter(nodeDir), stored.dump);
    });

    it("starts a node written by matter.js's own wal driver, and matter.js's driver starts it again", { timeout: TIMEOUT }, async () => {
        const root = tempDir();
        const storagePath = path.join(root, "storage");
        const nodeDir = path.join(storagePath, "light");
        const env = matterEnv(root, { MATTER_STORAGE_DRIVER: "wal" });

        // 1. matter.js alone (its TypeScript WalStorageDriver)
        const byMatter = await run(
            LIGHT,
            { storagePath, driver: "matter", change: { nodeLabel: "Written by matter.js", onOff: true } },
            { env },
        );
        const original = eventOf(byMatter, "ready");
        assert.equal(byMatter.code, 0, byMatter.output);
        assert.equal(original.driverId, "wal");
        assert.deepEqual(original.oursOpened, []);
        assertWalDirectory(nodeDir);

        // 2. ours, on the directory matter.js wrote
        const byOurs = await run(
            LIGHT,
            { storagePath, driver: "ours", forbidTs: true, change: { nodeLabel: "Written by ours", onOff: false } },
            { env },
        );
        const underOurs = eventOf(byOurs, "ready");
        assert.equal(byOurs.code, 0, byOurs.output);
        assert.deepEqual(underOurs.oursOpened, [nodeDir]);
        assert.deepEqual(identity(underOurs), identity(original));
        assert.equal(underOurs.nodeLabel, "Written by matter.js");
        assert.equal(underOurs.onOff, true);
        assertWalDirectory(nodeDir);

        // 3. matter.js again, on the directory ours wrote
        const again = await run(LIGHT, { storagePath, driver: "matter" }, { env });
        const underMatter = eventOf(again, "ready");
        assert.equal(again.code, 0, again.output);
        assert.deepEqual(underMatter.oursOpened, []);
        assert.deepEqual(identity(underMatter), identity(original));
        assert.equal(underMatter.nodeLabel, "Written by ours");
        assert.equal(underMatter.onOff, false);
    });

    it("is migrated by matter.js from the file driver to ours (storage.driver=wal) and back (storage.driver=file)", { timeout: TIMEOUT }, async () => {
        const root = tempDir();
        const storagePath = path.join(root, "storage");
        const nodeDir = path.join(storagePath, "light");
        const migrations = path.join(storagePath, ".migrations");

        // 1. matter.js's default Node.js driver: "file"
        const byFile = await run(
            LIGHT,
            { storagePath, driver: "matter", change: { nodeLabel: "On files", onOff: true } },
            { env: matterEnv(root) },
        );
        const original = eventOf(byFile, "ready");
        assert.equal(byFile.code, 0, byFile.output);
        assert.equal(original.driverId, "file");
        assert.deepEqual(readJson(path.join(nodeDir, "driver.json")), { kind: "file", type: "kv" });

        // 2. storage.driver=wal with ours registered: StorageService migrates file -> wal into our driver
        const toWal = await run(
            LIGHT,
            { storagePath, driver: "ours", forbidTs: true, change: { nodeLabel: "On our WAL" } },
            { env: matterEnv(root, { MATTER_STORAGE_DRIVER: "wal" }) },
        );
        const migrated = eventOf(toWal, "ready");
        assert.equal(toWal.code, 0, toWal.output);
        assert.equal(migrated.driverId, "wal");
        assert.deepEqual(identity(migrated), identity(original));
        assert.equal(migrated.nodeLabel, "On files");
        assert.equal(migrated.onOff, true);
        // our driver wrote the migration target, then opened the swapped-in directory
        assert.deepEqual(migrated.oursOpened, [path.join(migrations, "light-new"), nodeDir]);
        assertWalDirectory(nodeDir);
        const backups = fs.readdirSync(migrations);
        assert.ok(backups.some(name => name.startsWith("light-old-file-")), `file-driver backup kept: ${backups}`);
        const stored = await readNodeStorage(nodeDir);
        assert.equal(stored.nodeLabel, "On our WAL");
        assert.equal(stored.uniqueId, original.uniqueId);

        // 3. storage.driver=file: StorageService migrates wal -> file, reading through our driver
        const toFile = await run(
            LIGHT,
            { storagePath, driver: "ours", forbidTs: true },
            { env: matterEnv(root, { MATTER_STORAGE_DRIVER: "file" }) },
        );
        const back = eventOf(toFile, "ready");
        assert.equal(toFile.code, 0, toFile.output);
        assert.equal(back.driverId, "file");
        assert.deepEqual(identity(back), identity(original));
        assert.equal(back.nodeLabel, "On our WAL");
        assert.equal(back.onOff, true);
        assert.deepEqual(back.oursOpened, [nodeDir], "the migration source was opened by our driver");
        assert.deepEqual(readJson(path.join(nodeDir, "driver.json")), { kind: "file", type: "kv" });
        const walBackup = fs.readdirSync(migrations).find(name => name.startsWith("light-old-wal-"));
        assert.ok(walBackup, "wal backup kept");
        assert.equal((await readNodeStorage(path.join(migrations, walBackup))).nodeLabel, "On our WAL");
    });
});
