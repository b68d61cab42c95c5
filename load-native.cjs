// Loads the native addon through the loader `napi build` generates (binding.cjs), which
// picks the prebuilt binary of this platform: a `.node` file next to it (local builds) or
// the matching optional package `matter-wal-native-<platform>`. When that fails, the error
// says which platform this is, whether a prebuilt binary exists for it, and what to do.
"use strict";

/** Platforms with a prebuilt binary package (package.json `napi.targets`). */
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

function load() {
    try {
        return require("./binding.cjs");
    } catch (cause) {
        const key = platformKey();
        const pkg = `matter-wal-native-${key}`;
        const message = PREBUILT.includes(key)
            ? `matter-wal-native: the prebuilt binary for ${key} could not be loaded. It comes from the optional ` +
              `dependency ${pkg}: reinstall without --omit=optional / --no-optional (and with the same ` +
              `os/cpu/libc as where it runs), or build from source with a Rust toolchain (npm run build). ` +
              `Cause: ${cause?.message ?? cause}`
            : `matter-wal-native: no prebuilt binary for this platform (${key}). Prebuilt binaries exist for ` +
              `${PREBUILT.join(", ")}. On other platforms build from source with a Rust toolchain ` +
              `(npm run build in the package directory).`;
        const error = new Error(message, { cause });
        error.code = PREBUILT.includes(key) ? "ERR_MATTER_WAL_NATIVE_LOAD" : "ERR_MATTER_WAL_NATIVE_UNSUPPORTED_PLATFORM";
        throw error;
    }
}

module.exports = load();
