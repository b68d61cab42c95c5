// The native core's log events reach JavaScript: matter.js's Logger (facility
// "WalStorageDriver") when @matter/general is installed, the console when it is not. The
// event used is a real one: a malformed WAL line skipped while the driver opens.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { describeKindOrSkipIfNativeMissing, makeTempDir, matter, native, registerCleanup } from "./helpers.mjs";

registerCleanup();

const INDEX = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "index.js")).href;
const MALFORMED = /Skipping malformed WAL line at segment 1, offset 1 \(.*00000001\.jsonl\)/;

/** A storage directory whose log has a malformed line between two good commits. */
function directoryWithMalformedLine(t) {
    const dir = makeTempDir(t);
    fs.mkdirSync(path.join(dir, "wal"));
    fs.writeFileSync(
        path.join(dir, "wal", "00000001.jsonl"),
        '{"ts":1,"ops":[{"op":"upd","key":"a","values":{"k":1}}]}\n{"ts":2,"ops":[{"op":"zap","key":"a"}]}\n{"ts":3,"ops":[{"op":"upd","key":"a","values":{"j":2}}]}\n',
    );
    return dir;
}

async function waitFor(predicate, ms = 2000) {
    const until = Date.now() + ms;
    while (!predicate() && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 10));
}

describeKindOrSkipIfNativeMissing("native", "native log events", () => {
    it("a warning of the Rust core reaches matter.js's Logger under facility WalStorageDriver", async t => {
        const { Logger, LogDestination, LogLevel } = matter;
        const captured = [];
        Logger.destinations.captureWal = LogDestination({ name: "captureWal", level: LogLevel.WARN, add: message => captured.push(message) });
        try {
            const dir = directoryWithMalformedLine(t);
            const driver = new native.WalStorageDriver(dir, { fsync: false });
            await driver.initialize();
            try {
                assert.deepEqual(await driver.values(["a"]), { k: 1, j: 2 }, "the good commits around it are replayed");
                await waitFor(() => captured.some(m => MALFORMED.test(m.values.join(" "))));
            } finally {
                await driver.close();
            }
            const event = captured.find(m => MALFORMED.test(m.values.join(" ")));
            assert.ok(event, `no warning captured: ${JSON.stringify(captured.map(m => m.values))}`);
            assert.equal(event.facility, "WalStorageDriver");
            assert.equal(event.level, LogLevel.WARN);
            assert.match(event.values.join(" "), /unknown op kind `zap`/);

            // setLogLevel("error") keeps warnings in the core.
            captured.length = 0;
            native.namespace.setLogLevel("error");
            try {
                const quiet = new native.WalStorageDriver(directoryWithMalformedLine(t), { fsync: false });
                await quiet.initialize();
                await new Promise(resolve => setTimeout(resolve, 100));
                await quiet.close();
                assert.deepEqual(captured.filter(m => MALFORMED.test(m.values.join(" "))), []);
            } finally {
                native.namespace.setLogLevel("info");
            }
        } finally {
            delete Logger.destinations.captureWal;
        }
    });

    it("without @matter/general the warning goes to console.warn", t => {
        const dir = directoryWithMalformedLine(t);
        const work = makeTempDir(t);
        // A resolve hook makes @matter/* unresolvable, as in an app that does not install it.
        fs.writeFileSync(
            path.join(work, "hide-matter.mjs"),
            `export async function resolve(specifier, context, next) {
                if (specifier.startsWith("@matter/")) {
                    const error = new Error("Cannot find package '" + specifier + "' (hidden by the test)");
                    error.code = "ERR_MODULE_NOT_FOUND";
                    throw error;
                }
                return next(specifier, context);
            }`,
        );
        fs.writeFileSync(path.join(work, "register.mjs"), `import { register } from "node:module"; register("./hide-matter.mjs", import.meta.url);`);
        fs.writeFileSync(
            path.join(work, "child.mjs"),
            `const warnings = [];
            console.warn = (...args) => warnings.push(args.join(" "));
            const { WalStorageDriver, StorageError } = await import(${JSON.stringify(INDEX)});
            let matterFound = true;
            try { await import("@matter/general"); } catch { matterFound = false; }
            const driver = new WalStorageDriver(${JSON.stringify(dir)}, { fsync: false });
            await driver.initialize();
            const until = Date.now() + 2000;
            while (!warnings.length && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 10));
            await driver.close();
            process.stdout.write(JSON.stringify({ warnings, matterFound, storageError: StorageError.name }));`,
        );
        const r = spawnSync(process.execPath, ["--import", pathToFileURL(path.join(work, "register.mjs")).href, path.join(work, "child.mjs")], {
            encoding: "utf8",
            timeout: 60_000,
        });
        assert.equal(r.status, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.equal(out.matterFound, false, "the hook hides @matter/general");
        assert.equal(out.storageError, "StorageError", "fallback error classes are used");
        assert.ok(out.warnings.some(w => MALFORMED.test(w)), JSON.stringify(out.warnings));
    });
});
