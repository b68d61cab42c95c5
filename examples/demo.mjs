// Demo: open a real storage directory with the native driver, write matter.js-style state,
// close, reopen, read it back, travel back in time, and show the files on disk.
//
//   node examples/demo.mjs [directory]     (default: ./demo-storage)

import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { WalStorageDriver } from "../index.js";

const dir = resolve(process.argv[2] ?? "demo-storage");
const opts = { maxSegmentSize: 4096 };

let driver = new WalStorageDriver(dir, opts);
await driver.initialize();

const before = Date.now();
for (let i = 0; i < 100; i++) {
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
console.log("nodeLabel now:", await driver.get(["node0"], "nodeLabel"), "| as of commit", beforeRename, ":", past.get(["node0"], "nodeLabel"));
console.log("last commit of the first session:", atCommit, "(written since", new Date(before).toISOString() + ")");
await driver.close();

const list = d =>
    readdirSync(d).flatMap(name => {
        const p = join(d, name);
        return statSync(p).isDirectory() ? list(p) : [`${p.slice(dir.length + 1)} (${statSync(p).size} bytes)`];
    });
console.log("files:\n  " + list(dir).join("\n  "));
