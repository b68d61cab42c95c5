#!/usr/bin/env node
// `pretest`: makes sure the tests run against an addon built from these sources. When this
// platform's .node file is missing, or older than a Rust source or Cargo.toml/Cargo.lock/
// build.rs, it runs `npm run build` (release build); when that fails, or there is no cargo
// to run it, `npm test` fails here, saying why, instead of testing an old binary or skipping
// the native suites.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));

function platformKey() {
    const base = `${process.platform}-${process.arch}`;
    if (process.platform === "linux") return `${base}-${process.report?.getReport?.()?.header?.glibcVersionRuntime ? "gnu" : "musl"}`;
    if (process.platform === "win32") return `${base}-msvc`;
    return base;
}

/** The newest build input: every file under src/, plus Cargo.toml, Cargo.lock and build.rs. */
function newestInput() {
    let newest = { file: undefined, mtime: 0 };
    const visit = file => {
        const stat = fs.statSync(file, { throwIfNoEntry: false });
        if (stat === undefined) return;
        if (stat.isDirectory()) {
            for (const name of fs.readdirSync(file)) visit(path.join(file, name));
        } else if (stat.mtimeMs > newest.mtime) {
            newest = { file, mtime: stat.mtimeMs };
        }
    };
    for (const input of ["src", "Cargo.toml", "Cargo.lock", "build.rs"]) visit(path.join(ROOT, input));
    return newest;
}

/**
 * How to run npm with `args`: through the npm CLI that runs this script when there is one
 * (npm_execpath, set by `npm run`), so no shell is involved; else the `npm` on PATH (a .cmd
 * on Windows, which only a shell runs).
 */
function npmSpawn(args) {
    const cli = process.env.npm_execpath;
    if (cli && /npm-cli\.[cm]?js$/.test(cli)) return [process.execPath, [cli, ...args], {}];
    return ["npm", args, { shell: process.platform === "win32" }];
}

const binary = path.join(ROOT, `${PKG.napi.binaryName}.${platformKey()}.node`);
const built = fs.statSync(binary, { throwIfNoEntry: false });
const input = newestInput();
let reason;
if (built === undefined) reason = `${path.basename(binary)} is not built`;
else if (input.mtime > built.mtimeMs) reason = `${path.relative(ROOT, input.file)} is newer than ${path.basename(binary)}`;

if (reason !== undefined) {
    process.stderr.write(`pretest: ${reason}: running npm run build\n`);
    const [command, args, options] = npmSpawn(["run", "build"]);
    const r = spawnSync(command, args, { cwd: ROOT, stdio: "inherit", ...options });
    if (r.error || r.status !== 0) {
        process.stderr.write(
            `pretest: npm run build failed (${r.error?.message ?? `exit code ${r.status}`}); the tests need the addon built ` +
                "from these sources (a Rust toolchain: https://rustup.rs).\n",
        );
        process.exit(1);
    }
}
