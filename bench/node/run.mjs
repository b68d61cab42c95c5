// `npm run bench -- --node`: what a matter.js user waits for, with real @matter/main nodes on
// loopback, on our driver and on matter.js's "wal", "file" and "sqlite" drivers side by side.
// Every measurement runs in a fresh child process (./child.mjs) on one driver; this process only
// orchestrates and prints. See bench/README.md ("Node benchmark") for what each figure means.

import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const CHILD = path.join(HERE, "child.mjs");
const ALL_DRIVERS = ["ours", "wal", "file", "sqlite"];
const THEIRS = ["wal", "file", "sqlite"];
const TEMPLATE_VERSION = 1;

const log = (...parts) => process.stderr.write(`${parts.join(" ")}\n`);
const median = xs => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const USAGE = `usage: node bench/run.mjs --node [--quick] [--json] [--only=1,2,3] [--drivers=ours,wal,file,sqlite]
         [--lights=50,300] [--rounds=N] [--toggles=N] [--sequential-toggles=N] [--peers=N]
         [--node-bin=PATH] [--dir=PATH] [--data-dir=PATH] [--rebuild-data] [--no-profile] [--child-timeout=SECONDS]
`;

// ---------------------------------------------------------------------------
// Which node runs the children: one that has node:sqlite (Node >= 22.13), so that matter.js's
// sqlite driver is measured, not skipped.

function nodeInfo(bin) {
    const r = spawnSync(
        bin,
        ["-e", "let s = false; try { require('node:sqlite'); s = true } catch {} process.stdout.write(JSON.stringify({ v: process.version, s }))"],
        { encoding: "utf8", timeout: 20_000, env: { ...process.env, NODE_NO_WARNINGS: "1" } },
    );
    if (r.status !== 0) return undefined;
    try {
        const { v, s } = JSON.parse(r.stdout);
        return { bin, version: v, sqlite: s };
    } catch {
        return undefined;
    }
}

function chooseNode(explicit) {
    if (explicit) {
        const info = nodeInfo(explicit);
        if (!info) throw new Error(`--node-bin=${explicit} does not run`);
        return { ...info, tried: [explicit] };
    }
    const candidates = [
        process.env.MATTER_WAL_BENCH_NODE,
        process.execPath,
        path.join(ROOT, ".tools/node-24/bin/node"),
        path.join(ROOT, ".tools/node-22/bin/node"),
    ].filter(Boolean);
    const tried = [];
    for (const bin of candidates) {
        if (bin !== process.execPath && !fs.existsSync(bin)) continue;
        tried.push(bin);
        const info = nodeInfo(bin);
        if (info?.sqlite) return { ...info, tried };
    }
    return { bin: process.execPath, version: process.version, sqlite: false, tried };
}

// ---------------------------------------------------------------------------
// Children

const running = new Set();

function childEnv(root, driver) {
    const env = {};
    for (const [name, value] of Object.entries(process.env)) {
        if (!name.startsWith("MATTER_") || name === "MATTER_WAL_BENCH_OURS") env[name] = value;
    }
    return {
        ...env,
        MATTER_PATH_ROOT: root,
        MATTER_LOG_LEVEL: "warn",
        MATTER_LOG_FORMAT: "plain",
        MATTER_MDNS_NETWORKINTERFACE: "lo",
        MATTER_RUNTIME_SIGNALS: "false",
        // "ours" registers itself under matter.js's id "wal" and selects it, as a user app does.
        MATTER_STORAGE_DRIVER: driver === "ours" ? "wal" : driver,
        NODE_NO_WARNINGS: "1",
    };
}

/** Runs one child task; resolves with its result object, rejects with its error. */
function runChild(opts, config) {
    if (opts.noProfile) config = { ...config, profile: false };
    const root = path.dirname(config.storagePath);
    return new Promise((resolve, reject) => {
        const child = spawn(opts.node.bin, [CHILD, JSON.stringify(config)], {
            env: childEnv(root, config.driver),
            stdio: ["ignore", "pipe", "pipe"],
        });
        running.add(child);
        let out = "";
        child.stdout.setEncoding("utf8").on("data", chunk => (out += chunk));
        child.stderr.setEncoding("utf8").on("data", chunk => (out += chunk));
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.childTimeoutS * 1000);
        child.on("exit", (code, signal) => {
            clearTimeout(timer);
            running.delete(child);
            const line = out
                .split("\n")
                .filter(l => l.startsWith("@@ "))
                .pop();
            let result;
            try {
                result = line && JSON.parse(line.slice(3));
            } catch {
                // no result line
            }
            if (result?.ok) return resolve(result);
            const why = result?.error ?? `exited (code ${code}, signal ${signal}) without a result${signal === "SIGKILL" ? ` (timeout ${opts.childTimeoutS} s?)` : ""}`;
            const error = new Error(String(why).split("\n")[0]);
            error.detail = `${why}\n--- child output (tail) ---\n${out.slice(-4000)}`;
            reject(error);
        });
    });
}

// ---------------------------------------------------------------------------
// Workloads

function freshRoot(tmp, label) {
    const dir = fs.mkdtempSync(path.join(tmp, `${label}-`));
    return dir;
}

/**
 * `opts.rounds` rounds over `drivers`, in reverse order every other round, each run in a fresh
 * root under `opts.tmp` (removed after): `run(driver, root, round)`. A run that throws is logged
 * and recorded as that driver's error; the other runs go on.
 */
async function alternatedRounds(opts, drivers, label, record, run) {
    for (let round = 0; round < opts.rounds; round++) {
        const order = round % 2 ? [...drivers].reverse() : drivers;
        for (const driver of order) {
            const root = freshRoot(opts.tmp, `${label}-${driver}`);
            try {
                await run(driver, root, `round ${round + 1}/${opts.rounds} ${driver}`);
            } catch (error) {
                log(`  ! ${driver}: ${error.message}`);
                if (opts.verbose) log(error.detail);
                record(driver, "error", error);
            } finally {
                fs.rmSync(root, { recursive: true, force: true });
            }
        }
    }
}

/** Workloads 1 and 2: for each driver, a first-start child then a restart + churn child on the same store. */
async function bridgeRounds(opts, drivers, lights, record) {
    await alternatedRounds(opts, drivers, "bridge", record, async (driver, root, which) => {
        const base = { driver, storagePath: path.join(root, "storage"), lights };
        log(`  [bridge ${lights}] ${which}: first start + commissioning`);
        record(driver, "first", await runChild(opts, { ...base, task: "bridge-first" }));
        log(`  [bridge ${lights}] ${which}: restart + churn`);
        const restart = await runChild(opts, {
            ...base,
            task: "bridge-restart",
            toggles: opts.toggles,
            sequentialToggles: opts.sequentialToggles,
        });
        record(driver, "restart", restart);
    });
}

/** The controller template: made once by a child on matter.js's own "wal" driver, cached in the data dir. */
async function controllerTemplate(opts) {
    const file = path.join(opts.dataDir, `controller-template-v${TEMPLATE_VERSION}.json`);
    if (fs.existsSync(file) && !opts.rebuildData) return file;
    fs.mkdirSync(opts.dataDir, { recursive: true });
    log(`  [controller] making the template (a controller commissioning a light and a 3-light bridge): ${file}`);
    const root = freshRoot(opts.tmp, "template");
    try {
        const tmpFile = `${file}.tmp-${process.pid}`;
        const r = await runChild(opts, { task: "controller-template", driver: "wal", storagePath: path.join(root, "storage"), out: tmpFile });
        fs.renameSync(tmpFile, file);
        log(`  [controller] template: ${r.entries} contexts, peers ${JSON.stringify(r.peers)}`);
    } finally {
        fs.rmSync(root, { recursive: true, force: true });
    }
    return file;
}

/**
 * The stored state of a controller with `peers` peers, in `driver`'s format, written by that
 * driver (through matter.js's StorageService). Cached in the data dir per template, driver, peer
 * count and matter.js version; --rebuild-data makes it again.
 */
async function controllerStore(opts, templateFile, driver) {
    const hash = crypto.createHash("sha256").update(fs.readFileSync(templateFile)).digest("hex").slice(0, 12);
    const dir = path.join(opts.dataDir, `controller-${opts.peers}-${driver}-${hash}`);
    const stamp = path.join(dir, "complete");
    if (fs.existsSync(stamp) && !opts.rebuildData) return dir;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    log(`  [controller] writing ${opts.peers} peers with ${driver} (cached in ${path.relative(process.cwd(), dir)})`);
    const t0 = performance.now();
    const r = await runChild(opts, {
        task: "controller-build",
        driver,
        storagePath: path.join(dir, "storage"),
        template: templateFile,
        peers: opts.peers,
    });
    fs.writeFileSync(stamp, JSON.stringify({ ...r, seconds: (performance.now() - t0) / 1000 }));
    log(`  [controller] ${driver}: ${r.contexts} contexts, ${r.keys} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return dir;
}

async function controllerRounds(opts, drivers, record) {
    let templateFile;
    try {
        templateFile = await controllerTemplate(opts);
    } catch (error) {
        log(`  ! making the controller template: ${error.message}`);
        if (opts.verbose) log(error.detail);
        for (const driver of drivers) record(driver, "error", new Error(`no controller template: ${error.message}`));
        return;
    }
    const stores = {};
    for (const driver of drivers) {
        try {
            stores[driver] = await controllerStore(opts, templateFile, driver);
        } catch (error) {
            log(`  ! ${driver}: building the controller store: ${error.message}`);
            if (opts.verbose) log(error.detail);
            record(driver, "error", error);
        }
    }
    const built = drivers.filter(driver => stores[driver]);
    await alternatedRounds(opts, built, "controller", record, async (driver, root, which) => {
        fs.cpSync(path.join(stores[driver], "storage"), path.join(root, "storage"), { recursive: true });
        log(`  [controller ${opts.peers}] ${which}: start`);
        const r = await runChild(opts, { task: "controller-start", driver, storagePath: path.join(root, "storage"), peers: opts.peers });
        record(driver, "start", r);
    });
}

// ---------------------------------------------------------------------------
// Rows: each is a figure taken from the children's results

const rows = [];

/**
 * One table row. `samples[driver]` are the per-round values; `errors[driver]` the reason a driver
 * has no value. better: "lower" | "higher".
 */
function addRow({ workload, name, unit, better, samples, errors, share }) {
    const cells = {};
    for (const driver of ALL_DRIVERS) {
        const xs = samples[driver] ?? [];
        if (xs.length) {
            cells[driver] = { status: "ok", median: median(xs), rounds: xs };
            if (share?.[driver]?.length) cells[driver].sharePct = median(share[driver]);
            if (errors[driver]) cells[driver].partialError = errors[driver];
        } else {
            cells[driver] = { status: errors[driver] ? "error" : "not run", error: errors[driver] };
        }
    }
    const ratio = (ours, theirs) => {
        if (ours?.status !== "ok" || theirs?.status !== "ok") return undefined;
        const [a, b] = better === "higher" ? [ours.median, theirs.median] : [theirs.median, ours.median];
        if (a === 0 && b === 0) return 1;
        return b === 0 ? Infinity : a / b;
    };
    const ratios = {};
    for (const d of THEIRS) ratios[d] = ratio(cells.ours, cells[d]);
    const others = THEIRS.filter(d => cells[d].status === "ok");
    let best;
    if (others.length) {
        const pick = better === "higher" ? Math.max : Math.min;
        const value = pick(...others.map(d => cells[d].median));
        best = { driver: others.find(d => cells[d].median === value), ratio: ratio(cells.ours, { status: "ok", median: value }) };
    }
    rows.push({ workload, name, unit, better, cells, ratios, best });
}

/** Collects results per driver and turns them into rows. */
function collector() {
    const data = {};
    for (const d of ALL_DRIVERS) data[d] = { first: [], restart: [], start: [], errors: [] };
    return {
        data,
        record(driver, kind, value) {
            if (kind === "error") data[driver].errors.push(value.message);
            else data[driver][kind].push(value);
        },
    };
}

function firstError(data, driver) {
    return data[driver].errors[0];
}

function bridgeRowsFor(lights, data, opts) {
    const pick = (kind, fn) => {
        const samples = {};
        const errors = {};
        for (const d of ALL_DRIVERS) {
            samples[d] = data[d][kind].map(fn).filter(v => v !== undefined && Number.isFinite(v));
            if (firstError(data, d)) errors[d] = firstError(data, d);
        }
        return { samples, errors };
    };
    const errorsOf = (kind, fn) => {
        const errors = {};
        for (const d of ALL_DRIVERS) {
            const e = data[d][kind].map(fn).find(Boolean) ?? firstError(data, d);
            if (e) errors[d] = e;
        }
        return errors;
    };
    const shareOf = kind => {
        const share = {};
        for (const d of ALL_DRIVERS) share[d] = data[d][kind].map(r => (100 * r.driver.heldMs) / r.onlineMs);
        return share;
    };
    const L = `bridge ${lights}`;
    addRow({ workload: 1, name: `${L}: first start → online`, unit: "ms", better: "lower", ...pick("first", r => r.onlineMs) });
    addRow({
        workload: 1,
        name: `${L}: first start, held up by driver`,
        unit: "ms",
        better: "lower",
        ...pick("first", r => r.driver.heldMs),
        share: shareOf("first"),
    });
    addRow({ workload: 1, name: `${L}: restart → online`, unit: "ms", better: "lower", ...pick("restart", r => r.onlineMs) });
    addRow({
        workload: 1,
        name: `${L}: restart, held up by driver`,
        unit: "ms",
        better: "lower",
        ...pick("restart", r => r.driver.heldMs),
        share: shareOf("restart"),
    });
    for (const [mode, toggles] of [
        ["sequential", opts.sequentialToggles],
        ["concurrent", opts.toggles],
    ]) {
        if (!toggles) continue;
        const what = mode === "sequential" ? `${toggles}× each light, one set() at a time` : `${toggles} waves of ${lights} set()s at once`;
        const churn = fn => {
            const { samples } = pick("restart", r => (r.churn?.[mode] && !r.churn[mode].error ? fn(r.churn[mode]) : undefined));
            return { samples, errors: errorsOf("restart", r => r.churn?.[mode]?.error) };
        };
        addRow({ workload: 2, name: `${L} churn, ${what}`, unit: "changes/s", better: "higher", ...churn(c => c.perSecond) });
        addRow({ workload: 2, name: `${L} churn ${mode}: CPU per change`, unit: "µs", better: "lower", ...churn(c => c.cpuUsPerChange) });
        addRow({ workload: 2, name: `${L} churn ${mode}: event-loop delay p50`, unit: "ms", better: "lower", ...churn(c => c.eldP50Ms) });
        addRow({ workload: 2, name: `${L} churn ${mode}: event-loop delay p99`, unit: "ms", better: "lower", ...churn(c => c.eldP99Ms) });
        addRow({ workload: 2, name: `${L} churn ${mode}: event-loop delay max`, unit: "ms", better: "lower", ...churn(c => c.eldMaxMs) });
    }
    addRow({ workload: 2, name: `${L}: RSS after churn`, unit: "MB", better: "lower", ...pick("restart", r => r.rssMB) });
    addRow({ workload: 2, name: `${L}: peak RSS (VmHWM) of the restart process`, unit: "MB", better: "lower", ...pick("restart", r => r.peakRssMB) });
}

function controllerRows(data, opts) {
    const pick = fn => {
        const samples = {};
        const errors = {};
        for (const d of ALL_DRIVERS) {
            samples[d] = data[d].start.map(fn);
            if (firstError(data, d)) errors[d] = firstError(data, d);
        }
        return { samples, errors };
    };
    const share = {};
    for (const d of ALL_DRIVERS) share[d] = data[d].start.map(r => (100 * r.driver.heldMs) / r.onlineMs);
    const C = `controller with ${opts.peers} peers`;
    addRow({ workload: 3, name: `${C}: start → online`, unit: "ms", better: "lower", ...pick(r => r.onlineMs) });
    addRow({ workload: 3, name: `${C}: held up by driver`, unit: "ms", better: "lower", ...pick(r => r.driver.heldMs), share });
    addRow({ workload: 3, name: `${C}: RSS after start`, unit: "MB", better: "lower", ...pick(r => r.rssMB) });
}

// ---------------------------------------------------------------------------
// Output

function fmtNumber(v) {
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    if (a === 0) return "0";
    return v.toPrecision(2);
}

function fmtRatio(r) {
    if (r === undefined) return "n/a";
    return Number.isFinite(r) ? `${fmtNumber(r)}×` : "∞";
}

function fmtCell(cell) {
    if (cell.status !== "ok") return cell.status;
    const share = cell.sharePct === undefined ? "" : ` (${cell.sharePct < 10 ? cell.sharePct.toFixed(1) : cell.sharePct.toFixed(0)}%)`;
    return `${fmtNumber(cell.median)}${share}${cell.partialError ? "*" : ""}`;
}

function table(meta, drivers) {
    const header = ["#", "workload", "unit", ...drivers, ...THEIRS.filter(d => drivers.includes(d)).map(d => `×${d}`), "×best"];
    const shown = THEIRS.filter(d => drivers.includes(d));
    const lines = rows.map(r => [
        String(r.workload),
        r.name,
        r.unit,
        ...drivers.map(d => fmtCell(r.cells[d])),
        ...shown.map(d => fmtRatio(r.ratios[d])),
        r.best ? `${fmtRatio(r.best.ratio)} ${r.best.driver}` : "n/a",
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map(l => l[i].length)));
    const numeric = i => i >= 3;
    const line = cells =>
        cells
            .map((c, i) => (i === 0 ? c.padStart(widths[i]) : numeric(i) && i < cells.length - 1 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    const out = [];
    out.push(
        `matter-wal-native node benchmark${meta.quick ? " (--quick)" : ""} — @matter/main ${meta.matter}, node ${meta.childNode} (children; ${meta.childNodeBin}), ${meta.cpus}× ${meta.cpuModel}, ${meta.platform}`,
    );
    const what = [];
    if (meta.workloads.includes(1) || meta.workloads.includes(2)) {
        what.push(
            `bridge: ${meta.lights.join(" and ")} bridged on/off lights, churn ${meta.sequentialToggles}× sequential + ${meta.toggles} concurrent waves`,
        );
    }
    if (meta.workloads.includes(3)) what.push(`controller: ${meta.peers} peers`);
    out.push(`${what.join("; ")}; ${meta.rounds} round(s), median; each driver in its own child processes`);
    out.push("×X: how many times better ours is than driver X (X/ours for times, CPU, delays and memory; ours/X for changes/s); >1 means ours is better.");
    out.push("×best: against the best of the others on that row. (n%): share of the time to online the node was held up by its driver.");
    out.push("");
    out.push(line(header));
    out.push(line(widths.map(w => "-".repeat(w))));
    let last;
    rows.forEach((r, i) => {
        if (last !== undefined && r.workload !== last) out.push("");
        last = r.workload;
        out.push(line(lines[i]));
    });
    const problems = new Map();
    for (const r of rows) {
        for (const d of drivers) {
            const message = r.cells[d].error ?? r.cells[d].partialError;
            if (!message) continue;
            const key = `${d}\0${message}`;
            if (!problems.has(key)) problems.set(key, `  ${d} (first in "${r.name}"): ${message}`);
        }
    }
    if (problems.size || meta.notes.length) out.push("");
    if (problems.size) {
        out.push("errors (* = some rounds failed):");
        out.push(...problems.values());
    }
    for (const n of meta.notes) out.push(`note: ${n}`);
    out.push("");
    out.push(
        `total ${meta.elapsedS.toFixed(0)} s; 1-min load average ${meta.loadAverage.start.toFixed(2)} at start, ${meta.loadAverage.end.toFixed(2)} at end`,
    );
    return `${out.join("\n")}\n`;
}

// ---------------------------------------------------------------------------
// Main

export async function runNodeBench(argv) {
    const flag = name => argv.includes(`--${name}`);
    const option = name => argv.find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    if (flag("help") || flag("h")) {
        process.stdout.write(USAGE);
        return 0;
    }
    const quick = flag("quick");
    const list = (s, fallback) => (s ? s.split(",").map(x => x.trim()).filter(Boolean) : fallback);
    const opts = {
        quick,
        json: flag("json"),
        verbose: flag("verbose"),
        only: list(option("only"))?.map(Number),
        lights: list(option("lights"), quick ? ["50"] : ["50", "300"]).map(Number),
        rounds: Number(option("rounds") ?? (quick ? 1 : 3)),
        toggles: Number(option("toggles") ?? (quick ? 4 : 20)),
        sequentialToggles: Number(option("sequential-toggles") ?? (quick ? 2 : 4)),
        peers: Number(option("peers") ?? (quick ? 50 : 200)),
        dataDir: path.resolve(option("data-dir") ?? path.join(HERE, "..", ".data")),
        rebuildData: flag("rebuild-data"),
        noProfile: flag("no-profile"),
        childTimeoutS: Number(option("child-timeout") ?? 300),
    };
    const wanted = list(option("drivers"), ALL_DRIVERS);
    for (const d of wanted) {
        if (!ALL_DRIVERS.includes(d)) {
            process.stderr.write(`unknown driver "${d}" (drivers: ${ALL_DRIVERS.join(", ")})\n${USAGE}`);
            return 2;
        }
    }
    const wants = n => !opts.only || opts.only.includes(n);

    const started = performance.now();
    const notes = [];
    const loadAtStart = os.loadavg()[0];
    if (loadAtStart > os.cpus().length * 0.5) {
        const warning = `machine was busy at start (1-min load average ${loadAtStart.toFixed(2)} on ${os.cpus().length} CPUs); figures may be noisy`;
        notes.push(warning);
        log(`WARNING: ${warning}`);
    }

    opts.node = chooseNode(option("node-bin"));
    let drivers = wanted;
    const unavailable = {};
    if (!opts.node.sqlite && wanted.includes("sqlite")) {
        const why =
            `matter.js's sqlite driver needs node:sqlite (Node.js >= 22.13); no such Node found (tried ${opts.node.tried.join(", ")}). ` +
            `Install one with .ci/install-node.sh (→ .tools/node-24/bin/node) or pass --node-bin=PATH`;
        unavailable.sqlite = why;
        notes.push(`sqlite not measured: ${why}`);
        log(`WARNING: ${why}`);
        drivers = wanted.filter(d => d !== "sqlite");
    }

    opts.tmp = fs.mkdtempSync(path.join(option("dir") ?? os.tmpdir(), "matter-wal-nodebench-"));
    const cleanup = () => {
        for (const child of running) child.kill("SIGKILL");
        fs.rmSync(opts.tmp, { recursive: true, force: true });
    };
    process.on("exit", cleanup);
    for (const signal of ["SIGINT", "SIGTERM"]) {
        process.on(signal, () => {
            cleanup();
            process.exit(130);
        });
    }

    log(
        `matter-wal-native node bench${quick ? " --quick" : ""}: drivers ${drivers.join(", ")}; children on node ${opts.node.version} (${opts.node.bin})`,
    );
    log(`  temp dir ${opts.tmp}; data dir ${opts.dataDir}`);

    const childNodes = new Set();
    const details = {};
    if (wants(1) || wants(2)) {
        for (const lights of opts.lights) {
            log(`[1, 2] bridge with ${lights} lights`);
            const c = collector();
            await bridgeRounds(opts, drivers, lights, c.record);
            for (const d of drivers) for (const r of [...c.data[d].first, ...c.data[d].restart]) childNodes.add(r.node);
            for (const [d, u] of Object.entries(unavailable)) c.data[d].errors.push(u);
            const before = rows.length;
            bridgeRowsFor(lights, c.data, opts);
            if (!wants(1)) rows.splice(before, rows.length - before, ...rows.slice(before).filter(r => r.workload !== 1));
            if (!wants(2)) rows.splice(before, rows.length - before, ...rows.slice(before).filter(r => r.workload !== 2));
            details[`bridge${lights}`] = c.data;
        }
    }
    if (wants(3)) {
        log(`[3] controller with ${opts.peers} peers`);
        const c = collector();
        await controllerRounds(opts, drivers, c.record);
        for (const d of drivers) for (const r of c.data[d].start) childNodes.add(r.node);
        for (const [d, u] of Object.entries(unavailable)) c.data[d].errors.push(u);
        controllerRows(c.data, opts);
        details.controller = c.data;
    }

    const matterVersion = JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules/@matter/main/package.json"), "utf8")).version;
    const meta = {
        quick,
        matter: matterVersion,
        childNode: [...childNodes].join(", ") || opts.node.version,
        childNodeBin: path.relative(process.cwd(), opts.node.bin) || opts.node.bin,
        orchestratorNode: process.version,
        platform: `${os.platform()} ${os.arch()}`,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "cpu",
        lights: opts.lights,
        rounds: opts.rounds,
        toggles: opts.toggles,
        sequentialToggles: opts.sequentialToggles,
        peers: opts.peers,
        workloads: [1, 2, 3].filter(wants),
        drivers,
        notes,
        loadAverage: { start: loadAtStart, end: os.loadavg()[0] },
        elapsedS: (performance.now() - started) / 1000,
        date: new Date().toISOString(),
    };
    const shownDrivers = ALL_DRIVERS.filter(d => wanted.includes(d));
    if (opts.json) {
        const strip = data =>
            Object.fromEntries(
                Object.entries(data).map(([d, v]) => [d, { ...v, errors: v.errors.map(e => (typeof e === "string" ? e : e.message)) }]),
            );
        const raw = Object.fromEntries(Object.entries(details).map(([k, v]) => [k, strip(v)]));
        process.stdout.write(`${JSON.stringify({ meta, rows, raw }, null, 2)}\n`);
    } else {
        process.stdout.write(table(meta, shownDrivers));
    }
    // The other drivers' failures are findings, shown in the table; ours failing is an error.
    return rows.some(r => r.cells.ours.status === "error") ? 1 : 0;
}
