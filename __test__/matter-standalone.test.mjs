// @matter/general is an optional peer dependency: without it (hidden from module resolution in a
// child process) the package loads, works on plain paths with its own StorageError classes and
// native locking, and registerWalDriver() explains what is missing.

import { after, it } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

import { STANDALONE, cleanup, eventOf, run, tempDir } from "./fixtures/matter-harness.mjs";

after(cleanup);

it("works without @matter/general on plain paths, with its own error classes", { timeout: 60_000 }, async () => {
    const dir = path.join(tempDir(), "node");
    const outcome = await run(STANDALONE, { dir });
    const result = eventOf(outcome, "result");
    assert.equal(result.fatal, undefined, `${result.fatal?.message}\n${result.fatal?.stack}\n${outcome.output}`);
    assert.equal(result.matterImport, "ERR_MODULE_NOT_FOUND", "@matter/general is really unavailable in the child");
    assert.deepEqual(result.errorClasses, { lockIsStorageError: true, commitIsStorageError: true, storageIsError: true });
    assert.deepEqual(result.secondOpen, {
        className: "StorageLockError",
        name: "StorageLockError",
        message: `Storage is already locked by this process: ${dir}`,
        isOurLockError: true,
    });
    assert.deepEqual(result.readBack, { big: true, bytes: true, map: true, text: true });
    assert.ok(result.files.includes("wal"), result.files.join(", "));
    assert.ok(!result.files.includes("matter.lock"), "lock released on close");
    assert.equal(result.register.isOurStorageError, true);
    assert.equal(result.register.className, "StorageError");
    assert.match(result.register.message, /needs @matter\/general/);
    assert.equal(outcome.code, 0, outcome.output);
});
