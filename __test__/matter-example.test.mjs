// examples/matter-light.mjs runs as documented: it comes online on our driver (loopback only),
// stops cleanly on SIGINT (lock released, snapshot written) and has the same identity when
// started again.

import { after, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { cleanup, listTree, matterEnv, tempDir } from "./fixtures/matter-harness.mjs";

after(cleanup);

const EXAMPLE = fileURLToPath(new URL("../examples/matter-light.mjs", import.meta.url));

/** Runs the example until it is online, then interrupts it like Ctrl-C. */
function runOnce(root, storagePath) {
    const child = spawn(process.execPath, [EXAMPLE, `--storage-path=${storagePath}`, "--loopback"], {
        env: matterEnv(root, { MATTER_RUNTIME_SIGNALS: "true" }),
        stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let online;
    const killer = setTimeout(() => child.kill("SIGKILL"), 45_000);
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    const onData = chunk => {
        output += chunk;
        const match = /WAL light online: storage driver "(\w+)" \(matter-wal-native\), unique id (\S+),/.exec(output);
        if (match && !online) {
            online = { driver: match[1], uniqueId: match[2] };
            child.kill("SIGINT");
        }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    return new Promise(resolve =>
        child.on("exit", (code, signal) => {
            clearTimeout(killer);
            resolve({ code, signal, online, output });
        }),
    );
}

it("examples/matter-light.mjs runs on our driver and keeps its identity across restarts", { timeout: 80_000 }, async () => {
    const root = tempDir();
    const storagePath = path.join(root, "storage");
    const nodeDir = path.join(storagePath, "wal-light");

    const first = await runOnce(root, storagePath);
    assert.ok(first.online, first.output);
    assert.equal(first.online.driver, "wal");
    assert.equal(first.signal, null, `ended by SIGINT handling, not killed:\n${first.output}`);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(nodeDir, "driver.json"), "utf8")), { kind: "wal", type: "kv" });
    const files = listTree(nodeDir);
    assert.ok(files.includes("snapshot.json.gz"), files.join(", "));
    assert.ok(!files.includes("matter.lock"), "storage closed on SIGINT");

    const second = await runOnce(root, storagePath);
    assert.ok(second.online, second.output);
    assert.equal(second.online.uniqueId, first.online.uniqueId);
});
