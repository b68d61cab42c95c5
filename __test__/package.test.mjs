// Packaging: the package as it would be published. The root package and the linux-x64-gnu
// binary package (npm/linux-x64-gnu plus the built .node) are packed with `npm pack`, the
// root one with the optionalDependencies `napi pre-publish` adds at release time; both
// tarballs are installed into a fresh project with no Rust toolchain on PATH, and a script
// and the `matter-wal` command run against the installed copy. The same for the tarballs
// `npm run pack:local` writes. Also: what the loader says in each way loading can fail (a
// checkout not built, a binary package missing or not published for the platform, a binary
// that does not load).

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
    // npm is a .cmd on Windows, which spawn only runs through a shell.
    const r = spawnSync(command, args, { encoding: "utf8", timeout: 60_000, shell: process.platform === "win32" && command === "npm", ...options });
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
        // npm's provenance check wants every published package to name the repository it is built from.
        assert.deepEqual([manifest.repository, manifest.homepage, manifest.bugs], [PKG.repository, PKG.homepage, PKG.bugs]);
        assert.equal(manifest.license, PKG.license);
    }
});

it("the package names its repository, license, changelog, Rust version and package.json export consistently", () => {
    const repo = "https://github.com/matter-wal-native/matter-wal-native";
    assert.deepEqual(PKG.repository, { type: "git", url: `git+${repo}.git` });
    assert.equal(PKG.homepage, `${repo}#readme`);
    assert.deepEqual(PKG.bugs, { url: `${repo}/issues` });
    assert.equal(PKG.license, "Apache-2.0");
    const license = fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8");
    assert.match(license, /^\s*Apache License\s+Version 2\.0, January 2004/);
    assert.match(license, /END OF TERMS AND CONDITIONS/);
    assert.match(fs.readFileSync(path.join(ROOT, "CHANGELOG.md"), "utf8"), new RegExp(`^## \\[${PKG.version.replaceAll(".", "\\.")}\\]`, "m"));
    assert.equal(PKG.exports["./package.json"], "./package.json");
    const cargo = fs.readFileSync(path.join(ROOT, "Cargo.toml"), "utf8");
    const rustVersion = /^rust-version = "([\d.]+)"$/m.exec(cargo)?.[1];
    assert.ok(rustVersion, "Cargo.toml has a rust-version");
    assert.match(cargo, new RegExp(`^repository = "${repo}"$`, "m"));
    assert.match(cargo, /^license = "Apache-2\.0"$/m);
    assert.ok(fs.readFileSync(path.join(ROOT, "README.md"), "utf8").includes(`Rust ${rustVersion}`), `README names Rust ${rustVersion}`);
    assert.ok(fs.readFileSync(path.join(ROOT, "load-native.cjs"), "utf8").includes(`"${repo}"`), "the loader points to the same repository");
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
        assert.deepEqual(rootPack.files, [
            "CHANGELOG.md",
            "LICENSE",
            "README.md",
            "bin/matter-wal.js",
            "binding.cjs",
            "binding.d.ts",
            "index.cjs",
            "index.d.cts",
            "index.d.ts",
            "index.js",
            "lib/api.cjs",
            "lib/values.cjs",
            "load-native.cjs",
            "package.json",
        ]);

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

        // Without the binary package (as with --omit=optional) the loader names the missing
        // package and how to get it.
        fs.rmSync(path.join(app, "node_modules"), { recursive: true });
        fs.rmSync(path.join(app, "package-lock.json"));
        fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
        npmInstall(["--omit=optional", rootPack.tarball]);
        assert.equal(fs.existsSync(path.join(installed, `${PKG.name}-${HERE}`)), false, "--omit=optional left the binary package out");
        const r = spawnSync(process.execPath, ["smoke.mjs", data], { cwd: app, env, encoding: "utf8" });
        assert.notEqual(r.status, 0);
        assert.match(
            r.stderr,
            new RegExp(
                `${PKG.name}: the binary for ${HERE} comes from the optional dependency ${PKG.name}-${HERE}, which is not installed\\. ` +
                    "npm leaves it out when optional dependencies are omitted \\(--omit=optional, --no-optional\\)",
            ),
        );
        assert.match(r.stderr, /code: 'ERR_MATTER_WAL_NATIVE_PACKAGE_MISSING'/);
    },
);

it(
    "npm run pack:local writes the root and platform tarballs of a local build; both install offline into another project and work",
    { skip: canPack ? false : "packs the linux-x64-gnu binary: needs linux x64 with glibc", timeout: 120_000 },
    t => {
        assert.ok(fs.existsSync(BINARY), `${BINARY} is missing: run \`npm run build\` first (this test packs the built binary)`);
        const env = rustFreeEnv();
        const work = makeTempDir(t, "mwn-pack-local-");
        const out = path.join(work, "tarballs");
        const r = spawnSync("npm", ["run", "--silent", "pack:local", "--", "--out", out], { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 });
        assert.equal(r.status, 0, r.stderr);
        const [rootTarball, platformTarball] = r.stdout.trim().split("\n");
        assert.deepEqual([rootTarball, platformTarball], [path.join(out, `${PKG.name}-${PKG.version}.tgz`), path.join(out, `${PKG.name}-${HERE}-${PKG.version}.tgz`)]);
        assert.match(r.stderr, new RegExp(`install both into a project with\\n {2}npm install ${rootTarball} ${platformTarball}\\n`));
        assert.deepEqual(fs.readdirSync(out).sort(), [path.basename(rootTarball), path.basename(platformTarball)].sort());

        const app = path.join(work, "app");
        fs.mkdirSync(app);
        fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
        const install = tarballs => run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--cache", path.join(work, "npm-cache"), ...tarballs], { cwd: app, env });
        install([rootTarball, platformTarball]);
        const manifest = JSON.parse(fs.readFileSync(path.join(app, "node_modules", PKG.name, "package.json"), "utf8"));
        assert.deepEqual(manifest.optionalDependencies, { [`${PKG.name}-${HERE}`]: PKG.version }, "only this platform's binary package");
        const data = path.join(work, "data");
        fs.writeFileSync(
            path.join(app, "smoke.mjs"),
            `import { WalStorageDriver } from "${PKG.name}";
            const driver = new WalStorageDriver(process.argv[2]);
            await driver.initialize();
            await driver.set(["node0"], "label", "Kitchen");
            await driver.close();
            const again = new WalStorageDriver(process.argv[2]);
            await again.initialize();
            process.stdout.write(String(await again.get(["node0"], "label")));
            await again.close();`,
        );
        assert.equal(run(process.execPath, ["smoke.mjs", data], { cwd: app, env }), "Kitchen");
        const bin = path.join(app, "node_modules", ".bin", "matter-wal");
        assert.match(run(bin, ["dump", data], { cwd: app, env }), /\[node0\]\n {2}label = "Kitchen"/);

        // The root tarball alone: the loader says to install the platform tarball with it.
        fs.rmSync(path.join(app, "node_modules"), { recursive: true });
        fs.rmSync(path.join(app, "package-lock.json"));
        fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
        install(["--omit=optional", rootTarball]);
        const alone = spawnSync(process.execPath, ["smoke.mjs", data], { cwd: app, env, encoding: "utf8" });
        assert.notEqual(alone.status, 0);
        assert.match(alone.stderr, /A local pack \(npm run pack:local\) needs its platform tarball installed too\./);
    },
);

/** Runs node `args` in a child that believes it runs on `platform`/`arch` (the real ones when undefined). */
function onPlatform(platform, arch, args, options = {}) {
    const spoof =
        platform === undefined
            ? ""
            : `Object.defineProperty(process, "platform", { value: ${JSON.stringify(platform)} }); Object.defineProperty(process, "arch", { value: ${JSON.stringify(arch)} });`;
    const preload = spoof ? ["--import", `data:text/javascript,${encodeURIComponent(spoof)}`] : [];
    return spawnSync(process.execPath, [...preload, ...args], { encoding: "utf8", timeout: 60_000, ...options });
}

/** Loads `load-native.cjs` from `dir` in a child; returns { code, message } of the error, or "loaded". */
function loadFrom(dir, platform, arch) {
    const script = `try { require(${JSON.stringify(path.join(dir, "load-native.cjs"))}); console.log('"loaded"'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const r = onPlatform(platform, arch, ["-e", script]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
}

/** This machine's platform in napi-rs naming. */
function hostKey() {
    const base = `${process.platform}-${process.arch}`;
    if (process.platform === "linux") return `${base}-${isGlibc() ? "gnu" : "musl"}`;
    return process.platform === "win32" ? `${base}-msvc` : base;
}

/**
 * A package as npm installs it (what `npm pack` takes: no Cargo.toml, no .node) in
 * `<project>/node_modules/matter-wal-native`, with `optionalDependencies` as given.
 */
function installedCopy(t, optionalDependencies) {
    const project = makeTempDir(t, "mwn-installed-");
    const dir = path.join(project, "node_modules", PKG.name);
    fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
    fs.mkdirSync(path.join(dir, "lib"), { recursive: true });
    for (const file of [...ENTRY_FILES, "index.d.ts", "index.d.cts", "binding.d.ts", "bin/matter-wal.js"]) {
        fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
    }
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ ...PKG, optionalDependencies }, null, 2));
    return { project, dir };
}

/** The JavaScript a copy of the package needs to load: both entries, their modules, the loader. */
const ENTRY_FILES = ["index.js", "index.cjs", "lib/api.cjs", "lib/values.cjs", "binding.cjs", "load-native.cjs"];

const FROM_SOURCE =
    "build it from a clone of https://github.com/matter-wal-native/matter-wal-native with a Rust toolchain " +
    "(npm ci && npm run build && npm run pack:local) and install the two tarballs pack:local writes (npm install <root .tgz> <platform .tgz>).";

it("the load error says what is true: platform not published, binary package missing or unlisted, binary broken", t => {
    // Not published for this platform (an installed copy on aix): the way out is a build from source.
    const published = Object.fromEntries(PLATFORMS.map(p => [`${PKG.name}-${p}`, PKG.version]));
    const { dir } = installedCopy(t, published);
    assert.deepEqual(loadFrom(dir, "aix", "ppc64"), {
        code: "ERR_MATTER_WAL_NATIVE_UNSUPPORTED_PLATFORM",
        message:
            `${PKG.name}: no binary package is published for this platform (aix-ppc64); they exist for ${PLATFORMS.join(", ")}. ` +
            `To use it here, ${FROM_SOURCE}`,
    });
    // The command says the same, and its help works without the binary.
    const cli = path.join(dir, "bin", "matter-wal.js");
    assert.equal(onPlatform("aix", "ppc64", [cli, "--help"]).status, 0);
    const inspect = onPlatform("aix", "ppc64", [cli, "inspect", dir]);
    assert.equal(inspect.status, 1);
    assert.match(inspect.stderr, /^matter-wal: matter-wal-native: no binary package is published for this platform \(aix-ppc64\)/);

    const key = hostKey();
    if (!PLATFORMS.includes(key)) {
        t.diagnostic(`the missing/broken binary package cases need a platform with a binary package; this is ${key}`);
        return;
    }
    const pkg = `${PKG.name}-${key}`;
    // Listed but not installed (--omit=optional, node_modules from another machine).
    assert.deepEqual(loadFrom(dir), {
        code: "ERR_MATTER_WAL_NATIVE_PACKAGE_MISSING",
        message:
            `${PKG.name}: the binary for ${key} comes from the optional dependency ${pkg}, which is not installed. npm leaves it out ` +
            "when optional dependencies are omitted (--omit=optional, --no-optional) or when node_modules or package-lock.json were " +
            `made on another os/cpu/libc; install again on this machine with optional dependencies (npm install ${pkg}@${PKG.version}, ` +
            "or remove node_modules and package-lock.json and run npm install). A local pack (npm run pack:local) needs its platform " +
            "tarball installed too.",
    });
    // Not listed at all: a copy packed from a checkout with plain `npm pack`.
    const unlisted = installedCopy(t, undefined);
    assert.deepEqual(loadFrom(unlisted.dir), {
        code: "ERR_MATTER_WAL_NATIVE_PACKAGE_MISSING",
        message:
            `${PKG.name}: this copy of the package lists no binary package for ${key} (it was packed from a source checkout, not ` +
            `published). Install ${pkg} with it: npm run pack:local in the checkout writes both tarballs (npm install <root .tgz> <platform .tgz>).`,
    });
    // Installed, but the binary does not load.
    const pkgDir = path.join(path.dirname(dir), pkg);
    fs.mkdirSync(pkgDir);
    const binaryName = `${PKG.napi.binaryName}.${key}.node`;
    fs.writeFileSync(path.join(pkgDir, "package.json"), JSON.stringify({ name: pkg, version: PKG.version, main: binaryName }));
    fs.writeFileSync(path.join(pkgDir, binaryName), "not a shared library");
    const broken = loadFrom(dir);
    assert.equal(broken.code, "ERR_MATTER_WAL_NATIVE_LOAD");
    assert.ok(
        broken.message.startsWith(`${PKG.name}: the binary package ${pkg} is installed (${fs.realpathSync(pkgDir)}) but could not be loaded (`) ||
            broken.message.startsWith(`${PKG.name}: the binary package ${pkg} is installed (${pkgDir}) but could not be loaded (`),
        broken.message,
    );
    assert.ok(broken.message.endsWith("). Reinstall it on the machine it runs on (npm install)."), broken.message);
});

it("in a source checkout, the load error says to build (not built) or rebuild (a build that does not load)", t => {
    const key = hostKey();
    const checkout = makeTempDir(t, "mwn-checkout-");
    fs.mkdirSync(path.join(checkout, "lib"));
    for (const file of [...ENTRY_FILES, "package.json", "Cargo.toml"]) {
        fs.copyFileSync(path.join(ROOT, file), path.join(checkout, file));
    }
    const localFile = `${PKG.napi.binaryName}.${key}.node`;
    assert.deepEqual(loadFrom(checkout), {
        code: "ERR_MATTER_WAL_NATIVE_NOT_BUILT",
        message: `${PKG.name}: the native addon is not built in this checkout (${checkout} has no ${localFile}). Build it with a Rust toolchain: npm run build.`,
    });
    // index.js says the same (it loads the addon first).
    const viaIndex = onPlatform(undefined, undefined, ["--input-type=module", "-e", `import(${JSON.stringify(pathToFileURL(path.join(checkout, "index.js")).href)}).catch(e => { console.log(e.code); })`]);
    assert.equal(viaIndex.stdout.trim(), "ERR_MATTER_WAL_NATIVE_NOT_BUILT", viaIndex.stderr);

    fs.writeFileSync(path.join(checkout, localFile), "not a shared library");
    const broken = loadFrom(checkout);
    assert.equal(broken.code, "ERR_MATTER_WAL_NATIVE_LOAD");
    assert.match(broken.message, new RegExp(`^${PKG.name}: the local build ${localFile.replaceAll(".", "\\.")} could not be loaded \\(.+\\)\\. Rebuild it: npm run build\\.$`));

    // This repository, built, loads.
    assert.equal(loadFrom(ROOT), "loaded");
});
