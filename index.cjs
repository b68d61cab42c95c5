"use strict";
// CommonJS entry (`require("matter-wal-native")`): the driver bound to matter.js's CommonJS
// build, so a CommonJS app's errors are its own StorageError classes and registerWalDriver()
// registers in its Environment.default. See lib/api.cjs.

let matter;
try {
    matter = require("@matter/general");
} catch {
    matter = undefined; // an optional peer dependency: plain directories still work
}

const api = require("./lib/api.cjs").createApi(matter, async () => require("@matter/nodejs"));

module.exports = { ...api, default: api.WalStorageDriver };
