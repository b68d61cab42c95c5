// `npm test` on a clone whose addon is not built, or was built from older sources: the
// `pretest` script (scripts/ensure-built.mjs) builds first, and when it cannot, `npm test`
// fails saying why. Run here on a stand-in project (the script resolves everything from its
// own location) whose `npm run build` is a small script that writes the binary, or fails.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { makeTempDir, registerCleanup } from "./helpers.mjs";

registerCleanup();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));

function hostKey() {
    const base = `${process.platform}-${process.arch}`;
    if (process.platform === "linux") return `${base}-${process.report.getReport().header.glibcVersionRuntime ? "gnu" : "musl"}`;
    return process.platform === "win32" ? `${base}-msvc` : base;
}

/** A project with the real ensure-built.mjs, a Rust source, and a `build` script doing `build`. */
function project(t, build) {
    const dir = makeTempDir(t, "mwn-pretest-");
    const binaryName = `${PKG.napi.binaryName}.${hostKey()}.node`;
    fs.mkdirSync(path.join(dir, "scripts"));
    fs.mkdirSync(path.join(dir, "src", "binding"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "scripts", "ensure-built.mjs"), path.join(dir, "scripts", "ensure-built.mjs"));
    fs.writeFileSync(path.join(dir, "src", "binding", "mod.rs"), "// source\n");
    fs.writeFileSync(path.join(dir, "Cargo.toml"), "[package]\n");
    fs.writeFileSync(path.join(dir, "build.mjs"), build);
    fs.writeFileSync(
        path.join(dir, "package.json"),
        JSON.stringify({ name: "stand-in", private: true, napi: { binaryName: PKG.napi.binaryName }, scripts: { build: `node build.mjs ${binaryName}` } }),
    );
    return { dir, binary: path.join(dir, binaryName) };
}

function pretest(dir) {
    const r = spawnSync(process.execPath, [path.join(dir, "scripts", "ensure-built.mjs")], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    if (r.error) throw r.error;
    return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** Sets a file's mtime `seconds` from now. */
function touch(file, seconds) {
    const t = new Date(Date.now() + seconds * 1000);
    fs.utimesSync(file, t, t);
}

it("package.json runs it before the tests", () => {
    assert.equal(PKG.scripts.pretest, "node scripts/ensure-built.mjs");
});

it("builds when the binary is missing or older than a source, and not when it is up to date", t => {
    // The stand-in build records each run and writes the binary (npm runs it in the project directory).
    const { dir, binary } = project(t, `import fs from "node:fs"; fs.appendFileSync("log", "built\\n"); fs.writeFileSync(process.argv[2], "binary");`);
    const builds = () => (fs.existsSync(path.join(dir, "log")) ? fs.readFileSync(path.join(dir, "log"), "utf8").split("\n").filter(Boolean).length : 0);

    const missing = pretest(dir);
    assert.equal(missing.code, 0, missing.stderr);
    assert.match(missing.stderr, new RegExp(`^pretest: ${path.basename(binary).replaceAll(".", "\\.")} is not built: running npm run build\\n`));
    assert.equal(builds(), 1);
    assert.ok(fs.existsSync(binary));

    touch(binary, 10);
    const fresh = pretest(dir);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.stderr, "");
    assert.equal(builds(), 1, "no build when up to date");

    touch(path.join(dir, "src", "binding", "mod.rs"), 20);
    const stale = pretest(dir);
    assert.equal(stale.code, 0, stale.stderr);
    assert.match(stale.stderr, new RegExp(`^pretest: ${path.join("src", "binding", "mod.rs").replaceAll("\\", "\\\\").replaceAll(".", "\\.")} is newer than `));
    assert.equal(builds(), 2);

    touch(binary, 30);
    touch(path.join(dir, "Cargo.toml"), 40);
    assert.match(pretest(dir).stderr, /^pretest: Cargo\.toml is newer than /);
    assert.equal(builds(), 3);
});

it("fails, saying why, when the build fails", t => {
    const { dir, binary } = project(t, `console.error("error: linker cc not found"); process.exit(101);`);
    const r = pretest(dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: linker cc not found/);
    assert.match(r.stderr, /pretest: npm run build failed \(exit code 101\); the tests need the addon built from these sources \(a Rust toolchain: https:\/\/rustup\.rs\)\.\n$/);
    assert.equal(fs.existsSync(binary), false);
});
