// matter.js apps of every module kind, using the package as a user installs it: the tarballs of
// `npm run pack:local` installed offline into a fresh project next to matter.js. A CommonJS app
// (require), an ES module app (import), and TypeScript apps compiled with `strict` under
// `module: nodenext` (an .mts and a .cts file), `module: commonjs` and `moduleResolution:
// bundler`. Each writes the two lines matter.js apps write with no cast —
//   const driver: StorageDriver = new WalStorageDriver(…);
//   storageService.registerDriver(WalStorageDriver);
// — and the apps that run check, with the matter.js build their own module kind loads: the
// driver is `instanceof StorageDriver`, its errors `instanceof StorageError`,
// `registerWalDriver()` with no target registers in that build's `Environment.default`, and our
// log lines reach that build's `Logger`.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");

function run(cmd, args, options) {
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 180_000, ...options });
    assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    return r;
}

/**
 * The body every app runs, in TypeScript syntax (plain JS apps strip the annotations).
 * `general` is the matter.js build the app's module kind loads.
 */
const BODY = `
const dir: string = process.argv[2]!;
const malformed: string = process.argv[3]!;

// The two lines a matter.js app writes, with no cast.
const driver: StorageDriver = new WalStorageDriver(dir, { fsync: false });
const storageService = Environment.default.get(StorageService);
storageService.registerDriver(WalStorageDriver);

const checks: Record<string, unknown> = {};
checks.isStorageDriver = driver instanceof StorageDriver;
await driver.initialize();
await driver.set(["a"], "k", 1n);
checks.value = String(await driver.get(["a"], "k"));
const tx = await driver.begin();
checks.isTransaction = tx instanceof StorageDriver.Transaction;
tx[Symbol.dispose]();
try {
    await driver.get([1 as unknown as string], "k");
} catch (error) {
    checks.errorIsStorageError = error instanceof StorageError;
}
await driver.close();

// registerWalDriver() with no target: this build's Environment.default.
registerWalDriver(undefined, { select: true });
checks.selected = Environment.default.get(StorageService).defaultDriver;

// Our log lines reach this build's Logger.
const logged: string[] = [];
Logger.destinations.capture = LogDestination({ name: "capture", level: LogLevel.WARN, add: (m: { values: unknown[] }) => logged.push(m.values.join(" ")) });
const other = new WalStorageDriver(malformed, { fsync: false });
await other.initialize();
for (let i = 0; i < 200 && !logged.some(m => m.includes("Skipping malformed")); i++) await new Promise(r => setTimeout(r, 10));
await other.close();
checks.logged = logged.some(m => m.includes("Skipping malformed"));
process.stdout.write(JSON.stringify(checks));
`;

const EXPECTED = { isStorageDriver: true, value: "1", isTransaction: true, errorIsStorageError: true, selected: "wal", logged: true };

/** The one Node.js global the apps use (no @types/node here). */
const PROCESS = "declare const process: { argv: string[]; stdout: { write(text: string): void } };\n";

const ESM_IMPORTS = `import { Environment, LogDestination, LogLevel, Logger, StorageDriver, StorageError, StorageService } from "@matter/general";
import { WalStorageDriver, registerWalDriver } from "${PKG.name}";
`;
const CJS_IMPORTS = `import { Environment, LogDestination, LogLevel, Logger, StorageDriver, StorageError, StorageService } from "@matter/general";
import { WalStorageDriver, registerWalDriver } from "${PKG.name}";
`;

/** TypeScript → the plain JavaScript apps (annotations and casts removed). */
function plain(ts) {
    return ts
        .replace(/: Record<string, unknown>/g, "")
        .replace(/: StorageDriver/g, "")
        .replace(/: string\[\]/g, "")
        .replace(/: string/g, "")
        .replace(/ as unknown as string/g, "")
        .replace(/\(m: \{ values: unknown\[\] \}\)/g, "m")
        .replace(/process\.argv\[(\d)\]!/g, "process.argv[$1]");
}

/** A TypeScript app: its source files and compiler options. */
const TS_APPS = {
    "nodenext-esm": {
        files: { "app.mts": ESM_IMPORTS + PROCESS + BODY },
        compilerOptions: { module: "nodenext", moduleResolution: "nodenext" },
        run: "app.mjs",
    },
    "nodenext-cjs": {
        // In a .cts file an import compiles to require(): CommonJS, with top-level code in a function.
        files: { "app.cts": `${CJS_IMPORTS}${PROCESS}\nasync function main(): Promise<void> {\n${BODY}\n}\nvoid main();\n` },
        compilerOptions: { module: "nodenext", moduleResolution: "nodenext" },
        run: "app.cjs",
    },
    commonjs: {
        files: { "app.ts": `${CJS_IMPORTS}${PROCESS}\nasync function main(): Promise<void> {\n${BODY}\n}\nvoid main();\n` },
        // matter.js's own typings need package "imports", which node10 resolution (the only one
        // module: commonjs allows) cannot follow: such apps compile with skipLibCheck.
        compilerOptions: { module: "commonjs", moduleResolution: "node10", ignoreDeprecations: "6.0", esModuleInterop: true, skipLibCheck: true },
        packageType: "commonjs",
        run: "app.js",
    },
    bundler: {
        // Type-checked only: a bundler would take it from here.
        files: { "app.ts": ESM_IMPORTS + PROCESS + BODY },
        compilerOptions: { module: "esnext", moduleResolution: "bundler", noEmit: true },
        packageType: "module",
    },
};

function installApp(work, tarballs, name, type) {
    const app = path.join(work, name);
    fs.mkdirSync(app, { recursive: true });
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name, private: true, ...(type ? { type } : {}) }));
    run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--cache", path.join(work, "npm-cache"), ...tarballs], { cwd: app });
    return app;
}

function runApp(app, file) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mwn-app-"));
    try {
        // A log with a malformed line: opening it makes the core warn.
        const malformed = path.join(dir, "malformed");
        fs.mkdirSync(path.join(malformed, "wal"), { recursive: true });
        fs.writeFileSync(path.join(malformed, "wal", "00000001.jsonl"), '{"ts":1,"ops":[{"op":"zap","key":"a"}]}\n');
        const r = run(process.execPath, [path.join(app, file), path.join(dir, "store"), malformed], { cwd: app });
        return JSON.parse(r.stdout);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

it("CommonJS, ES module and TypeScript matter.js apps use the installed package with matter.js's own types and classes", { timeout: 600_000 }, t => {
    assert.ok(fs.existsSync(TSC), "typescript is a devDependency: run npm ci");
    // Under the repository, so that the apps find matter.js and typescript in its node_modules
    // (an offline install could not fetch them) while the package comes from the tarballs.
    const base = path.join(ROOT, "target", "module-apps");
    fs.mkdirSync(base, { recursive: true });
    const work = fs.mkdtempSync(path.join(base, "run-"));
    t.after(() => fs.rmSync(work, { recursive: true, force: true }));
    const packed = run("npm", ["run", "--silent", "pack:local", "--", "--out", path.join(work, "tarballs")], { cwd: ROOT });
    const tarballs = packed.stdout.trim().split("\n");
    assert.equal(tarballs.length, 2, packed.stdout);

    // Plain JavaScript: require() and import.
    const js = installApp(work, tarballs, "js");
    fs.writeFileSync(
        path.join(js, "app.cjs"),
        `const { Environment, LogDestination, LogLevel, Logger, StorageDriver, StorageError, StorageService } = require("@matter/general");
const { WalStorageDriver, registerWalDriver } = require("${PKG.name}");
(async () => {${plain(BODY)}})();`,
    );
    fs.writeFileSync(path.join(js, "app.mjs"), plain(ESM_IMPORTS + BODY));
    assert.deepEqual(runApp(js, "app.cjs"), EXPECTED, "CommonJS app");
    assert.deepEqual(runApp(js, "app.mjs"), EXPECTED, "ES module app");

    // TypeScript, strict, under each module setting.
    for (const [name, spec] of Object.entries(TS_APPS)) {
        const app = installApp(work, tarballs, `ts-${name}`, spec.packageType);
        for (const [file, text] of Object.entries(spec.files)) fs.writeFileSync(path.join(app, file), text);
        fs.writeFileSync(
            path.join(app, "tsconfig.json"),
            JSON.stringify({
                compilerOptions: {
                    strict: true,
                    target: "es2022",
                    lib: ["es2022", "esnext.disposable", "dom"],
                    types: [],
                    skipLibCheck: false,
                    outDir: ".",
                    ...spec.compilerOptions,
                },
                files: Object.keys(spec.files),
            }),
        );
        const compiled = spawnSync(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: app, encoding: "utf8", timeout: 180_000 });
        assert.equal(compiled.status, 0, `tsc (${name}) failed:\n${compiled.stdout}${compiled.stderr}`);
        if (spec.run) assert.deepEqual(runApp(app, spec.run), EXPECTED, `TypeScript (${name})`);
    }
});
