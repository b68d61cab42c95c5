// Types of the public API (index.js). The native classes it wraps are typed in
// binding.d.ts, which `napi build` generates from the Rust sources.

/** Any value matter.js stores (its `SupportedStorageTypes`). */
export type StorageValue =
    | string
    | number
    | boolean
    | bigint
    | Uint8Array
    | null
    | undefined
    | StorageValue[]
    | readonly StorageValue[]
    | Map<StorageValue, StorageValue>
    | { [key: string]: StorageValue };

/** Position of a commit in the log: segment number and line offset within it. */
export interface WalCommitId {
    segment: number;
    offset: number;
}

/** Base class of every error this driver raises (matter.js's class when `@matter/general` is installed). */
export declare class StorageError extends Error {}
/** Misuse of a transaction (reuse after commit/dispose, nesting). */
export declare class StorageCommitError extends StorageError {}
/** The storage directory is locked by another driver or process. */
export declare class StorageLockError extends StorageError {}

/** The `path` of a matter.js `Directory`. */
export interface DirectoryLike {
    readonly path: string;
}

/** A matter.js `DatafileRoot`: its directory is used and its lock taken in initialize/close. */
export interface DatafileRootLike {
    readonly directory: DirectoryLike;
    readonly namespace?: string;
    lock(): Promise<{ close(): Promise<void> }>;
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
export interface WalStorageDescriptor {
    kind: string;
    type?: "kv" | "blob";
    maxSegmentSize?: number;
    fsync?: boolean;
    compressSnapshot?: boolean;
    compressLog?: boolean;
    headSnapshot?: boolean;
}

/** The store as of one commit; queries are synchronous. */
export interface WalSnapshot {
    readonly commitId: WalCommitId;
    readonly ts: number;
    /** Context key ("a.b") → key → value. Built on each access. */
    readonly data: Record<string, Record<string, StorageValue>>;
    get(contexts: string[], key: string): StorageValue | undefined;
    keys(contexts: string[]): string[];
    values(contexts: string[]): Record<string, StorageValue>;
    contexts(contexts: string[]): string[];
}

/** Buffered writes committed as one WAL line; reads see them over the committed state. */
export declare class WalTransaction implements Disposable, AsyncDisposable {
    private constructor();
    readonly committed: boolean;
    readonly disposed: boolean;
    /** Always true: a transaction exists only on an initialized driver. */
    readonly initialized: true;
    readonly type: "kv";
    set(contexts: string[], values: Record<string, StorageValue>): void;
    set(contexts: string[], key: string, value: StorageValue): void;
    delete(contexts: string[], key: string): void;
    clearAll(contexts: string[]): void;
    get(contexts: string[], key: string): Promise<StorageValue | undefined>;
    has(contexts: string[], key: string): Promise<boolean>;
    keys(contexts: string[]): Promise<string[]>;
    values(contexts: string[]): Promise<Record<string, StorageValue>>;
    contexts(contexts: string[]): Promise<string[]>;
    /** Writes all buffered ops as one commit; resolves when durable. */
    commit(): Promise<void>;
    /** Always throws StorageCommitError: transactions do not nest. */
    begin(): never;
    initialize(): never;
    close(): never;
    /** @deprecated Always throws; use clearAll(). */
    clear(): never;
    [Symbol.dispose](): void;
    [Symbol.asyncDispose](): Promise<void>;
}

/** matter.js's write-ahead-log storage driver, implemented in Rust. */
export declare class WalStorageDriver {
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
    /** Creates and initializes a driver, as matter.js's StorageService does. */
    static create(namespace: DatafileRootLike | string, descriptor?: Partial<WalStorageDescriptor>): Promise<WalStorageDriver>;

    constructor(namespace?: DatafileRootLike | string, options?: WalStorageOptions);

    readonly type: "kv";
    /** "wal", per instance as matter.js reads it (`StorageManager.driverId`, storage logs). */
    readonly id: "wal";
    readonly root: DatafileRootLike | undefined;
    /** The storage directory. */
    readonly path: string;
    readonly initialized: boolean;
    readonly writeCoalescingInterval: undefined;

    initialize(): Promise<void>;
    /** Lets queued writes finish, writes the final snapshot, cleans, releases the lock. */
    close(): Promise<void>;

    get(contexts: string[], key: string): Promise<StorageValue | undefined>;
    has(contexts: string[], key: string): Promise<boolean>;
    keys(contexts: string[]): Promise<string[]>;
    /** A fresh copy of the context's values. */
    values(contexts: string[]): Promise<Record<string, StorageValue>>;
    /** Sub-context names directly below `contexts` (`[]` for the top level). */
    contexts(contexts: string[]): Promise<string[]>;
    set(contexts: string[], values: Record<string, StorageValue>): Promise<void>;
    set(contexts: string[], key: string, value: StorageValue): Promise<void>;
    delete(contexts: string[], key: string): Promise<void>;
    /** Removes the context and all its sub-contexts; `[]` removes everything. */
    clearAll(contexts: string[]): Promise<void>;
    /** @deprecated Always throws; use clearAll(). */
    clear(): never;
    begin(): Promise<WalTransaction>;
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

/** The parts of a matter.js `StorageService` that {@link registerWalDriver} uses. */
export interface StorageServiceLike {
    registerDriver(driver: unknown): void;
    defaultDriver?: string;
    configuredDriver?: string;
}

/** A matter.js `Environment` (anything with `get(StorageService)`). */
export interface EnvironmentLike {
    get(type: unknown): unknown;
}

/**
 * Registers this native driver with matter.js's StorageService under id "wal", replacing
 * matter.js's TypeScript WalStorageDriver. `target` is an Environment or a StorageService
 * (default: `Environment.default`); `{ select: true }` also makes "wal" the environment's
 * driver. Needs `@matter/general`. Returns the StorageService.
 */
export declare function registerWalDriver<S extends StorageServiceLike = StorageServiceLike>(
    target?: EnvironmentLike | S,
    options?: { select?: boolean },
): S;

/** Puts matter.js's own TypeScript WalStorageDriver back under id "wal". Returns the StorageService. */
export declare function unregisterWalDriver<S extends StorageServiceLike = StorageServiceLike>(target?: EnvironmentLike | S): S;

export default WalStorageDriver;
