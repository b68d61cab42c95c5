// Types of the public API (index.js, index.cjs; lib/api.cjs). They build on matter.js's own
// types from `@matter/general` (an optional peer dependency, installed with every matter.js
// app): the driver is a `StorageDriver`, its transactions `StorageDriver.Transaction`s, values
// `SupportedStorageTypes`. index.d.cts is the same text for CommonJS importers (so that the
// matter.js types it refers to are those of the build a CommonJS app loads); __test__/types
// checks that the two stay identical.

import type {
    CloneableStorage,
    DataNamespace,
    DatafileRoot,
    Directory,
    Environment,
    StorageDriver,
    StorageService,
    SupportedStorageTypes,
} from "@matter/general";

/** Position of a commit in the log: segment number and line offset within it. */
export interface WalCommitId {
    segment: number;
    offset: number;
}
/** Any value matter.js stores: its `SupportedStorageTypes`. */
export type StorageValue = SupportedStorageTypes;
/** The error classes: matter.js's own (those of the build your app loaded). */
export { StorageCommitError, StorageError, StorageLockError } from "@matter/general";

/** The `path` of a matter.js `Directory`. */
export interface DirectoryLike {
    readonly path: string;
}

/** Constructor options; every one is optional and defaults to {@link WalStorageDriver.defaults}. */
export interface WalStorageOptions {
    /** Storage directory; overrides the namespace's. A path or a matter.js `Directory`. */
    storageDir?: string | DirectoryLike;
    /**
     * Bytes after which the writer rotates to a new segment.
     * @defaultValue 16 MiB (16777216)
     */
    maxSegmentSize?: number;
    /**
     * fsync every commit batch before its promises resolve.
     * @defaultValue true
     */
    fsync?: boolean;
    /**
     * Milliseconds between periodic snapshots.
     * @defaultValue 6 hours (21600000)
     */
    snapshotInterval?: number;
    /**
     * Milliseconds between removals of segments covered by the snapshot.
     * @defaultValue undefined (periodic cleaning off; close still cleans)
     */
    cleanInterval?: number;
    /**
     * gzip snapshot.json / head.json.
     * @defaultValue true
     */
    compressSnapshot?: boolean;
    /**
     * gzip rotated segments.
     * @defaultValue true
     */
    compressLog?: boolean;
    /**
     * Fold removed segments into head.json when cleaning.
     * @defaultValue true
     */
    headSnapshot?: boolean;
    /**
     * Take matter.lock natively.
     * @defaultValue true for plain paths, false for a DatafileRoot (which locks itself)
     */
    lock?: boolean;
}

/** The `driver.json` descriptor matter.js's StorageService passes to {@link WalStorageDriver.create}. */
export interface WalStorageDescriptor extends StorageDriver.Descriptor {
    maxSegmentSize?: number;
    fsync?: boolean;
    compressSnapshot?: boolean;
    compressLog?: boolean;
    headSnapshot?: boolean;
}

/** The store as of one commit, with matter.js's `WalSnapshot` surface; queries are synchronous. */
export interface WalSnapshot {
    readonly commitId: WalCommitId;
    readonly ts: number;
    /** Context key ("a.b") → key → value. Built on each access. */
    readonly data: Record<string, Record<string, SupportedStorageTypes>>;
    get(contexts: string[], key: string): SupportedStorageTypes | undefined;
    keys(contexts: string[]): string[];
    values(contexts: string[]): Record<string, SupportedStorageTypes>;
    contexts(contexts: string[]): string[];
    /** Writes this state as `<basename>.json[.gz]` (default "snapshot", gzipped) into `dir`. */
    save(dir: Directory | DirectoryLike | string, options?: { compress?: boolean; basename?: string }): Promise<void>;
}

/** Buffered writes committed as one WAL line; reads see them over the committed state. */
export declare class WalTransaction extends StorageDriver.Transaction {
    private constructor();
    override get committed(): boolean;
    override get disposed(): boolean;
    /** Always true: a transaction exists only on an initialized driver. */
    override get initialized(): true;
    override set(contexts: readonly string[], values: Record<string, SupportedStorageTypes>): void;
    override set(contexts: readonly string[], key: string, value: SupportedStorageTypes): void;
    override delete(contexts: readonly string[], key: string): void;
    override clearAll(contexts: readonly string[]): void;
    /** Synchronous when this transaction's own ops decide the key (as matter.js's). */
    override get(contexts: readonly string[], key: string): SupportedStorageTypes | undefined | Promise<SupportedStorageTypes | undefined>;
    override has(contexts: readonly string[], key: string): boolean | Promise<boolean>;
    override keys(contexts: readonly string[]): Promise<string[]>;
    override values(contexts: readonly string[]): Promise<Record<string, SupportedStorageTypes>>;
    override contexts(contexts: readonly string[]): Promise<string[]>;
    /** Writes all buffered ops as one commit; resolves when durable. */
    override commit(): Promise<void>;
    /** Always throws StorageCommitError: transactions do not nest. */
    override begin(): never;
    override initialize(): never;
    override close(): never;
    /** @deprecated Always throws; use clearAll(). */
    override clear(): never;
    override [Symbol.dispose](): void;
    override [Symbol.asyncDispose](): Promise<void>;
}

/** matter.js's write-ahead-log storage driver, implemented in Rust: a matter.js `StorageDriver`. */
export declare class WalStorageDriver extends StorageDriver implements CloneableStorage {
    static readonly id: "wal";
    /** matter.js's defaults (a frozen object). */
    static readonly defaults: Readonly<{
        maxSegmentSize: 16777216;
        fsync: true;
        snapshotInterval: 21600000;
        cleanInterval: undefined;
        compressSnapshot: true;
        compressLog: true;
        headSnapshot: true;
    }>;
    /** Creates and initializes a driver, as matter.js's StorageService does (`registerDriver(WalStorageDriver)`). */
    static create(namespace: DataNamespace | string, descriptor?: Partial<WalStorageDescriptor>): Promise<WalStorageDriver>;

    /** A matter.js `DatafileRoot` (its lock is taken) or a directory path (locked natively). */
    constructor(namespace?: DatafileRoot | string, options?: WalStorageOptions);

    /** "wal", per instance as matter.js reads it (`StorageManager.driverId`, storage logs). */
    override get id(): "wal";
    readonly root: DatafileRoot | undefined;
    /** The storage directory. */
    readonly path: string;
    override readonly initialized: boolean;
    readonly writeCoalescingInterval: undefined;

    override initialize(): Promise<void>;
    /** Lets queued writes finish, writes the final snapshot, cleans, releases the lock. */
    override close(): Promise<void>;

    override get(contexts: readonly string[], key: string): Promise<SupportedStorageTypes | undefined>;
    override has(contexts: readonly string[], key: string): Promise<boolean>;
    override keys(contexts: readonly string[]): Promise<string[]>;
    /** A fresh copy of the context's values. */
    override values(contexts: readonly string[]): Promise<Record<string, SupportedStorageTypes>>;
    /** Sub-context names directly below `contexts` (`[]` for the top level). */
    override contexts(contexts: readonly string[]): Promise<string[]>;
    override set(contexts: readonly string[], values: Record<string, SupportedStorageTypes>): Promise<void>;
    override set(contexts: readonly string[], key: string, value: SupportedStorageTypes): Promise<void>;
    override delete(contexts: readonly string[], key: string): Promise<void>;
    /** Removes the context and all its sub-contexts; `[]` removes everything. */
    override clearAll(contexts: readonly string[]): Promise<void>;
    /** @deprecated Always throws; use clearAll(). */
    override clear(): never;
    override begin(): Promise<WalTransaction>;
    /** The state as of `asOf` (ms since epoch); the current state when omitted. */
    snapshotAtTime(asOf?: number): Promise<WalSnapshot>;
    /** The state as of a commit; the current state when omitted. */
    snapshotAtCommit(commitId?: WalCommitId): Promise<WalSnapshot>;
    /** A snapshot-consistent copy in a temporary directory, opened and unlocked. */
    clone(): Promise<WalStorageDriver>;
}

/** Levels of the native core's logging, most severe first. */
export type WalLogLevel = "error" | "warn" | "info" | "debug" | "trace" | "off";

/**
 * Sets how verbose the native core's logging is, for all drivers of the process (default
 * "info"). Events go to matter.js's `Logger` (facility "WalStorageDriver") when
 * `@matter/general` is installed, otherwise to `console`.
 */
export declare function setLogLevel(level: WalLogLevel): void;

/**
 * Registers this native driver with matter.js's StorageService under id "wal", replacing
 * matter.js's TypeScript WalStorageDriver. `target` is an Environment or a StorageService
 * (default: `Environment.default`); `{ select: true }` also makes "wal" the environment's
 * driver. Returns the StorageService.
 */
export declare function registerWalDriver(target?: Environment | StorageService, options?: { select?: boolean }): StorageService;

/** Puts matter.js's own TypeScript WalStorageDriver back under id "wal". Returns the StorageService. */
export declare function unregisterWalDriver(target?: Environment | StorageService): StorageService;

export default WalStorageDriver;
