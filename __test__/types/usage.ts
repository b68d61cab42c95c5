// Typed usage of the public API, checked by `tsc --noEmit` (__test__/types.test.mjs) and never
// run. Each `@ts-expect-error` line is a misuse the typings must reject; tsc fails if it is
// accepted, so the typings are checked for precision as well as completeness.

import WalStorageDriverDefault, {
    registerWalDriver,
    setLogLevel,
    StorageCommitError,
    StorageError,
    StorageLockError,
    unregisterWalDriver,
    WalStorageDriver,
    WalTransaction,
    type StorageValue,
    type WalCommitId,
    type WalLogLevel,
    type WalSnapshot,
    type WalStorageDescriptor,
    type WalStorageOptions,
} from "matter-wal-native";
import type { DatafileRoot, Environment, StorageDriver, StorageService, WalSnapshot as MatterWalSnapshot } from "@matter/general";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_proof?: T): void {}

// --- statics, defaults, construction -------------------------------------------------------

const sameClass: typeof WalStorageDriver = WalStorageDriverDefault;
const id: "wal" = WalStorageDriver.id;
const defaults = WalStorageDriver.defaults;
const maxSegmentSize: 16777216 = defaults.maxSegmentSize;
const snapshotInterval: 21600000 = defaults.snapshotInterval;
const cleanInterval: undefined = defaults.cleanInterval;
const flags: [true, true, true, true] = [defaults.fsync, defaults.compressSnapshot, defaults.compressLog, defaults.headSnapshot];
// @ts-expect-error defaults are read-only
WalStorageDriver.defaults.fsync = false;

const options: WalStorageOptions = {
    storageDir: "/var/lib/node",
    maxSegmentSize: 1 << 20,
    fsync: false,
    snapshotInterval: 60_000,
    cleanInterval: 3_600_000,
    compressSnapshot: true,
    compressLog: true,
    headSnapshot: false,
    lock: true,
};
const withDirectory: WalStorageOptions = { storageDir: { path: "/var/lib/node" } };
// @ts-expect-error fsync is a boolean
const badOption: WalStorageOptions = { fsync: "yes" };
// @ts-expect-error unknown option
const unknownOption: WalStorageOptions = { syncEvery: 5 };

const plain = new WalStorageDriver("/var/lib/node", options);
const bare = new WalStorageDriver(undefined, { storageDir: "/var/lib/node" });
declare const root: DatafileRoot;
const onRoot = new WalStorageDriver(root);
// @ts-expect-error a namespace is a path or a DatafileRoot
new WalStorageDriver(42);

const descriptor: WalStorageDescriptor = { kind: "wal", fsync: false };
const created: Promise<WalStorageDriver> = WalStorageDriver.create(root, descriptor);
const createdFromPath: Promise<WalStorageDriver> = WalStorageDriver.create("/var/lib/node", { compressLog: false });

const type: "kv" = plain.type;
const path: string = plain.path;
const initialized: boolean = plain.initialized;
const rootOf: DatafileRoot | undefined = onRoot.root;

// --- a matter.js StorageDriver, registrable as matter.js's own -------------------------------

const asDriver: StorageDriver = new WalStorageDriver("/var/lib/node");
declare const storageService: StorageService;
storageService.registerDriver(WalStorageDriver);
const asMatterSnapshot = async (driver: WalStorageDriver): Promise<MatterWalSnapshot> => driver.snapshotAtTime();
const coalescing: undefined = plain.writeCoalescingInterval;

// --- values --------------------------------------------------------------------------------

const values: StorageValue[] = [
    "s",
    1.5,
    true,
    12n,
    new Uint8Array([1, 2]),
    null,
    undefined,
    [1, "two", [3n]],
    new Map<bigint, StorageValue>([[1n, new Map([["deep", [null]]])]]),
    { nested: { list: [{ bytes: new Uint8Array(0) }] } },
];

async function driverApi(driver: WalStorageDriver): Promise<void> {
    await driver.initialize();

    // Both set overloads.
    const one: Promise<void> = driver.set(["node0", "fabric"], "label", "Kitchen");
    const many: Promise<void> = driver.set(["node0", "fabric"], { label: "Kitchen", id: 1n, key: new Uint8Array(16) });
    await Promise.all([one, many]);
    // @ts-expect-error a key needs a value
    driver.set(["node0"], "label");
    // @ts-expect-error contexts are a string array
    driver.set("node0", "label", 1);

    const value: StorageValue | undefined = await driver.get(["node0", "fabric"], "label");
    const has: boolean = await driver.has(["node0", "fabric"], "label");
    const keys: string[] = await driver.keys(["node0", "fabric"]);
    const record: Record<string, StorageValue> = await driver.values(["node0", "fabric"]);
    const subContexts: string[] = await driver.contexts([]);
    await driver.delete(["node0", "fabric"], "label");
    await driver.clearAll(["node0"]);
    const cleared: () => never = driver.clear;
    void [value, has, keys, record, subContexts, cleared];

    // Transactions.
    const tx: WalTransaction = await driver.begin();
    tx.set(["a"], "k", 1);
    tx.set(["a"], { k: 2, l: [3] });
    tx.delete(["a"], "k");
    tx.clearAll(["b"]);
    const inTx: StorageValue | undefined = await tx.get(["a"], "l");
    const txKeys: string[] = await tx.keys(["a"]);
    const state: [boolean, boolean, true, "kv"] = [tx.committed, tx.disposed, tx.initialized, tx.type];
    // @ts-expect-error transaction writes are buffered: they return nothing to await
    const notAPromise: Promise<void> = tx.set(["a"], "k", 1);
    await tx.commit();
    void [inTx, txKeys, state];
    {
        using scoped = await driver.begin();
        scoped.set(["a"], "k", 3);
    }
    {
        await using scopedAsync = await driver.begin();
        await scopedAsync.commit();
    }
    // @ts-expect-error transactions are created by begin()
    new WalTransaction();

    // Time travel.
    const now: WalSnapshot = await driver.snapshotAtTime();
    const past: WalSnapshot = await driver.snapshotAtTime(Date.now() - 60_000);
    const commitId: WalCommitId = past.commitId;
    const atCommit: WalSnapshot = await driver.snapshotAtCommit(commitId);
    const latest: WalSnapshot = await driver.snapshotAtCommit();
    const ts: number = atCommit.ts;
    const data: Record<string, Record<string, StorageValue>> = latest.data;
    const fromSnapshot: StorageValue | undefined = now.get(["a"], "k");
    const snapshotKeys: string[] = now.keys(["a"]);
    const snapshotValues: Record<string, StorageValue> = now.values(["a"]);
    const snapshotContexts: string[] = now.contexts([]);
    // @ts-expect-error snapshots are read-only
    now.ts = 5;
    // @ts-expect-error a commit id has a segment and an offset
    driver.snapshotAtCommit({ segment: 1 });
    await now.save("/var/backups/node", { compress: false, basename: "before-update" });
    void [ts, data, fromSnapshot, snapshotKeys, snapshotValues, snapshotContexts];

    const copy: WalStorageDriver = await driver.clone();
    await copy.close();
    await driver.close();
}

// --- errors --------------------------------------------------------------------------------

function classify(error: unknown): string {
    if (error instanceof StorageLockError) return `locked: ${error.message}`;
    if (error instanceof StorageCommitError) return "transaction misuse";
    if (error instanceof StorageError) return "storage";
    return "other";
}
const lockIsStorageError: StorageError = new StorageLockError("x");
const commitIsStorageError: StorageError = new StorageCommitError("x");
const storageIsError: Error = new StorageError("x");

// --- logging and matter.js registration -------------------------------------------------------

const level: WalLogLevel = "debug";
setLogLevel(level);
setLogLevel("off");
// @ts-expect-error unknown level
setLogLevel("verbose");

declare const service: StorageService;
declare const environment: Environment;
const registered: StorageService = registerWalDriver(service, { select: true });
const viaEnvironment: StorageService = registerWalDriver(environment);
const restored: StorageService = unregisterWalDriver();
// @ts-expect-error select is a boolean
registerWalDriver(service, { select: "yes" });

assertType<Equal<Awaited<ReturnType<WalStorageDriver["get"]>>, StorageValue | undefined>>();
assertType<Equal<Parameters<WalStorageDriver["delete"]>, [contexts: readonly string[], key: string]>>();

export {
    sameClass,
    id,
    maxSegmentSize,
    snapshotInterval,
    cleanInterval,
    flags,
    withDirectory,
    badOption,
    unknownOption,
    bare,
    created,
    createdFromPath,
    type,
    path,
    initialized,
    rootOf,
    coalescing,
    values,
    driverApi,
    classify,
    lockIsStorageError,
    commitIsStorageError,
    storageIsError,
    registered,
    viaEnvironment,
    restored,
    asDriver,
    asMatterSnapshot,
};
