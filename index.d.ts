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

export interface WalStorageOptions {
    /** Storage directory; overrides the namespace's. A path or a matter.js `Directory`. */
    storageDir?: string | DirectoryLike;
    /** Bytes after which the writer rotates to a new segment. Default 16 MiB. */
    maxSegmentSize?: number;
    /** fsync every commit batch before its promises resolve. Default true. */
    fsync?: boolean;
    /** Milliseconds between periodic snapshots. Default 6 hours. */
    snapshotInterval?: number;
    /** Milliseconds between removals of segments covered by the snapshot; undefined (default) disables. */
    cleanInterval?: number;
    /** gzip snapshot.json / head.json. Default true. */
    compressSnapshot?: boolean;
    /** gzip rotated segments. Default true. */
    compressLog?: boolean;
    /** Fold removed segments into head.json when cleaning. Default true. */
    headSnapshot?: boolean;
    /** Take matter.lock natively. Default: true for plain paths, false for a DatafileRoot (which locks itself). */
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
    readonly initialized: boolean;
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
    static readonly defaults: Readonly<{
        maxSegmentSize: number;
        fsync: boolean;
        snapshotInterval: number;
        cleanInterval: number | undefined;
        compressSnapshot: boolean;
        compressLog: boolean;
        headSnapshot: boolean;
    }>;
    /** Creates and initializes a driver, as matter.js's StorageService does. */
    static create(namespace: DatafileRootLike | string, descriptor?: Partial<WalStorageDescriptor>): Promise<WalStorageDriver>;

    constructor(namespace?: DatafileRootLike | string, options?: WalStorageOptions);

    readonly type: "kv";
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

/** Sets how verbose the native core's logging is (default "info"). */
export declare function setLogLevel(level: "error" | "warn" | "info" | "debug" | "trace" | "off"): void;

export default WalStorageDriver;
