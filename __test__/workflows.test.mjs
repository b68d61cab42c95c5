// The release pipeline (.github/workflows/) cannot run here, so it is checked: actionlint
// (types of expressions, job dependencies, action inputs and runtimes, runner labels) with
// shellcheck on every `run:` script, and this project's own rules on the parsed workflow:
// the lint job, a build for each package.json napi target, tests on Linux, macOS and Windows
// with Node.js 20, 22 and 24, and a publish job with npm provenance after all of them.
//
// actionlint comes from .ci/install-actionlint.sh (.tools/actionlint/). Without it the
// actionlint tests fail under CI and otherwise are skipped, saying how to install it.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { makeTempDir, registerCleanup } from "./helpers.mjs";

registerCleanup();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const WORKFLOWS = path.join(ROOT, ".github", "workflows");
const CI = ["1", "true"].includes(String(process.env.CI).toLowerCase());
const exe = name => (process.platform === "win32" ? `${name}.exe` : name);

/** actionlint and shellcheck: $ACTIONLINT, else .tools/actionlint/ (the install script's), else PATH. */
function findTool(name, envVar) {
    if (process.env[envVar]) return process.env[envVar];
    const local = path.join(ROOT, ".tools", "actionlint", process.platform === "win32" ? "Scripts" : "bin", exe(name));
    if (fs.existsSync(local)) return local;
    const probe = spawnSync(name, [name === "actionlint" ? "-version" : "--version"], { encoding: "utf8" });
    return probe.status === 0 ? name : undefined;
}

const ACTIONLINT = findTool("actionlint", "ACTIONLINT");
const SHELLCHECK = findTool("shellcheck", "SHELLCHECK");
const MISSING = "actionlint is not installed: run .ci/install-actionlint.sh (it installs actionlint and shellcheck into .tools/actionlint/)";

/** Runs actionlint on `files`; returns its exit code and output. */
function actionlint(files, cwd = ROOT) {
    if (ACTIONLINT === undefined) assert.fail(MISSING); // under CI
    const args = ["-no-color", ...(SHELLCHECK ? ["-shellcheck", SHELLCHECK] : []), ...files];
    const r = spawnSync(ACTIONLINT, args, { cwd, encoding: "utf8", timeout: 60_000 });
    if (r.error) throw r.error;
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

const needsActionlint = { skip: ACTIONLINT === undefined && !CI ? MISSING : false };

const workflowFiles = () =>
    fs
        .readdirSync(WORKFLOWS)
        .filter(name => /\.ya?ml$/.test(name))
        .map(name => path.join(".github", "workflows", name));

it("actionlint (with shellcheck on the run: scripts) finds nothing in .github/workflows", needsActionlint, () => {
    const files = workflowFiles();
    assert.ok(files.length > 0, "there are workflows");
    if (CI) assert.ok(SHELLCHECK, "shellcheck is installed with actionlint (.ci/install-actionlint.sh)");
    const r = actionlint(files);
    assert.equal(r.code, 0, r.output);
});

it("actionlint does catch mistakes: an undefined job, a bad expression, a shell error", needsActionlint, t => {
    const dir = makeTempDir(t, "mwn-actionlint-");
    fs.mkdirSync(path.join(dir, ".github", "workflows"), { recursive: true });
    const file = path.join(".github", "workflows", "broken.yml");
    fs.writeFileSync(
        path.join(dir, file),
        [
            "on: push",
            "jobs:",
            "  test:",
            "    runs-on: ubuntu-latest",
            "    needs: biuld",
            "    steps:",
            "      - run: echo ${{ matrix.nope }}",
            "      - run: if [ $x = 1 ] then echo; fi",
            "",
        ].join("\n"),
    );
    const r = actionlint([file], dir);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /"biuld"/);
    assert.match(r.output, /matrix/);
    if (SHELLCHECK) assert.match(r.output, /shellcheck reported issue/);
});

it("shellcheck finds nothing in the .ci scripts", { skip: SHELLCHECK === undefined && !CI ? MISSING : false }, () => {
    if (SHELLCHECK === undefined) assert.fail(MISSING);
    const scripts = ["run", ...fs.readdirSync(path.join(ROOT, ".ci")).filter(name => name.endsWith(".sh"))].map(name => path.join(".ci", name));
    const r = spawnSync(SHELLCHECK, scripts, { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

// The YAML parser @napi-rs/cli (a devDependency) itself uses.
const yaml = createRequire(createRequire(import.meta.url).resolve("@napi-rs/cli/package.json"))("js-yaml");
const ci = () => yaml.load(fs.readFileSync(path.join(WORKFLOWS, "ci.yml"), "utf8"));
const runs = job => (job.steps ?? []).map(step => step.run ?? "").join("\n");

it("the lint job runs cargo fmt --check and clippy on all targets with warnings denied", () => {
    const { lint } = ci().jobs;
    assert.match(runs(lint), /^cargo fmt --all --check$/m);
    assert.match(runs(lint), /^cargo clippy --all-targets .*-- -D warnings$/m);
    assert.ok(lint.steps.some(s => s.uses?.startsWith("dtolnay/rust-toolchain@") && /clippy/.test(s.with?.components) && /rustfmt/.test(s.with?.components)));
});

it("the build matrix is package.json's napi.targets, each uploaded as an artifact", () => {
    const { build } = ci().jobs;
    const targets = build.strategy.matrix.include.map(entry => entry.target);
    assert.deepEqual([...targets].sort(), [...PKG.napi.targets].sort());
    assert.match(runs(build), /npm run build -- --target "\$\{\{ matrix\.target \}\}"/);
    const upload = build.steps.find(s => s.uses?.startsWith("actions/upload-artifact@"));
    assert.equal(upload.with.name, "bindings-${{ matrix.target }}");
    assert.equal(upload.with.path, `${PKG.napi.binaryName}.*.node`);
});

it("tests run npm test on Linux, macOS and Windows with Node.js 20, 22 and 24, on the built binaries", () => {
    const { test, build } = ci().jobs;
    assert.deepEqual(test.needs, "build");
    const { os, node, include } = test.strategy.matrix;
    assert.deepEqual(os, ["ubuntu-latest", "macos-latest", "windows-latest"]);
    assert.deepEqual(node, ["20", "22", "24"]);
    const built = new Set(build.strategy.matrix.include.map(e => e.target));
    for (const entry of include) assert.ok(built.has(entry.target), `${entry.os} tests ${entry.target}, which is built`);
    for (const system of os) assert.ok(include.some(e => e.os === system && e.target), `${system} has a target`);
    assert.match(runs(test), /^npm test$/m);
    assert.equal(test.steps.find(s => s.uses?.startsWith("actions/setup-node@")).with["node-version"], "${{ matrix.node }}");
});

it("publishing needs every check, runs only for a v* tag, and publishes with npm provenance", () => {
    const workflow = ci();
    const { publish } = workflow.jobs;
    assert.deepEqual(workflow.on.push.tags, ["v*"]);
    assert.equal(publish.if, "startsWith(github.ref, 'refs/tags/v')");
    for (const job of ["lint", "msrv", "test", "smoke-musl"]) assert.ok(publish.needs.includes(job), `publish needs ${job}`);
    assert.equal(publish.permissions["id-token"], "write");
    const step = publish.steps.find(s => /npm publish/.test(s.run ?? ""));
    assert.equal(step.env.NPM_CONFIG_PROVENANCE, "true");
    assert.match(runs(publish), /npx napi artifacts/);
    assert.equal(PKG.scripts.prepublishOnly, "napi pre-publish -t npm");
    // Everything else in the workflow only reads the repository.
    assert.deepEqual(workflow.permissions, { contents: "read" });
});
