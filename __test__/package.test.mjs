// Packaging: the package as it would be published. The root package and the linux-x64-gnu
// binary package (npm/linux-x64-gnu plus the built .node) are packed with `npm pack`, the
// root one with the optionalDependencies `napi pre-publish` adds at release time; both
// tarballs are installed into a fresh project with no Rust toolchain on PATH, and a script
// and the `matter-wal` command run against the installed copy. Also: the loader's message on
// a platform without a prebuilt binary.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { makeTempDir, registerCleanup } from "./helpers.mjs";

registerCleanup();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const PLATFORMS = ["linux-x64-gnu", "linux-arm64-gnu", "linux-x64-musl", "darwin-x64", "darwin-arm64", "win32-x64-msvc"];
const HERE = "linux-x64-gnu";
const BINARY = path.join(ROOT, `matter-wal-native.${HERE}.node`);

const isGlibc = () => Boolean(process.report?.getReport?.()?.header?.glibcVersionRuntime);
const canPack = process.platform === "linux" && process.arch === "x64" && isGlibc();

/** The environment with every PATH entry holding cargo or rustc removed, and no npm_* leftovers of `npm test`. */
function rustFreeEnv() {
    const exe = name => (process.platform === "win32" ? `${name}.exe` : name);
    const dirs = (process.env.PATH ?? "")
        .split(path.delimiter)
        .filter(dir => dir && !["cargo", "rustc", "rustup"].some(tool => fs.existsSync(path.join(dir, exe(tool)))));
    const env = {};
    for (const [key, value] of Object.entries(process.env)) {
        if (!/^npm_/i.test(key) && !["CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"].includes(key)) env[key] = value;
    }
    env.PATH = dirs.join(path.delimiter);
    return env;
}

function run(command, args, options) {
    const r = spawnSync(command, args, { encoding: "utf8", timeout: 60_000, ...options });
    if (r.error) throw r.error;
    assert.equal(r.status, 0, `${command} ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

/** `npm pack` of `dir` into `dest`; returns the tarball path and the packed file names. */
function pack(dir, dest, env) {
    const [info] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dest], { cwd: dir, env }));
    return { tarball: path.join(dest, info.filename), files: info.files.map(f => f.path).sort() };
}

it("npm/ holds one package per napi target, named and constrained in the napi-rs convention", () => {
    assert.equal(PKG.napi.targets.length, PLATFORMS.length);
    assert.deepEqual(fs.readdirSync(path.join(ROOT, "npm")).sort(), [...PLATFORMS].sort());
    for (const platform of PLATFORMS) {
        const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "npm", platform, "package.json"), "utf8"));
        const [os, cpu, abi] = platform.split("-");
        assert.equal(manifest.name, `${PKG.name}-${platform}`);
        assert.equal(manifest.version, PKG.version);
        assert.equal(manifest.main, `${PKG.napi.binaryName}.${platform}.node`);
        assert.deepEqual(manifest.files, [manifest.main]);
        assert.deepEqual(manifest.os, [os]);
        assert.deepEqual(manifest.cpu, [cpu]);
        if (os === "linux") assert.deepEqual(manifest.libc, [abi === "musl" ? "musl" : "glibc"]);
    }
});

it(
    "the packed root and linux-x64-gnu packages install without Rust and work: driver, binary package, matter-wal command",
    { skip: canPack ? false : "packs the linux-x64-gnu binary: needs linux x64 with glibc", timeout: 120_000 },
    t => {
        assert.ok(fs.existsSync(BINARY), `${BINARY} is missing: run \`npm run build\` first (this test packs the built binary)`);
        const env = rustFreeEnv();
        for (const tool of ["cargo", "rustc"]) {
            const probe = spawnSync(tool, ["--version"], { env });
            assert.equal(probe.error?.code, "ENOENT", `${tool} must not be on the PATH of the install`);
        }
        const work = makeTempDir(t, "mwn-pack-");

        // The binary package: npm/linux-x64-gnu plus the built .node, as `napi artifacts` assembles it.
        const platformDir = path.join(work, "stage-platform");
        fs.cpSync(path.join(ROOT, "npm", HERE), platformDir, { recursive: true });
        fs.copyFileSync(BINARY, path.join(platformDir, path.basename(BINARY)));
        const platformPack = pack(platformDir, work, env);
        assert.deepEqual(platformPack.files, ["README.md", path.basename(BINARY), "package.json"].sort());

        // The root package: what `npm pack` would publish, with the optionalDependencies that
        // `napi pre-publish` writes into package.json at release time.
        const rootFiles = JSON.parse(run("npm", ["pack", "--dry-run", "--json"], { cwd: ROOT, env }))[0].files.map(f => f.path);
        const rootDir = path.join(work, "stage-root");
        for (const file of rootFiles) {
            fs.mkdirSync(path.dirname(path.join(rootDir, file)), { recursive: true });
            fs.copyFileSync(path.join(ROOT, file), path.join(rootDir, file));
        }
        const manifest = JSON.parse(fs.readFileSync(path.join(rootDir, "package.json"), "utf8"));
        manifest.optionalDependencies = Object.fromEntries(PLATFORMS.map(p => [`${PKG.name}-${p}`, PKG.version]));
        fs.writeFileSync(path.join(rootDir, "package.json"), JSON.stringify(manifest, null, 2));
        const rootPack = pack(rootDir, work, env);
        assert.deepEqual(
            rootPack.files,
            ["README.md", "bin/matter-wal.js", "binding.cjs", "binding.d.ts", "index.d.ts", "index.js", "load-native.cjs", "package.json"],
        );

        // A fresh project, offline with an empty cache: nothing comes from a registry and
        // nothing is compiled. The binary packages of other platforms are skipped.
        const app = path.join(work, "app");
        fs.mkdirSync(app);
        fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
        const npmInstall = tarballs =>
            run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--cache", path.join(work, "npm-cache"), ...tarballs], { cwd: app, env });
        npmInstall([rootPack.tarball, platformPack.tarball]);
        const installed = path.join(app, "node_modules");
        assert.deepEqual(fs.readdirSync(installed).filter(n => !n.startsWith(".")).sort(), [PKG.name, `${PKG.name}-${HERE}`]);
        assert.ok(!fs.readdirSync(path.join(installed, PKG.name)).some(n => n.endsWith(".node")), "the root package ships no binary");
        const lock = JSON.parse(fs.readFileSync(path.join(app, "package-lock.json"), "utf8"));
        assert.deepEqual(lock.packages[`node_modules/${PKG.name}`].optionalDependencies, manifest.optionalDependencies);

        const data = path.join(work, "data");
        fs.writeFileSync(
            path.join(app, "smoke.mjs"),
            `import { createRequire } from "node:module";
            import { WalStorageDriver, StorageLockError } from "${PKG.name}";
            const dir = process.argv[2];
            const driver = new WalStorageDriver(dir, { fsync: true });
            await driver.initialize();
            await driver.set(["node0", "fabric"], { label: "Kitchen", id: 12345678901234567890n, key: new Uint8Array([1, 2, 3]) });
            await driver.set(["node0", "acl"], "entries", new Map([[1, { privilege: 5 }]]));
            let lockError;
            try { await new WalStorageDriver(dir).initialize(); } catch (e) { lockError = e; }
            await driver.close();
            const reopened = new WalStorageDriver(dir);
            await reopened.initialize();
            const fabric = await reopened.values(["node0", "fabric"]);
            const acl = await reopened.get(["node0", "acl"], "entries");
            await reopened.close();
            const binary = createRequire(import.meta.url).resolve("${PKG.name}-${HERE}");
            process.stdout.write(JSON.stringify({
                label: fabric.label, id: String(fabric.id), key: [...fabric.key], privilege: acl.get(1).privilege,
                lockError: lockError instanceof StorageLockError, binary,
            }));`,
        );
        const smoke = JSON.parse(run(process.execPath, ["smoke.mjs", data], { cwd: app, env }));
        assert.deepEqual(smoke, {
            label: "Kitchen",
            id: "12345678901234567890",
            key: [1, 2, 3],
            privilege: 5,
            lockError: true,
            binary: fs.realpathSync(path.join(installed, `${PKG.name}-${HERE}`, path.basename(BINARY))),
        });

        const bin = path.join(installed, ".bin", "matter-wal");
        const report = JSON.parse(run(bin, ["inspect", data, "--json"], { cwd: app, env }));
        assert.equal(report.snapshot.keys, 4);
        assert.equal(report.errors, 0);
        assert.match(run(bin, ["dump", data, "--context", "node0.fabric"], { cwd: app, env }), /label = "Kitchen"/);

        // Without the binary package the loader names the missing package.
        fs.rmSync(path.join(app, "node_modules"), { recursive: true });
        fs.rmSync(path.join(app, "package-lock.json"));
        fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
        npmInstall([rootPack.tarball]);
        const r = spawnSync(process.execPath, ["smoke.mjs", data], { cwd: app, env, encoding: "utf8" });
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, new RegExp(`the prebuilt binary for ${HERE} could not be loaded\\. It comes from the optional dependency ${PKG.name}-${HERE}`));
    },
);

/** Loads index.js (or runs the CLI) in a child that believes it runs on `platform`/`arch`. */
function onPlatform(platform, arch, args) {
    const spoof = `Object.defineProperty(process, "platform", { value: ${JSON.stringify(platform)} }); Object.defineProperty(process, "arch", { value: ${JSON.stringify(arch)} });`;
    return spawnSync(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(spoof)}`, ...args], { encoding: "utf8", timeout: 60_000 });
}

it("on a platform without a prebuilt binary, loading fails with a message naming the platform and the way out", () => {
    const load = `import(${JSON.stringify(pathToFileURL(path.join(ROOT, "index.js")).href)}).then(() => console.log("loaded"), e => { console.log(JSON.stringify({ code: e.code, message: e.message })); })`;
    const unsupported = onPlatform("aix", "ppc64", ["--input-type=module", "-e", load]);
    const error = JSON.parse(unsupported.stdout);
    assert.equal(error.code, "ERR_MATTER_WAL_NATIVE_UNSUPPORTED_PLATFORM");
    assert.equal(
        error.message,
        `matter-wal-native: no prebuilt binary for this platform (aix-ppc64). Prebuilt binaries exist for ${PLATFORMS.join(", ")}. ` +
            "On other platforms build from source with a Rust toolchain (npm run build in the package directory).",
    );

    // A supported platform whose binary package is not installed (here: linux arm64).
    if (process.platform === "linux") {
        const missing = JSON.parse(onPlatform("linux", "arm64", ["--input-type=module", "-e", load]).stdout);
        assert.equal(missing.code, "ERR_MATTER_WAL_NATIVE_LOAD");
        assert.match(missing.message, /the prebuilt binary for linux-arm64-(gnu|musl) could not be loaded\. It comes from the optional dependency matter-wal-native-linux-arm64-/);
    }

    // The command says the same, and its help works without the binary.
    const cli = path.join(ROOT, "bin", "matter-wal.js");
    const help = onPlatform("aix", "ppc64", [cli, "--help"]);
    assert.equal(help.status, 0);
    const inspect = onPlatform("aix", "ppc64", [cli, "inspect", ROOT]);
    assert.equal(inspect.status, 1);
    assert.match(inspect.stderr, /^matter-wal: matter-wal-native: no prebuilt binary for this platform \(aix-ppc64\)/);
});
