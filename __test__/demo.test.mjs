// The quick-start demo (examples/demo.mjs, `npm run demo`) on a real directory: it runs, its
// time travel shows the old label, and the commit ids it prints are the ones `matter-wal log`
// prints, each next to the segment file (hex-named) that holds it, at the line it names.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

import { describeKindOrSkipIfNativeMissing, makeTempDir, registerCleanup } from "./helpers.mjs";

registerCleanup();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

describeKindOrSkipIfNativeMissing("native", "demo", () => {
    it("prints commit ids as SEG:OFF with the hex-named segment file and line that hold them", t => {
        const dir = path.join(makeTempDir(t, "mwn-demo-"), "storage");
        const demo = spawnSync(process.execPath, [path.join(ROOT, "examples", "demo.mjs"), dir], { encoding: "utf8", timeout: 60_000 });
        assert.equal(demo.status, 0, demo.stderr);
        const travel = /^nodeLabel now: "Living room light" \| as of commit (\d+):(\d+) \(line (\d+) of (wal\/([0-9a-f]{8})\.jsonl(?:\.gz)?)\): "Kitchen light"$/m.exec(
            demo.stdout,
        );
        assert.ok(travel, demo.stdout);
        const [, segment, offset, line, file, hex] = travel;
        assert.equal(parseInt(hex, 16), Number(segment), `${file} holds segment ${segment}`);
        assert.ok(Number(segment) >= 10, `the demo reaches a segment whose hex name differs from its number (${segment})`);
        assert.equal(Number(line), Number(offset) + 1);
        assert.ok(fs.existsSync(path.join(dir, file)));

        // `matter-wal log` prints the same id for the commit that set the old label.
        const log = spawnSync(process.execPath, [path.join(ROOT, "bin", "matter-wal.js"), "log", dir], { encoding: "utf8", timeout: 60_000 });
        assert.equal(log.status, 0, log.stderr);
        const labelCommit = log.stdout.split("\n").find(l => l.includes('set node0 nodeLabel="Kitchen light"'));
        assert.match(labelCommit, new RegExp(`\\s${segment}:${offset}\\s`));
        // And that is the line the demo named in that file.
        const bytes = fs.readFileSync(path.join(dir, file));
        const text = (file.endsWith(".gz") ? zlib.gunzipSync(bytes) : bytes).toString("utf8");
        assert.match(text.split("\n")[Number(offset)], /"nodeLabel":"Kitchen light"/);
    });
});
