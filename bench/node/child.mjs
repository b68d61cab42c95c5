// One child process of the node benchmark (bench/node/run.mjs): a fresh heap, one storage
// driver, one task. argv[2] is a JSON config:
//
//   task         "bridge-first" | "bridge-restart" | "controller-template" | "controller-build" | "controller-start"
//   driver       "ours" | "wal" | "file" | "sqlite"
//   storagePath  matter.js storage.path (each node's data is in <storagePath>/<node id>)
//   lights       bridged lights on the bridge
//   sequentialToggles, toggles   bridge-restart: how many times each light is toggled one change
//                at a time, then in concurrent waves
//   template     controller-build: path of the template JSON; peers: how many peers to write
//   peers        controller-start: how many peers the store holds (checked)
//
// The driver is chosen the way a matter.js app chooses it: storage.driver (MATTER_STORAGE_DRIVER,
// set by the parent) for matter.js's "wal", "file" and "sqlite", and registerWalDriver(env,
// { select: true }) from this package for "ours". Driver calls are timed (./timing.mjs).
//
// stdout: one line "@@ <json>" with the result ({ error } on failure). Everything else the
// child prints (matter.js warnings) is kept by the parent for failure messages only.

import fs from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { createDriverTimer, createProfiler, since } from "./timing.mjs";

const config = JSON.parse(process.argv[2]);
const say = data => fs.writeSync(1, `@@ ${JSON.stringify(data)}\n`);

process.on("unhandledRejection", error => {
    say({ error: `unhandled rejection: ${error?.stack ?? error}` });
    process.exit(3);
});

const PASSCODE = 20202021;
const DISCRIMINATOR = 3840;
const ELD_RESOLUTION_MS = 1;
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

const general = await import("@matter/general");
const nodejs = await import("@matter/nodejs");
const { ControllerBehavior, Endpoint, Environment, Seconds, ServerNode, StorageManager, StorageService } = await import("@matter/main");
const { OnOffLightDevice } = await import("@matter/main/devices/on-off-light");
const { AggregatorEndpoint } = await import("@matter/main/endpoints/aggregator");
const { BridgedDeviceBasicInformationServer } = await import("@matter/main/behaviors/bridged-device-basic-information");
const { PeerSet } = await import("@matter/main/protocol");

const env = Environment.default;
env.vars.set("storage.path", config.storagePath);

// ---------------------------------------------------------------------------
// The driver under test, instrumented

const timer = createDriverTimer();
const EXPECTED_DRIVER_ID = { ours: "wal", wal: "wal", file: "file", sqlite: "sqlite" }[config.driver];
let driverClass;
switch (config.driver) {
    case "ours": {
        const override = process.env.MATTER_WAL_BENCH_OURS;
        const url = override
            ? pathToFileURL(path.resolve(override)).href
            : new URL("../../index.js", import.meta.url).href;
        const ours = await import(url);
        ours.setLogLevel?.("warn");
        driverClass = ours.WalStorageDriver;
        // Anything creating matter.js's own WAL driver in this process would measure the wrong driver.
        general.WalStorageDriver.create = () => {
            throw new Error("matter.js's WalStorageDriver was used in the 'ours' child");
        };
        ours.registerWalDriver(env, { select: true });
        break;
    }
    case "wal":
        driverClass = general.WalStorageDriver;
        break;
    case "file":
        driverClass = nodejs.FileStorageDriver;
        break;
    case "sqlite":
        driverClass = nodejs.SqliteStorageDriver;
        break;
    default:
        throw new Error(`unknown driver ${config.driver}`);
}
if (!process.env.MATTER_WAL_BENCH_NO_TIMING) timer.instrument(driverClass);

// Source files that are the driver under test, for the CPU profile (see timing.mjs).
const DRIVER_URLS = {
    ours: [
        ...["index.js", "binding.cjs", "load-native.cjs"].map(f => new URL(`../../${f}`, import.meta.url).href),
        ...(process.env.MATTER_WAL_BENCH_OURS ? [pathToFileURL(path.resolve(process.env.MATTER_WAL_BENCH_OURS)).href] : []),
    ],
    wal: ["/@matter/general/dist/esm/storage/wal/"],
    file: ["/@matter/nodejs/dist/esm/storage/fs/"],
    sqlite: ["/@matter/nodejs/dist/esm/storage/sqlite/"],
}[config.driver];
const isDriverUrl = url => DRIVER_URLS.some(part => (config.driver === "ours" ? url === part : url.includes(part)));
const profiler = config.profile === false ? undefined : createProfiler(1000);

/**
 * Runs `fn` and returns { value, ms, driver }: its wall time and the driver's part of it
 * (timing.mjs). heldMs, the time the node was held up by its storage, is the CPU time in driver
 * code (profile) plus the time the loop sat idle waiting for a driver call; without the profiler
 * (--no-profile) the wrappers' blockedMs stands in for it.
 */
async function measured(fn, { profile = true } = {}) {
    const profiling = profile ? profiler : undefined;
    await profiling?.start();
    const before = timer.read();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const value = await fn();
    const ms = performance.now() - t0;
    const driver = since(timer.read(), before);
    // How busy the JS thread was over the window (1 = never idle): what bounds the wall time.
    driver.loopUtilization = performance.eventLoopUtilization(elu0).utilization;
    if (profiling) {
        const result = await profiling.stop(isDriverUrl);
        driver.cpuMs = result.driverMs;
        driver.profileSamples = result.samples;
        driver.heldMs = result.driverMs + driver.idleMs;
    } else {
        driver.heldMs = driver.blockedMs;
    }
    // Writes still in flight at the end of the window (not part of any figure; JSON only).
    const t1 = performance.now();
    await settledWithin(60_000);
    driver.settledAfterMs = performance.now() - t1;
    return { value, ms, driver };
}

function checkDriver(node) {
    const id = node.env.get(StorageManager).driverId;
    if (id !== EXPECTED_DRIVER_ID) {
        throw new Error(`node storage uses driver "${id}", expected "${EXPECTED_DRIVER_ID}"`);
    }
    if (timer.read().calls === 0 && !process.env.MATTER_WAL_BENCH_NO_TIMING) throw new Error(`no call reached the instrumented ${driverClass.name}`);
}

// ---------------------------------------------------------------------------
// Nodes

const loopback = { listeningAddressIpv4: "127.0.0.1", listeningAddressIpv6: "::1" };

/** A bridge: root + Aggregator + `count` bridged on/off lights, as in matter.js's bridge example. */
async function createBridge(id, count) {
    const node = await ServerNode.create({
        id,
        network: { port: 0, ...loopback },
        commissioning: { passcode: PASSCODE, discriminator: DISCRIMINATOR },
        productDescription: { name: "bench bridge", deviceType: AggregatorEndpoint.deviceType },
        basicInformation: {
            vendorId: 0xfff1,
            productId: 0x8000,
            vendorName: "matter-wal-native",
            productName: "bench bridge",
            productLabel: "bench bridge",
            hardwareVersion: 1,
            softwareVersion: 1,
            serialNumber: `${id}-0001`,
        },
    });
    const aggregator = new Endpoint(AggregatorEndpoint, { id: "aggregator" });
    await node.add(aggregator);
    const lights = [];
    for (let i = 0; i < count; i++) {
        const light = new Endpoint(OnOffLightDevice.with(BridgedDeviceBasicInformationServer), {
            id: `light${i}`,
            bridgedDeviceBasicInformation: {
                nodeLabel: `Light ${i}`,
                productName: "Bridged light",
                productLabel: "Bridged light",
                serialNumber: `${id}-light-${i}`,
                reachable: true,
            },
        });
        await aggregator.add(light);
        lights.push(light);
    }
    return { node, lights };
}

async function createLight(id) {
    const node = await ServerNode.create({
        id,
        network: { port: 0, ...loopback },
        commissioning: { passcode: PASSCODE, discriminator: DISCRIMINATOR },
        productDescription: { name: "bench light", deviceType: OnOffLightDevice.deviceType },
        basicInformation: {
            vendorId: 0xfff1,
            productId: 0x8001,
            vendorName: "matter-wal-native",
            productName: "bench light",
            productLabel: "bench light",
            hardwareVersion: 1,
            softwareVersion: 1,
            serialNumber: `${id}-0001`,
        },
    });
    await node.add(OnOffLightDevice, { id: "light" });
    return node;
}

async function createController() {
    return ServerNode.create(ServerNode.RootEndpoint.with(ControllerBehavior), {
        id: "controller",
        network: { port: 0, ...loopback },
        commissioning: { enabled: false },
        controller: { adminFabricLabel: "matter-wal-native bench" },
    });
}

/**
 * Commissions `device` (started, on loopback) from `controller` (started). No mDNS: the device
 * is found at its known address, which is also given to matter.js as the peer's operational
 * address (what discovery would have found).
 */
async function commission(controller, device) {
    const port = device.state.network.operationalPort;
    const peers = controller.env.get(PeerSet);
    const onAdded = peer => {
        if (!peer.descriptor.operationalAddress) {
            peer.descriptor.operationalAddress = { type: "udp", ip: "::1", port };
        }
    };
    peers.added.on(onAdded);
    try {
        const peer = await controller.peers.forDescriptor({
            addresses: [{ type: "udp", ip: "::1", port }],
            discriminator: DISCRIMINATOR,
        });
        await peer.commission({ passcode: PASSCODE, timeout: Seconds(60) });
        return peer;
    } finally {
        peers.added.off(onAdded);
    }
}

/** Waits until no driver call is pending; an error after `ms`. */
async function settledWithin(ms) {
    let deadline;
    try {
        await Promise.race([
            timer.settled(),
            new Promise((_, reject) => {
                deadline = setTimeout(() => reject(new Error(`driver calls still pending after ${ms} ms`)), ms);
            }),
        ]);
    } finally {
        clearTimeout(deadline);
    }
}

/** Closes `node`, but gives up after `ms` (a close is never part of a figure). */
async function closeWithin(node, ms) {
    let deadline;
    await Promise.race([node.close(), new Promise(resolve => (deadline = setTimeout(resolve, ms)))]);
    clearTimeout(deadline);
}

function peakRssMB() {
    try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
        return m ? Number(m[1]) / 1024 : undefined;
    } catch {
        return undefined;
    }
}

/** What the lights hold after bridge-first: a pattern the restart checks. */
const markedOnOff = i => i % 3 === 0;

// ---------------------------------------------------------------------------
// Tasks

/** Starts the bridge (made or read back from storage), timed to online, on the driver asked for. */
async function startBridge() {
    const {
        value: { node, lights },
        ms: onlineMs,
        driver,
    } = await measured(async () => {
        const bridge = await createBridge("bridge", config.lights);
        await bridge.node.start();
        return bridge;
    });
    if (!node.lifecycle.isOnline) throw new Error("bridge not online after start()");
    checkDriver(node);
    return { node, lights, onlineMs, driver };
}

async function bridgeFirst() {
    const { node, lights, onlineMs, driver } = await startBridge();

    // Commission it, as a user would right after the first start, so the restart reads a
    // fabric, its certificates and ACL back too. The controller is in this process on the
    // same driver; none of this is timed into a figure.
    const t1 = performance.now();
    const controller = await createController();
    await controller.start();
    await commission(controller, node);
    const commissionMs = performance.now() - t1;

    for (let i = 0; i < lights.length; i++) {
        await lights[i].set({ onOff: { onOff: markedOnOff(i) } });
    }
    await node.set({ basicInformation: { nodeLabel: "bench bridge" } });
    const fabrics = node.state.operationalCredentials.fabrics.length;
    if (!node.state.commissioning.commissioned || fabrics !== 1) throw new Error("bridge not commissioned");

    // The bridge first, while the controller still answers: it then closes in well under a second.
    await node.close();
    await closeWithin(controller, 10_000);
    return { onlineMs, driver, commissionMs, node: process.version };
}

/** Toggles every light `toggles` times; `expected` holds (and is updated to) each light's state. */
async function runChurn(lights, mode, toggles, expected) {
    const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    eld.enable();
    const cpu0 = process.cpuUsage();
    // Not profiled: the sampling would add to the CPU time per change.
    let loopMs;
    const { ms, driver } = await measured(
        async () => {
            const t0 = performance.now();
            for (let round = 0; round < toggles; round++) {
                if (mode === "sequential") {
                    for (let i = 0; i < lights.length; i++) {
                        expected[i] = !expected[i];
                        await lights[i].set({ onOff: { onOff: expected[i] } });
                    }
                } else {
                    await Promise.all(
                        lights.map((light, i) => {
                            expected[i] = !expected[i];
                            return light.set({ onOff: { onOff: expected[i] } });
                        }),
                    );
                }
            }
            // matter.js resolves set() before its storage commit is done (the commit runs on in
            // the background), so the window ends when the driver has settled every call: the
            // rate is of changes that are on disk, and a backlog cannot hide.
            loopMs = performance.now() - t0;
            await settledWithin(60_000);
        },
        { profile: false },
    );
    const cpu = process.cpuUsage(cpu0);
    eld.disable();
    lights.forEach((light, i) => {
        if (light.state.onOff.onOff !== expected[i]) throw new Error(`after ${mode} churn: light${i} has the wrong onOff`);
    });
    const changes = toggles * lights.length;
    const delay = ns => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
    return {
        changes,
        ms,
        loopMs,
        drainMs: ms - loopMs,
        perSecond: (changes / ms) * 1000,
        cpuUsPerChange: (cpu.user + cpu.system) / changes,
        eldP50Ms: delay(eld.percentile(50)),
        eldP99Ms: delay(eld.percentile(99)),
        eldMaxMs: delay(eld.max),
        driver,
        rssMB: process.memoryUsage().rss / 2 ** 20,
    };
}

async function bridgeRestart() {
    const { node, lights, onlineMs, driver } = await startBridge();

    // Everything written before the restart is back.
    if (!node.state.commissioning.commissioned || node.state.operationalCredentials.fabrics.length !== 1) {
        throw new Error("restarted bridge lost its fabric");
    }
    if (node.state.basicInformation.nodeLabel !== "bench bridge") throw new Error("restarted bridge lost its nodeLabel");
    lights.forEach((light, i) => {
        if (light.state.onOff.onOff !== markedOnOff(i)) throw new Error(`restarted bridge: light${i} has the wrong onOff`);
    });

    // Churn: every light toggled through matter.js's state API, first one change at a time
    // (each set() awaited), then in waves that toggle every light at once (as a bridge does when
    // many bridged devices report together; Promise.all per wave).
    await sleep(300);
    const idle = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    idle.enable();
    await sleep(300);
    idle.disable();
    const expected = lights.map((_, i) => markedOnOff(i));
    const churn = {};
    for (const [mode, toggles] of [
        ["sequential", config.sequentialToggles],
        ["concurrent", config.toggles],
    ]) {
        if (!toggles) continue;
        try {
            churn[mode] = await runChurn(lights, mode, toggles, expected);
        } catch (error) {
            churn[mode] = { error: String(error?.message ?? error).split("\n")[0] };
            break; // the node may be in any state now
        }
    }
    const result = {
        onlineMs,
        driver,
        churn,
        idleEldP99Ms: Math.max(0, idle.percentile(99) / 1e6 - ELD_RESOLUTION_MS),
        rssMB: process.memoryUsage().rss / 2 ** 20,
        peakRssMB: peakRssMB(),
        node: process.version,
    };
    const t2 = performance.now();
    await closeWithin(node, 30_000);
    result.closeMs = performance.now() - t2;
    return result;
}

/**
 * The controller template: a controller that has commissioned two real devices over loopback,
 * a plain on/off light and a bridge with three lights, dumped key by key (matter.js's own
 * JSON encoding for bigint and bytes). run.mjs makes it once and caches it.
 */
async function controllerTemplate() {
    const controller = await createController();
    await controller.start();
    const light = await createLight("tpl-light");
    await light.start();
    const lightPeer = await commission(controller, light);
    const { node: bridge } = await createBridge("tpl-bridge", 3);
    await bridge.start();
    const bridgePeer = await commission(controller, bridge);
    await light.close();
    await bridge.close();
    await closeWithin(controller, 15_000);

    // Read the controller's store back with the driver that wrote it.
    const Driver = driverClass;
    const dir = path.join(config.storagePath, "controller");
    const store =
        config.driver === "ours"
            ? new Driver(dir, {})
            : new Driver(undefined, { storageDir: new nodejs.NodeJsFilesystem(config.storagePath).directory("controller") });
    await store.initialize();
    const entries = [];
    const walk = async contexts => {
        for (const name of (await store.contexts(contexts)).sort()) {
            const sub = [...contexts, name];
            const values = await store.values(sub);
            if (Object.keys(values).length) entries.push([sub, values]);
            await walk(sub);
        }
    };
    await walk([]);
    await store.close();
    const template = {
        matter: JSON.parse(fs.readFileSync(new URL("../../node_modules/@matter/main/package.json", import.meta.url), "utf8")).version,
        created: new Date().toISOString(),
        peers: { light: lightPeer.id, bridge: bridgePeer.id },
        entries,
    };
    fs.writeFileSync(config.out, general.toJson(template));
    return { entries: entries.length, peers: template.peers };
}

/** A deterministic byte generator (mulberry32). */
function bytes(seed, length) {
    let a = seed >>> 0;
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = Math.imul(a ^ (a >>> 15), a | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        out[i] = (t ^ (t >>> 14)) & 0xff;
    }
    return out;
}

/**
 * The stored state of a controller with `count` commissioned peers, from the template: peer n is a
 * copy of the template bridge's record for every tenth n and of the light's otherwise, with its
 * own id, node id, address, timestamps and identifying strings; one CASE resumption record per
 * peer (copied from the template's, with the peer's node id and fresh ids and secrets).
 */
function synthesize(template, count) {
    const { entries } = template;
    const peerOf = contexts => (contexts[0] === "nodes" ? contexts[1] : undefined);
    const recordOf = id => entries.filter(([contexts]) => peerOf(contexts) === id);
    const lightRecord = recordOf(template.peers.light);
    const bridgeRecord = recordOf(template.peers.bridge);
    if (!lightRecord.length || !bridgeRecord.length) throw new Error("template has no peer records");

    const out = [];
    const resumption = [];
    for (const [contexts, values] of entries) {
        if (peerOf(contexts)) continue;
        out.push([contexts, structuredClone(values)]);
    }
    const sessions = out.find(([c]) => c.length === 1 && c[0] === "sessions");
    const templateRecords = sessions?.[1].resumptionRecords ?? [];
    const certificates = out.find(([c]) => c.length === 1 && c[0] === "certificates");
    if (certificates && typeof certificates[1].nextCertificateId === "number") {
        certificates[1].nextCertificateId += count;
    }

    const baseTime = Date.UTC(2026, 0, 1);
    for (let n = 1; n <= count; n++) {
        const record = n % 10 === 0 ? bridgeRecord : lightRecord;
        const id = `peer${n}`;
        const nodeId = BigInt(n);
        for (const [contexts, values] of record) {
            const c = [...contexts];
            c[1] = id;
            const v = structuredClone(values);
            const tail = c.slice(2).join("/");
            if (tail === "endpoints/0/commissioning") {
                if (v.peerAddress) v.peerAddress = { ...v.peerAddress, nodeId };
                if (Array.isArray(v.addresses)) v.addresses = v.addresses.map(a => ({ ...a, port: 20000 + n }));
                if (typeof v.commissionedAt === "number") v.commissionedAt = baseTime + n * 60_000;
                if (typeof v.discoveredAt === "number") v.discoveredAt = baseTime + n * 60_000 - 500;
            }
            // Basic Information (0x28) and Bridged Device Basic Information (0x39): nodeLabel,
            // serialNumber, uniqueId made the peer's own.
            if (/^endpoints\/\d+\/(40|57)$/.test(tail)) {
                for (const attr of ["5", "15", "18"]) {
                    if (typeof v[attr] === "string") v[attr] = `${v[attr]}-${n}`;
                }
            }
            out.push([c, v]);
        }
        const model = templateRecords[n % Math.max(1, templateRecords.length)];
        if (model) {
            const copy = structuredClone(model);
            for (const [key, value] of Object.entries(copy)) {
                if (typeof value === "bigint" && /node/i.test(key)) copy[key] = nodeId;
                else if (value instanceof Uint8Array) copy[key] = bytes(n * 977 + key.length, value.length);
            }
            resumption.push(copy);
        }
    }
    if (sessions && templateRecords.length) sessions[1].resumptionRecords = resumption;
    return out;
}

async function controllerBuild() {
    const template = general.fromJson(fs.readFileSync(config.template, "utf8"));
    const entries = synthesize(template, config.peers);
    const manager = await env.get(StorageService).open("controller");
    let keys = 0;
    for (const [contexts, values] of entries) {
        let context = manager.createContext(contexts[0]);
        for (const name of contexts.slice(1)) context = context.createContext(name);
        await context.set(values);
        keys += Object.keys(values).length;
    }
    await manager.close();
    return { contexts: entries.length, keys };
}

async function controllerStart() {
    const {
        value: controller,
        ms: onlineMs,
        driver,
    } = await measured(async () => {
        const node = await createController();
        await node.start();
        return node;
    });
    if (!controller.lifecycle.isOnline) throw new Error("controller not online after start()");
    checkDriver(controller);
    const peers = [...controller.peers].length;
    if (peers !== config.peers) throw new Error(`controller started with ${peers} peers, expected ${config.peers}`);
    const rssMB = process.memoryUsage().rss / 2 ** 20;
    await closeWithin(controller, 15_000);
    return { onlineMs, driver, peers, rssMB, node: process.version };
}

const TASKS = {
    "bridge-first": bridgeFirst,
    "bridge-restart": bridgeRestart,
    "controller-template": controllerTemplate,
    "controller-build": controllerBuild,
    "controller-start": controllerStart,
};

try {
    const task = TASKS[config.task];
    if (!task) throw new Error(`unknown task ${config.task}`);
    say({ ok: true, ...(await task()) });
    process.exit(0);
} catch (error) {
    say({ error: String(error?.stack ?? error) });
    process.exit(2);
}
