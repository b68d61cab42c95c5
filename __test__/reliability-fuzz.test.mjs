// Damaged storage directories from the JS side: a valid store whose snapshot, head snapshot
// and segments get truncated, bit-flipped, replaced by garbage (gzipped or not), duplicated or
// removed. Opening never crashes or hangs the Node process: it either fails with a
// StorageError naming a file, or opens, reads, commits, closes and reopens.
// FUZZ_ITERATIONS=5000 node --test __test__/reliability-fuzz.test.mjs for a longer run.

import { it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

import { assertStorageError, describeKindOrSkipIfNativeMissing, makeTempDir, native, registerCleanup } from "./helpers.mjs";
import { prng } from "./fixtures/crash-harness.mjs";

registerCleanup();

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);

function within(promise, ms, what) {
    let timer;
    return Promise.race([
        promise.finally(() => clearTimeout(timer)),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} hung (> ${ms} ms)`)), ms))),
    ]);
}

async function makeTemplate(dir) {
    const driver = new native.WalStorageDriver(dir, { fsync: false, maxSegmentSize: 1024, compressSnapshot: true });
    await driver.initialize();
    for (let i = 0; i < 60; i++) {
        await driver.set(["a", `c${i % 4}`], `k${i}`, { i, big: BigInt(i) ** 5n, bytes: new Uint8Array([i, 255 - i]), m: new Map([[i, "v"]]) });
        if (i % 17 === 16) await driver.clearAll(["a", `c${i % 4}`]);
    }
    await driver.close(); // snapshot, clean (head snapshot), gzip
    // No maintenance on this run (no gzip, the snapshot interval far away), so nothing changes
    // the files behind our back while they are copied: with fsync off every commit is written
    // before its promise resolves.
    const again = new native.WalStorageDriver(dir, { fsync: false, maxSegmentSize: 1024, compressLog: false });
    await again.initialize();
    for (let i = 60; i < 90; i++) await again.set(["b"], `k${i}`, i);
    // Leave the log ahead of the snapshot: copy the files while still open.
    const frozen = `${dir}-frozen`;
    // The driver's maintenance may gzip a rotated segment (removing its plain copy) while the
    // copy walks the directory: copy again until one walk sees a stable set of files.
    for (let attempt = 1; ; attempt++) {
        try {
            fs.rmSync(frozen, { recursive: true, force: true });
            fs.cpSync(dir, frozen, { recursive: true, filter: s => !/matter\.(lock|pid)$/.test(s) });
            break;
        } catch (error) {
            if (error.code !== "ENOENT" || attempt === 20) throw error;
        }
    }
    await again.close();
    // Gzip the rotated segments of the copy as the maintenance would have (all but the newest),
    // so the template still has gzipped segments after the snapshot.
    const wal = path.join(frozen, "wal");
    const plain = fs.readdirSync(wal).filter(n => /^[0-9a-f]{8}\.jsonl$/.test(n)).sort();
    for (const name of plain.slice(0, -1)) {
        fs.writeFileSync(path.join(wal, `${name}.gz`), zlib.gzipSync(fs.readFileSync(path.join(wal, name))));
        fs.rmSync(path.join(wal, name));
    }
    assert.ok(plain.length >= 2, "the template's log rotated after the snapshot");
    return frozen;
}

function mutate(bytes, random) {
    const b = Buffer.from(bytes);
    switch (Math.floor(random() * 7)) {
        case 0:
            return b.subarray(0, Math.floor(random() * b.length));
        case 1: {
            for (let n = 1 + Math.floor(random() * 4); n > 0 && b.length; n--) b[Math.floor(random() * b.length)] ^= 1 << Math.floor(random() * 8);
            return b;
        }
        case 2:
            return Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
        case 3:
            return zlib.gzipSync(Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256))));
        case 4: {
            const at = Math.floor(random() * b.length);
            return Buffer.concat([b.subarray(0, at), b.subarray(Math.floor(random() * b.length)), b.subarray(at)]);
        }
        case 5:
            return Buffer.alloc(0);
        default: {
            // Damage inside the gzip stream (decompress, damage, recompress) or the plain text.
            const gz = b[0] === 0x1f && b[1] === 0x8b;
            let text;
            try {
                text = gz ? zlib.gunzipSync(b) : b;
            } catch {
                return b;
            }
            const damaged = Buffer.from(text);
            for (let n = 1 + Math.floor(random() * 3); n > 0 && damaged.length; n--) {
                const chars = '{}[]",:0a\n\\';
                damaged[Math.floor(random() * damaged.length)] = chars.charCodeAt(Math.floor(random() * chars.length));
            }
            return gz ? zlib.gzipSync(damaged) : damaged;
        }
    }
}

function damage(template, dir, random) {
    fs.cpSync(template, dir, { recursive: true });
    const files = [
        ...fs.readdirSync(dir).filter(n => n.endsWith(".json") || n.endsWith(".gz")),
        ...fs.readdirSync(path.join(dir, "wal")).map(n => path.join("wal", n)),
    ];
    const changes = [];
    for (let n = 1 + Math.floor(random() * 2); n > 0; n--) {
        const name = files[Math.floor(random() * files.length)];
        const file = path.join(dir, name);
        if (!fs.existsSync(file)) continue;
        if (random() < 0.15) {
            fs.rmSync(file);
            changes.push(`removed ${name}`);
        } else {
            fs.writeFileSync(file, mutate(fs.readFileSync(file), random));
            changes.push(`damaged ${name}`);
        }
    }
    return changes.join(", ");
}

describeKindOrSkipIfNativeMissing("native", "reliability: damaged directories", () => {
    it(`${ITERATIONS} damaged directories open or fail cleanly, never crash or hang`, { timeout: 10 * 60_000 }, async t => {
        native.namespace.setLogLevel("off");
        const root = makeTempDir(t);
        const template = await makeTemplate(path.join(root, "template"));
        const random = prng(SEED);
        const tally = { opened: 0, failed: 0 };
        for (let i = 0; i < ITERATIONS; i++) {
            const dir = path.join(root, `case${i}`);
            const what = damage(template, dir, random);
            const label = `case ${i} (seed ${SEED}: ${what})`;
            const driver = new native.WalStorageDriver(dir, { fsync: false, maxSegmentSize: 1024 });
            let opened = true;
            try {
                await within(driver.initialize(), 10_000, `${label}: initialize`);
            } catch (error) {
                if (/hung/.test(error.message)) throw error;
                opened = false;
                tally.failed++;
                if (process.env.FUZZ_VERBOSE) t.diagnostic(`${label}: ${error.message}`);
                assertStorageError("native", error, "StorageError");
                assert.match(error.message, new RegExp(dir.replaceAll("/", "\\/")), `${label}: the error names a file: ${error.message}`);
            }
            if (opened) {
                tally.opened++;
                for (const c of await driver.contexts(["a"])) await driver.values(["a", c]);
                await driver.values(["b"]);
                await within(driver.set(["after"], "k", i), 10_000, `${label}: set`);
                await within(driver.close(), 10_000, `${label}: close`);
                // What we wrote ourselves opens again, with the commit made after the damage.
                const again = new native.WalStorageDriver(dir, {});
                await within(again.initialize(), 10_000, `${label}: reopen`);
                assert.equal(await again.get(["after"], "k"), i, label);
                await again.close();
            }
            fs.rmSync(dir, { recursive: true, force: true });
        }
        t.diagnostic(`seed ${SEED}: ${tally.opened} opened, ${tally.failed} failed with a StorageError`);
        native.namespace.setLogLevel("info");
    });
});
