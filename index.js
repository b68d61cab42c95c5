// ES module entry (`import … from "matter-wal-native"`): the driver bound to matter.js's ES
// module build, so an ES module app's errors are its own StorageError classes and
// registerWalDriver() registers in its Environment.default. See lib/api.cjs.

import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

let matter;
try {
    matter = await import("@matter/general");
} catch {
    matter = undefined; // an optional peer dependency: plain directories still work
}

const api = require("./lib/api.cjs").createApi(matter, () => import("@matter/nodejs"));

export const {
    WalStorageDriver,
    WalTransaction,
    WalSnapshot,
    StorageError,
    StorageCommitError,
    StorageLockError,
    registerWalDriver,
    unregisterWalDriver,
    setLogLevel,
} = api;

export default WalStorageDriver;
