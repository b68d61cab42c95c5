// What a user gets for a mistake in the constructor: options of the wrong type, an empty
// path, opening a directory twice in one program. Each is a StorageError (matter.js's class
// when @matter/general is loaded) whose message names what is wrong; none leaves a file behind.

import { it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { assertStorageError, describeKindOrSkipIfNativeMissing, makeTempDir, native, registerCleanup } from "./helpers.mjs";

registerCleanup();

describeKindOrSkipIfNativeMissing("native", "constructor mistakes", () => {
    it("an option of the wrong type is a StorageError naming the option, what it takes and what it got", t => {
        const dir = path.join(makeTempDir(t), "node");
        const cases = [
            [{ maxSegmentSize: "16MB" }, 'WalStorageDriver option maxSegmentSize must be a positive number (bytes), not the string "16MB"'],
            [{ maxSegmentSize: 0 }, "WalStorageDriver option maxSegmentSize must be a positive number (bytes), not number 0"],
            [{ maxSegmentSize: 1024n }, "WalStorageDriver option maxSegmentSize must be a positive number (bytes), not bigint 1024n"],
            [{ fsync: "yes" }, 'WalStorageDriver option fsync must be a boolean, not the string "yes"'],
            [{ fsync: 1 }, "WalStorageDriver option fsync must be a boolean, not number 1"],
            [
                { snapshotInterval: "6h" },
                'WalStorageDriver option snapshotInterval must be a non-negative number (milliseconds, a matter.js Duration), not the string "6h"',
            ],
            [
                { cleanInterval: -5 },
                "WalStorageDriver option cleanInterval must be a non-negative number (milliseconds, a matter.js Duration), not number -5",
            ],
            [{ compressSnapshot: {} }, "WalStorageDriver option compressSnapshot must be a boolean, not an object (Object)"],
            [{ compressLog: [] }, "WalStorageDriver option compressLog must be a boolean, not an array"],
            [{ headSnapshot: "false" }, 'WalStorageDriver option headSnapshot must be a boolean, not the string "false"'],
            [{ lock: 0 }, "WalStorageDriver option lock must be a boolean, not number 0"],
            ["fsync", 'WalStorageDriver options must be an object, not the string "fsync"'],
        ];
        for (const [options, message] of cases) {
            let error;
            try {
                new native.WalStorageDriver(dir, options);
            } catch (e) {
                error = e;
            }
            assertStorageError("native", error, "StorageError", message);
        }
        assert.equal(fs.existsSync(dir), false, "nothing was created");

        // Unset (undefined or null) means the default; right types are taken as they are.
        const driver = new native.WalStorageDriver(dir, {
            maxSegmentSize: 4096,
            fsync: false,
            snapshotInterval: 60_000,
            cleanInterval: null,
            compressSnapshot: undefined,
            compressLog: false,
            headSnapshot: true,
        });
        assert.equal(driver.initialized, false);
        assert.ok(new native.WalStorageDriver(dir, null));
    });

    it("a wrong option from StorageService's descriptor (driver.json) is refused the same way by create()", async t => {
        const dir = path.join(makeTempDir(t), "node");
        await assert.rejects(native.WalStorageDriver.create(dir, { kind: "wal", fsync: "always" }), error => {
            assertStorageError("native", error, "StorageError", 'WalStorageDriver option fsync must be a boolean, not the string "always"');
            return true;
        });
    });

    it("an empty storage path is refused with a StorageError, before anything happens", () => {
        const cwd = process.cwd();
        const before = fs.readdirSync(cwd);
        for (const make of [() => new native.WalStorageDriver(""), () => new native.WalStorageDriver(undefined, { storageDir: "" })]) {
            let error;
            try {
                make();
            } catch (e) {
                error = e;
            }
            assertStorageError("native", error, "StorageError", "WalStorageDriver needs a storage directory, not an empty path");
        }
        assert.deepEqual(fs.readdirSync(cwd), before, "nothing written to the working directory");
    });

    it("opening a directory twice in one program: the lock error names the directory", async t => {
        const dir = path.join(makeTempDir(t), "node");
        const first = new native.WalStorageDriver(dir, { fsync: false });
        await first.initialize();
        try {
            const second = new native.WalStorageDriver(dir, { fsync: false });
            await assert.rejects(second.initialize(), error => {
                assertStorageError("native", error, "StorageLockError", `Storage is already locked by this process: ${dir}`);
                return true;
            });
            assert.equal(second.initialized, false);
        } finally {
            await first.close();
        }
    });
});
