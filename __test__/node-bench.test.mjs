// Smoke test of the node benchmark (`npm run bench -- --node`, bench/node/): a tiny run
// (a bridge with two lights, first start and restart, no churn) on all four drivers prints
// its table with a figure from every driver. Checks behaviour only: no timed number is
// compared with anything.
//
// matter.js's sqlite driver needs node:sqlite (Node.js >= 22.13). The benchmark runs its
// children on such a Node when it finds one (.tools/node-24, installed by .ci/install-node.sh);
// when there is none, its sqlite column must say so, which is what this test then checks.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DRIVERS = ["ours", "wal", "file", "sqlite"];

function run(args) {
    return new Promise(resolve => {
        const child = spawn(process.execPath, [path.join(ROOT, "bench/run.mjs"), ...args], {
            cwd: ROOT,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", c => (stdout += c));
        child.stderr.setEncoding("utf8").on("data", c => (stderr += c));
        child.on("exit", code => resolve({ code, stdout, stderr }));
    });
}

it("`bench --node --quick` measures a bridge on ours, wal, file and sqlite and prints one table", { timeout: 150_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-nodebench-test-"));
    try {
        const { code, stdout, stderr } = await run([
            "--node",
            "--quick",
            "--only=1",
            "--lights=2",
            "--toggles=0",
            "--sequential-toggles=0",
            `--dir=${dir}`,
            `--data-dir=${path.join(dir, "data")}`,
        ]);
        const context = `exit ${code}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr.slice(-4000)}`;
        assert.equal(code, 0, context);

        const lines = stdout.split("\n");
        const headerAt = lines.findIndex(l => /^#\s+workload\s+unit\s+/.test(l));
        assert.ok(headerAt >= 0, `no table header\n${context}`);
        const header = lines[headerAt].split(/\s{2,}/);
        assert.deepEqual(header.slice(3, 7), DRIVERS, context);
        assert.deepEqual(header.slice(7), ["×wal", "×file", "×sqlite", "×best"], context);

        const row = name => {
            const line = lines.find(l => l.startsWith(`1  bridge 2: ${name}`));
            assert.ok(line, `no row "${name}"\n${context}`);
            const cells = line.split(/\s{2,}/);
            assert.equal(cells.length, header.length, `row "${name}" has ${cells.length} cells\n${context}`);
            return Object.fromEntries(DRIVERS.map((d, i) => [d, cells[3 + i]]));
        };
        const figure = /^\d[\d,]*(\.\d+)?( \(\d+(\.\d)?%\))?$/;
        const nodeLine = lines[0];
        const childNode = /node v(\d+)\.(\d+)\.\d+ \(children/.exec(nodeLine);
        assert.ok(childNode, `first line names the children's Node\n${context}`);
        const hasSqlite = Number(childNode[1]) > 22 || (Number(childNode[1]) === 22 && Number(childNode[2]) >= 13);

        for (const name of ["first start → online", "first start, held up by driver", "restart → online", "restart, held up by driver"]) {
            const cells = row(name);
            for (const d of ["ours", "wal", "file"]) assert.match(cells[d], figure, `${d} in "${name}"\n${context}`);
            if (hasSqlite) {
                assert.match(cells.sqlite, figure, `sqlite in "${name}" (children on a Node with node:sqlite)\n${context}`);
            } else {
                // No Node with node:sqlite here: the column says so, and why; never a silent gap.
                assert.equal(cells.sqlite, "error", context);
                assert.match(stdout, /sqlite.*needs node:sqlite \(Node\.js >= 22\.13\)/, context);
            }
        }
        // Every "held up" figure is a share of its time to online.
        for (const cell of Object.values(row("restart, held up by driver"))) {
            if (cell !== "error") assert.match(cell, /\(\d+(\.\d)?%\)$/, context);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
