// End to end on loopback: a @matter/main controller commissions an on/off light whose storage is
// our WalStorageDriver, toggles it, the light process restarts (fresh process, same storage),
// and the controller reaches it again: the fabric and the on/off state survived in our WAL.
//
// Both nodes are child processes (fixtures/matter-light-node.mjs, fixtures/matter-controller.mjs)
// listening on ::1 / 127.0.0.1 only; mDNS is limited to the loopback interface, where it finds
// nothing (no multicast), so the controller uses the light's known address (see the fixture).

import { after, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { WalStorageDriver } from "../index.js";
import { CONTROLLER, LIGHT, cleanup, freeUdpPort, matterEnv, start, tempDir } from "./fixtures/matter-harness.mjs";

after(cleanup);

const PASSCODE = 20202021;
const DISCRIMINATOR = 3840;
const STEP = 40_000;

async function expectEvent(handle, name, timeoutMs = STEP) {
    const event = await handle.next(name, { timeoutMs });
    assert.equal(event.event, name, `expected "${name}", got ${JSON.stringify(event)}\n${handle.output()}`);
    return event;
}

it("a controller commissions and toggles a light on our driver, and reaches it again after the light restarts", { timeout: 85_000 }, async () => {
    const port = await freeUdpPort();
    const lightRoot = tempDir();
    const storagePath = path.join(lightRoot, "storage");
    const nodeDir = path.join(storagePath, "light");
    const lightEnv = matterEnv(lightRoot, { MATTER_STORAGE_DRIVER: "wal" });
    const lightConfig = {
        storagePath,
        driver: "ours",
        forbidTs: true,
        port,
        passcode: PASSCODE,
        discriminator: DISCRIMINATOR,
        hold: true,
    };

    // 1. the light, uncommissioned, on our driver
    const light = start(LIGHT, lightConfig, { env: lightEnv, timeoutMs: 80_000 });
    const fresh = await expectEvent(light, "ready");
    assert.equal(fresh.commissioned, false);
    assert.deepEqual(fresh.fabrics, []);
    assert.deepEqual(fresh.oursOpened, [nodeDir]);

    // 2. the controller commissions it over loopback and toggles it
    const controllerRoot = tempDir();
    const controller = start(CONTROLLER, { storagePath: path.join(controllerRoot, "storage") }, {
        env: matterEnv(controllerRoot),
        timeoutMs: 80_000,
    });
    await expectEvent(controller, "ready");
    controller.send(JSON.stringify({ cmd: "commission", port, passcode: PASSCODE, discriminator: DISCRIMINATOR }));
    const commissioned = await expectEvent(controller, "commissioned", 60_000);

    controller.send(JSON.stringify({ cmd: "toggle" }));
    await expectEvent(controller, "toggled");
    assert.equal((await expectEvent(light, "onoff")).onOff, true);

    // 3. the light closes: its fabric and state are in our WAL directory
    const { code } = await light.close();
    assert.equal(code, 0, light.output());
    const closed = light.events.find(e => e.event === "closed");
    assert.equal(closed.commissioned, true);
    assert.equal(closed.fabrics.length, 1);
    assert.equal(closed.fabrics[0].nodeId, commissioned.nodeId, "the light's operational node id is the one the controller assigned");
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(nodeDir, "driver.json"), "utf8")), { kind: "wal", type: "kv" });
    const stored = new WalStorageDriver(nodeDir, { fsync: false });
    await stored.initialize();
    try {
        // matter.js's FabricManager keeps the fabrics (with their keys) in context "fabrics"
        const fabrics = await stored.get(["fabrics"], "fabrics");
        assert.equal(fabrics?.length, 1, "the fabric is stored in the WAL directory");
        assert.equal(String(fabrics[0].nodeId), commissioned.nodeId);
        assert.equal((await stored.get(["root", "accessControl"], "acl"))?.length, 1, "the controller's ACL entry");
        assert.equal(await stored.get(["root", "parts", "light", "onOff"], "onOff"), true);
    } finally {
        await stored.close();
    }

    // 4. a fresh light process on the same storage is commissioned already ...
    const again = start(LIGHT, lightConfig, { env: lightEnv, timeoutMs: 80_000 });
    const restarted = await expectEvent(again, "ready");
    assert.equal(restarted.commissioned, true);
    assert.deepEqual(restarted.fabrics, closed.fabrics);
    assert.equal(restarted.onOff, true);
    assert.equal(restarted.uniqueId, fresh.uniqueId);
    assert.deepEqual(restarted.oursOpened, [nodeDir]);

    // ... and the controller reaches it again over CASE with the fabric it survived with
    controller.send(JSON.stringify({ cmd: "toggle" }));
    const toggled = await expectEvent(controller, "toggled");
    assert.equal((await expectEvent(again, "onoff")).onOff, false);
    assert.ok(toggled.attempts >= 1);

    assert.equal((await again.close()).code, 0, again.output());
    controller.send(JSON.stringify({ cmd: "close" }));
    await expectEvent(controller, "closed");
    await controller.done;
});
