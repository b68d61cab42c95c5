// A matter.js on/off light whose storage is matter-wal-native's WalStorageDriver.
//
//   node examples/matter-light.mjs [--storage-path=DIR] [--loopback] [matter.js options]
//
// Commission it with the pairing code it prints (e.g. chip-tool or a phone app), switch it, stop
// it with Ctrl-C and start it again: it is still commissioned, read back from DIR/wal-light/
// (wal/*.jsonl, snapshot.json.gz, driver.json = {"kind":"wal"}). A node that ran on matter.js's
// "file" (or its own "wal") driver before is migrated into this driver the first time; the old
// directory is kept under DIR/.migrations/.
//
// --loopback listens on ::1 / 127.0.0.1 only and keeps mDNS on the loopback interface (for a try
// without a network; a controller then has to use the address directly).
// Every matter.js variable works as usual: --storage-path=..., MATTER_LOG_LEVEL=debug, ...

import { Environment, ServerNode, StorageManager } from "@matter/main";
import { OnOffLightDevice } from "@matter/main/devices/on-off-light";
import { registerWalDriver } from "matter-wal-native";

const loopback = process.argv.includes("--loopback");
if (loopback) {
    Environment.default.vars.set("mdns.networkInterface", "lo");
}

// The one line a matter.js app needs: our driver under id "wal", selected for this environment.
registerWalDriver(Environment.default, { select: true });

const node = await ServerNode.create({
    id: "wal-light",
    network: loopback ? { listeningAddressIpv4: "127.0.0.1", listeningAddressIpv6: "::1" } : {},
    productDescription: { name: "WAL light", deviceType: OnOffLightDevice.deviceType },
    basicInformation: {
        vendorName: "matter-wal-native",
        productName: "WAL light",
        productLabel: "WAL light",
        nodeLabel: "WAL light",
        serialNumber: "wal-light-0001",
    },
});

const light = await node.add(OnOffLightDevice, { id: "light" });
light.events.onOff.onOff$Changed.on(on => console.log(`Light is ${on ? "ON" : "off"}`));

node.lifecycle.online.on(() => {
    const storage = node.env.get(StorageManager);
    console.log(
        `WAL light online: storage driver "${storage.driverId}" (matter-wal-native), unique id ${node.state.basicInformation.uniqueId},`,
        node.state.commissioning.commissioned
            ? `commissioned on ${node.state.operationalCredentials.fabrics.length} fabric(s)`
            : `pairing code ${node.state.commissioning.pairingCodes.manualPairingCode}`,
    );
});

// Runs until SIGINT/SIGTERM; matter.js then closes the node and with it the storage.
await node.run();
