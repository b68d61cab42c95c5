// Demo: open a real storage directory with the native driver, write matter.js-style state,
// close, reopen, read it back, travel back in time, and show the files on disk.
//
//   node examples/demo.mjs [directory]     (default: ./demo-storage)

import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { WalStorageDriver } from "../index.js";

const dir = resolve(process.argv[2] ?? "demo-storage");
const opts = { maxSegmentSize: 4096 };

// A commit id as `matter-wal log` prints it and takes it (`matter-wal dump --commit 9:4`):
// SEG:OFF, the segment number and the line offset in it, with the segment's file, whose
// name is the segment number in hex (wal/0000000a.jsonl is segment 10).
function commitLabel({ segment, offset }) {
    const name = `wal/${segment.toString(16).padStart(8, "0")}.jsonl`;
    const file = existsSync(join(dir, name)) ? name : existsSync(join(dir, `${name}.gz`)) ? `${name}.gz` : undefined;
    return `${segment}:${offset} (${file ? `line ${offset + 1} of ${file}` : `segment ${name} cleaned away, folded into head.json`})`;
}

let driver = new WalStorageDriver(dir, opts);
await driver.initialize();

const before = Date.now();
for (let i = 0; i < 120; i++) {
    await driver.set(["node0", "endpoint1", "onOff"], {
        onOff: i % 2 === 0,
        dataVersion: i,
        fabricId: 0xfffffffffn + BigInt(i),
        operationalKey: new Uint8Array([1, 2, 3, i & 0xff]),
        labels: new Map([["room", "kitchen"], ["n", i]]),
    });
}
await driver.set(["node0"], "nodeLabel", "Kitchen light");
const atCommit = (await driver.snapshotAtTime()).commitId;
await driver.close();

driver = new WalStorageDriver(dir, opts);
await driver.initialize();
console.log("storage directory:", dir);
console.log("contexts:", await driver.contexts([]), "→", await driver.contexts(["node0"]));
console.log("node0.endpoint1.onOff:", await driver.values(["node0", "endpoint1", "onOff"]));
console.log("nodeLabel:", await driver.get(["node0"], "nodeLabel"));
// Time travel: rename the node, then look at the state as of just before the rename.
const beforeRename = (await driver.snapshotAtTime()).commitId;
await driver.set(["node0"], "nodeLabel", "Living room light");
const past = await driver.snapshotAtCommit(beforeRename);
const [labelNow, labelThen] = [await driver.get(["node0"], "nodeLabel"), past.get(["node0"], "nodeLabel")];
await driver.close();
console.log(`nodeLabel now: ${JSON.stringify(labelNow)} | as of commit ${commitLabel(beforeRename)}: ${JSON.stringify(labelThen)}`);
console.log(`last commit of the first session: ${commitLabel(atCommit)}, written since ${new Date(before).toISOString()}`);

const list = d =>
    readdirSync(d).flatMap(name => {
        const p = join(d, name);
        return statSync(p).isDirectory() ? list(p) : [`${p.slice(dir.length + 1)} (${statSync(p).size} bytes)`];
    });
console.log("files:\n  " + list(dir).join("\n  "));
