// registerWalDriver() and matter.js's StorageService, in process:
//   - our class replaces matter.js's TypeScript driver under id "wal" (and can be put back);
//   - driver.json "wal" detection opens a namespace written by matter.js's driver with ours;
//   - StorageService migrates a namespace file -> wal (ours) -> file with every key intact,
//     and sqlite -> wal where Node.js has node:sqlite (Node 22.13+: it must run there);
//   - errors our driver raises through matter.js's StorageManager are matter.js's classes.

import { after, afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import * as general from "@matter/general";
import { FileStorageDriver, NodeJsFilesystem } from "@matter/nodejs";

import * as ours from "../index.js";
import { canon, valueSamples } from "./helpers.mjs";
import { cleanup, tempDir } from "./fixtures/matter-harness.mjs";

const { Environment, Filesystem, Logger, StorageService } = general;

Logger.level = "error";

after(cleanup);

// node:sqlite is there without a flag from Node.js 22.13 on (CI runs this suite on 22 and 24):
// there the sqlite test runs whatever happens, so a missing module fails it instead of skipping.
const [NODE_MAJOR, NODE_MINOR] = process.versions.node.split(".").map(Number);
const SQLITE_EXPECTED = NODE_MAJOR > 22 || (NODE_MAJOR === 22 && NODE_MINOR >= 13);
const HAS_SQLITE =
    SQLITE_EXPECTED ||
    (await import("node:sqlite").then(
        () => true,
        () => false,
    ));

// Every driver our package initializes, by directory (the spy is the prototype's initialize).
let opened = [];
const originalInitialize = ours.WalStorageDriver.prototype.initialize;
beforeEach(() => {
    opened = [];
    ours.WalStorageDriver.prototype.initialize = function () {
        opened.push(this.path);
        return originalInitialize.call(this);
    };
});
afterEach(() => {
    ours.WalStorageDriver.prototype.initialize = originalInitialize;
});

/**
 * A matter.js environment on `root` with the drivers matter.js's Node.js environment registers
 * ("file", its TypeScript "wal", "sqlite") and nothing configured.
 */
function environment(root, name = "mwn") {
    const env = new Environment(name);
    env.set(Filesystem, new NodeJsFilesystem(root));
    const service = env.get(StorageService);
    service.registerDriver(FileStorageDriver);
    service.registerDriver(general.WalStorageDriver);
    service.registerDriver({
        id: "sqlite",
        async create(namespace) {
            const { SqliteStorageDriver } = await import("@matter/nodejs");
            return SqliteStorageDriver.create(namespace);
        },
    });
    return { env, service };
}

async function withStorage(service, namespace, fn) {
    const manager = await service.open(namespace);
    try {
        return await fn(manager.driver, manager);
    } finally {
        await manager.close();
    }
}

const CONTEXTS = [
    ["root", "basicInformation"],
    ["root", "parts", "light", "onOff"],
    ["nodes", "peer1", "endpoints", "0", "commissioning"],
    ["fabrics"],
    ["sessions"],
];

/** Values of every type matter.js stores (a top-level undefined is not a value; migration skips it). */
function sampleData() {
    const samples = valueSamples().filter(([, value]) => value !== undefined);
    return CONTEXTS.map((contexts, i) => [
        contexts,
        Object.fromEntries(samples.filter((_, j) => j % CONTEXTS.length === i || i === 0)),
    ]);
}

async function writeSamples(driver) {
    for (const [contexts, values] of sampleData()) {
        await driver.set(contexts, values);
    }
}

/** Every context → key → canonical value, order-independent (drivers list keys in different orders). */
async function dump(driver) {
    const out = {};
    const visit = async contexts => {
        const keys = await driver.keys(contexts);
        if (keys.length) {
            const record = {};
            for (const key of [...keys].sort()) record[key] = canon(await driver.get(contexts, key));
            out[contexts.join(".")] = record;
        }
        for (const sub of [...(await driver.contexts(contexts))].sort()) await visit([...contexts, sub]);
    };
    await visit([]);
    return out;
}

function expectedDump() {
    const out = {};
    for (const [contexts, values] of sampleData()) {
        const record = {};
        for (const key of Object.keys(values).sort()) record[key] = canon(values[key]);
        out[contexts.join(".")] = record;
    }
    return out;
}

function descriptorOf(dir) {
    return JSON.parse(fs.readFileSync(path.join(dir, "driver.json"), "utf8"));
}

describe("registerWalDriver", () => {
    it("registers our class under id \"wal\" in place of matter.js's, and unregisterWalDriver puts matter.js's back", async () => {
        const root = tempDir();
        const { env, service } = environment(root);
        service.configuredDriver = "wal";

        assert.equal(ours.registerWalDriver(env), service, "returns the environment's StorageService");
        await withStorage(service, "a", async (driver, manager) => {
            assert.equal(manager.driverId, "wal");
            await driver.set(["x"], "k", 1n);
        });
        assert.deepEqual(opened, [path.join(root, "a")]);

        assert.equal(ours.unregisterWalDriver(env), service);
        opened = [];
        await withStorage(service, "b", async (driver, manager) => {
            assert.equal(manager.driverId, "wal");
            await driver.set(["x"], "k", 1n);
        });
        assert.deepEqual(opened, [], "matter.js's TypeScript driver opened b");
    });

    it("takes a StorageService too, and { select: true } selects wal like storage.driver=wal", async () => {
        const root = tempDir();
        const { service } = environment(root);
        assert.equal(service.configuredDriver, undefined);
        assert.equal(ours.registerWalDriver(service, { select: true }), service);
        assert.equal(service.configuredDriver, "wal");
        assert.equal(service.defaultDriver, "wal");
        await withStorage(service, "n", async (_driver, manager) => assert.equal(manager.driverId, "wal"));
        assert.deepEqual(opened, [path.join(root, "n")]);
    });

    it("defaults to matter.js's default environment", () => {
        const service = Environment.default.get(StorageService);
        try {
            assert.equal(ours.registerWalDriver(), service);
        } finally {
            assert.equal(ours.unregisterWalDriver(), service);
        }
    });

    it("finds the StorageService of an application on @matter/general's CommonJS build", () => {
        const cjs = createRequire(import.meta.url)("@matter/general");
        assert.notEqual(cjs.StorageService, StorageService, "two builds, two classes");
        const env = new cjs.Environment("cjs");
        const service = ours.registerWalDriver(env);
        assert.ok(service instanceof cjs.StorageService);
        assert.equal(service, env.get(cjs.StorageService), "the service the application's matter.js uses");
        assert.equal(ours.unregisterWalDriver(env), service);
    });

    it("refuses what is neither an Environment nor a StorageService with matter.js's StorageError", () => {
        assert.throws(
            () => ours.registerWalDriver({ vars: {} }),
            error => error instanceof general.StorageError && /Environment or StorageService/.test(error.message),
        );
    });

    it("opens with ours a namespace whose driver.json (written with matter.js's wal driver) says wal", async () => {
        const root = tempDir();
        const before = environment(root, "before");
        before.service.configuredDriver = "wal";
        await withStorage(before.service, "node", writeSamples);
        assert.deepEqual(opened, []);
        assert.deepEqual(descriptorOf(path.join(root, "node")), { kind: "wal", type: "kv" });

        // Nothing configured: StorageService detects "wal" from driver.json.
        const { service } = environment(root, "after");
        ours.registerWalDriver(service);
        const data = await withStorage(service, "node", async (driver, manager) => {
            assert.equal(manager.driverId, "wal");
            return dump(driver);
        });
        assert.deepEqual(opened, [path.join(root, "node")]);
        assert.deepEqual(data, expectedDump());
    });

    it("raises matter.js's error classes through matter.js's StorageManager", async () => {
        const root = tempDir();
        const { service } = environment(root);
        ours.registerWalDriver(service, { select: true });
        const manager = await service.open("e");
        const tx = await manager.driver.begin();
        assert.throws(() => tx.begin(), general.StorageCommitError);
        tx[Symbol.dispose]();
        assert.throws(() => tx.set(["a"], "b", 1), general.StorageCommitError);
        await manager.close();
        await assert.rejects(manager.driver.get(["a"], "b"), error => {
            assert.ok(error instanceof general.StorageError, `${error?.constructor?.name}: ${error?.message}`);
            assert.equal(error.message, "WalStorageDriver is not initialized");
            return true;
        });
    });
});

describe("matter.js StorageService migration through our driver", () => {
    it("migrates file -> wal (ours) -> file with every key intact", { timeout: 60_000 }, async () => {
        const root = tempDir();
        const dir = path.join(root, "node");
        const migrations = path.join(root, ".migrations");
        const { service } = environment(root);
        ours.registerWalDriver(service);

        service.configuredDriver = "file";
        await withStorage(service, "node", async (driver, manager) => {
            assert.equal(manager.driverId, "file");
            await writeSamples(driver);
        });
        assert.deepEqual(descriptorOf(dir), { kind: "file", type: "kv" });
        assert.deepEqual(opened, []);

        service.configuredDriver = "wal";
        const onWal = await withStorage(service, "node", async (driver, manager) => {
            assert.equal(manager.driverId, "wal");
            return dump(driver);
        });
        assert.deepEqual(onWal, expectedDump());
        assert.deepEqual(opened, [path.join(migrations, "node-new"), dir], "ours wrote the target and opened the result");
        assert.deepEqual(descriptorOf(dir), { kind: "wal", type: "kv" });
        assert.ok(fs.readdirSync(migrations).some(name => name.startsWith("node-old-file-")));

        // The migrated directory is a matter.js WAL directory: matter.js's own driver reads the same.
        const tsView = environment(root, "ts");
        tsView.service.configuredDriver = "wal";
        assert.deepEqual(await withStorage(tsView.service, "node", dump), expectedDump());

        opened = [];
        service.configuredDriver = "file";
        const backOnFile = await withStorage(service, "node", async (driver, manager) => {
            assert.equal(manager.driverId, "file");
            return dump(driver);
        });
        assert.deepEqual(backOnFile, expectedDump());
        assert.deepEqual(opened, [dir], "ours was the migration source");
        assert.deepEqual(descriptorOf(dir), { kind: "file", type: "kv" });
        assert.ok(fs.readdirSync(migrations).some(name => name.startsWith("node-old-wal-")));
    });

    it("migrates a legacy file-driver directory (no driver.json) to ours", async () => {
        const root = tempDir();
        const dir = path.join(root, "legacy");
        const { service } = environment(root);
        service.configuredDriver = "file";
        await withStorage(service, "legacy", writeSamples);
        fs.rmSync(path.join(dir, "driver.json"));

        ours.registerWalDriver(service, { select: true });
        assert.deepEqual(await withStorage(service, "legacy", dump), expectedDump());
        assert.deepEqual(descriptorOf(dir), { kind: "wal", type: "kv" });
        assert.equal(opened.at(-1), dir);
    });

    it(
        "migrates sqlite -> wal (ours) with every key intact",
        { skip: HAS_SQLITE ? false : `node:sqlite is not available in Node.js ${process.version} (needs 22.13+, or 22.5+ with --experimental-sqlite)` },
        async () => {
            const root = tempDir();
            const { service } = environment(root);
            ours.registerWalDriver(service);
            service.configuredDriver = "sqlite";
            await withStorage(service, "node", writeSamples);

            service.configuredDriver = "wal";
            assert.deepEqual(await withStorage(service, "node", dump), expectedDump());
            assert.deepEqual(descriptorOf(path.join(root, "node")), { kind: "wal", type: "kv" });
            assert.equal(opened.at(-1), path.join(root, "node"));
        },
    );
});
