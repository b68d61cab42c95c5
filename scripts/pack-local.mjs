#!/usr/bin/env node
// npm run pack:local [-- --out DIR]
//
// Packs a local build for installing into another project, the way a release ships it:
// the binary package of this platform (npm/<platform>/ plus the built .node, as `napi
// artifacts` assembles it) and the root package with that binary package as its only
// optional dependency (as `napi pre-publish` writes them at release time). Then, in the
// other project:  npm install <root .tgz> <platform .tgz>
//
// Needs the addon built (npm run build). Writes into dist/local/ unless --out says otherwise,
// and prints the two tarball paths (stdout) and the install command (stderr).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));

function fail(message) {
    process.stderr.write(`pack:local: ${message}\n`);
    process.exit(1);
}

function libc() {
    return process.report?.getReport?.()?.header?.glibcVersionRuntime ? "gnu" : "musl";
}

/** This machine's platform in napi-rs naming (as binding.cjs resolves it). */
function platformKey() {
    const base = `${process.platform}-${process.arch}`;
    if (process.platform === "linux") return `${base}-${libc()}`;
    if (process.platform === "win32") return `${base}-msvc`;
    return base;
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

function npm(args, cwd) {
    const [command, commandArgs, options] = npmSpawn(args);
    const r = spawnSync(command, commandArgs, { cwd, encoding: "utf8", ...options });
    if (r.error) fail(`npm ${args.join(" ")}: ${r.error.message}`);
    if (r.status !== 0) fail(`npm ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
    return r.stdout;
}

function pack(dir, dest) {
    const [info] = JSON.parse(npm(["pack", "--json", "--pack-destination", dest], dir));
    return path.join(dest, info.filename);
}

let out = path.join(ROOT, "dist", "local");
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
    if (args[i] === "--out") out = path.resolve(args[++i] ?? fail("--out needs a directory"));
    else if (args[i].startsWith("--out=")) out = path.resolve(args[i].slice("--out=".length));
    else fail(`unknown argument ${args[i]} (usage: npm run pack:local [-- --out DIR])`);
}

const key = platformKey();
const binaryName = `${PKG.napi.binaryName}.${key}.node`;
const binary = path.join(ROOT, binaryName);
if (!fs.existsSync(binary)) fail(`${binaryName} is not built: run npm run build first (needs a Rust toolchain)`);
const platformPkg = `${PKG.name}-${key}`;

fs.mkdirSync(out, { recursive: true });
const stage = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-pack-local-"));
try {
    // The binary package. Platforms without a directory in npm/ (no published binary) get
    // the manifest napi-rs would generate for them.
    const platformDir = path.join(stage, "platform");
    fs.mkdirSync(platformDir);
    const template = path.join(ROOT, "npm", key);
    if (fs.existsSync(template)) {
        fs.cpSync(template, platformDir, { recursive: true });
    } else {
        const [os_, cpu, abi] = key.split("-");
        const manifest = {
            name: platformPkg,
            version: PKG.version,
            os: [os_],
            cpu: [cpu],
            ...(os_ === "linux" ? { libc: [abi === "musl" ? "musl" : "glibc"] } : {}),
            main: binaryName,
            files: [binaryName],
            description: PKG.description,
            license: PKG.license,
            repository: PKG.repository,
            engines: PKG.engines,
        };
        fs.writeFileSync(path.join(platformDir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    }
    fs.copyFileSync(binary, path.join(platformDir, binaryName));
    const platformTarball = pack(platformDir, out);

    // The root package: the files `npm pack` takes from the checkout, with this platform's
    // binary package as optional dependency.
    const [dry] = JSON.parse(npm(["pack", "--dry-run", "--json"], ROOT));
    const rootDir = path.join(stage, "root");
    for (const { path: file } of dry.files) {
        fs.mkdirSync(path.dirname(path.join(rootDir, file)), { recursive: true });
        fs.copyFileSync(path.join(ROOT, file), path.join(rootDir, file));
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(rootDir, "package.json"), "utf8"));
    manifest.optionalDependencies = { [platformPkg]: PKG.version };
    fs.writeFileSync(path.join(rootDir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    const rootTarball = pack(rootDir, out);

    process.stdout.write(`${rootTarball}\n${platformTarball}\n`);
    process.stderr.write(`pack:local: install both into a project with\n  npm install ${rootTarball} ${platformTarball}\n`);
} finally {
    fs.rmSync(stage, { recursive: true, force: true });
}
