// `tsc --noEmit` over __test__/types/usage.ts: the published typings (index.d.ts, resolved
// through package.json "exports" like a user's import) cover the whole public API, and its
// `@ts-expect-error` lines prove they reject misuse.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

it("index.d.ts type-checks a typed usage of the whole public API (tsc --noEmit, strict)", { timeout: 120_000 }, () => {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    const r = spawnSync(process.execPath, [tsc, "--noEmit", "-p", path.join(ROOT, "__test__", "types", "tsconfig.json")], {
        cwd: ROOT,
        encoding: "utf8",
    });
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});

it("index.d.cts (the typings CommonJS importers get) is the same text as index.d.ts", () => {
    const fs = createRequire(import.meta.url)("node:fs");
    const esm = fs.readFileSync(path.join(ROOT, "index.d.ts"), "utf8");
    const cjs = fs.readFileSync(path.join(ROOT, "index.d.cts"), "utf8");
    assert.equal(cjs, esm, "copy index.d.ts over index.d.cts: they must not drift apart");
});
