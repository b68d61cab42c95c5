// Loads the native addon through the loader `napi build` generates (binding.cjs), which
// picks the binary of this platform: a `.node` file next to it (a local build) or the
// matching optional package `matter-wal-native-<platform>`. When that fails, the error says
// which of these cases it is and what helps in that case:
//
//   ERR_MATTER_WAL_NATIVE_NOT_BUILT            a source checkout whose addon is not built
//   ERR_MATTER_WAL_NATIVE_PACKAGE_MISSING      an installed package whose binary package is not installed
//   ERR_MATTER_WAL_NATIVE_UNSUPPORTED_PLATFORM no binary package is published for this platform
//   ERR_MATTER_WAL_NATIVE_LOAD                 a binary is there but does not load (the cause says why)
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const NAME = "matter-wal-native";
const REPOSITORY = "https://github.com/matter-wal-native/matter-wal-native";

/** Platforms with a published binary package (package.json `napi.targets`). */
const PREBUILT = ["linux-x64-gnu", "linux-arm64-gnu", "linux-x64-musl", "darwin-x64", "darwin-arm64", "win32-x64-msvc"];

function libc() {
    try {
        const header = process.report?.getReport?.()?.header;
        if (header?.glibcVersionRuntime) return "gnu";
        return "musl";
    } catch {
        return "gnu";
    }
}

/** This process's platform in napi-rs naming, e.g. `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`. */
function platformKey() {
    const base = `${process.platform}-${process.arch}`;
    if (process.platform === "linux") return `${base}-${libc()}`;
    if (process.platform === "win32") return `${base}-msvc`;
    return base;
}

/** The directory of an installed package `name` as seen from here, or undefined. */
function installed(name) {
    try {
        return path.dirname(require.resolve(`${name}/package.json`, { paths: [__dirname] }));
    } catch {
        return undefined;
    }
}

function causeText(cause) {
    return String(cause?.message ?? cause).split("\n")[0];
}

/** The error for a failed load: [code, message]. */
function diagnose(cause) {
    const key = platformKey();
    const pkg = `${NAME}-${key}`;
    const localFile = `${NAME}.${key}.node`;
    const fromSource =
        `build it from a clone of ${REPOSITORY} with a Rust toolchain ` +
        "(npm ci && npm run build && npm run pack:local) and install the two tarballs pack:local writes " +
        "(npm install <root .tgz> <platform .tgz>)";

    // A source checkout (what npm publishes holds no Cargo.toml): the binary is a local build.
    if (fs.existsSync(path.join(__dirname, "Cargo.toml"))) {
        if (fs.existsSync(path.join(__dirname, localFile))) {
            return [
                "ERR_MATTER_WAL_NATIVE_LOAD",
                `${NAME}: the local build ${localFile} could not be loaded (${causeText(cause)}). Rebuild it: npm run build.`,
            ];
        }
        return [
            "ERR_MATTER_WAL_NATIVE_NOT_BUILT",
            `${NAME}: the native addon is not built in this checkout (${__dirname} has no ${localFile}). ` +
                "Build it with a Rust toolchain: npm run build.",
        ];
    }

    // An installed package: the binary comes from the platform's package.
    const pkgDir = installed(pkg);
    if (pkgDir !== undefined) {
        return [
            "ERR_MATTER_WAL_NATIVE_LOAD",
            `${NAME}: the binary package ${pkg} is installed (${pkgDir}) but could not be loaded (${causeText(cause)}). ` +
                "Reinstall it on the machine it runs on (npm install).",
        ];
    }
    if (!PREBUILT.includes(key)) {
        return [
            "ERR_MATTER_WAL_NATIVE_UNSUPPORTED_PLATFORM",
            `${NAME}: no binary package is published for this platform (${key}); they exist for ${PREBUILT.join(", ")}. ` +
                `To use it here, ${fromSource}.`,
        ];
    }
    let listed = false;
    try {
        listed = require("./package.json").optionalDependencies?.[pkg] !== undefined;
    } catch {
        // no manifest: treat as not listed
    }
    if (!listed) {
        return [
            "ERR_MATTER_WAL_NATIVE_PACKAGE_MISSING",
            `${NAME}: this copy of the package lists no binary package for ${key} (it was packed from a source checkout, ` +
                `not published). Install ${pkg} with it: npm run pack:local in the checkout writes both tarballs ` +
                "(npm install <root .tgz> <platform .tgz>).",
        ];
    }
    return [
        "ERR_MATTER_WAL_NATIVE_PACKAGE_MISSING",
        `${NAME}: the binary for ${key} comes from the optional dependency ${pkg}, which is not installed. ` +
            "npm leaves it out when optional dependencies are omitted (--omit=optional, --no-optional) or when " +
            "node_modules or package-lock.json were made on another os/cpu/libc; install again on this machine with " +
            `optional dependencies (npm install ${pkg}@${require("./package.json").version}, or remove node_modules and ` +
            "package-lock.json and run npm install). A local pack (npm run pack:local) needs its platform tarball installed too.",
    ];
}

function load() {
    try {
        return require("./binding.cjs");
    } catch (cause) {
        const [code, message] = diagnose(cause);
        const error = new Error(message, { cause });
        error.code = code;
        throw error;
    }
}

module.exports = load();
