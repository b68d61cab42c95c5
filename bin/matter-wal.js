#!/usr/bin/env node
// matter-wal: look into (and compact) a WAL storage directory written by matter-wal-native or
// by matter.js's own WalStorageDriver. This script only parses arguments and prints; the work
// is done by the native core (src/tool/ through src/binding/cli.rs).

import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

const EXIT_OK = 0;
const EXIT_FAILED = 1; // command failed, or verify found damage
const EXIT_USAGE = 2;
const EXIT_LOCKED = 3; // compact refused: a live process holds the lock

/**
 * An aligned option list: each row is [flag, description line, continuation lines…]; every
 * description starts in the same column, the widest flag's plus two.
 */
function optionList(rows) {
    const all = [
        ...rows,
        ["--progress MODE", "progress on stderr: auto (default: once a run takes over a second),", "always, never"],
        ["-q, --quiet", "same as --progress never"],
        ["-h, --help", "this help"],
    ];
    const width = Math.max(...all.map(([flag]) => flag.length));
    return all
        .map(([flag, ...lines]) => lines.map((line, i) => `  ${(i === 0 ? flag : "").padEnd(width)}  ${line}`).join("\n"))
        .join("\n");
}

const HELP = {
    main: `Usage: matter-wal <command> DIR [options]

Looks into a matter.js WAL storage directory (the one holding wal/, snapshot.json[.gz],
head.json[.gz], matter.lock), whether written by matter-wal-native or by matter.js's own
WalStorageDriver. Every command only reads, except compact. Pointed at a matter.js storage
root (or another driver's node directory), it lists the node directories and their drivers.

Commands:
  inspect DIR   segments (plain/gz, sizes, commits, time range), snapshots, lock holder
  dump DIR      the stored state, now or as of a time or commit
  log DIR       the commits, one line each
  verify DIR    check every segment and snapshot; exit code 1 on damage
  compact DIR   snapshot + clean + gzip now (takes the lock; refuses while a process uses DIR)

Run "matter-wal <command> --help" for a command's options.
Exit codes: 0 ok, 1 failure or damage found, 2 usage error, 3 directory locked by a live process.`,
    inspect: `Usage: matter-wal inspect DIR [--json]

Shows the lock holder, snapshot.json and head.json (file, size, commit id, time, contexts
and keys), and every log segment (plain or gzipped, size on disk and decompressed, commit
count, commit offsets, time range), then any problems found. Read-only.

${optionList([["--json", "the report as JSON"]])}`,
    dump: `Usage: matter-wal dump DIR [--context a.b] [--as-of TIME | --commit SEG:OFF] [--json]

Prints the stored state: one [context] header per context, then "key = value" lines
(bigint as 12n, bytes as <n bytes hex>, Map(n) { k => v }). Read-only.

${optionList([
    ["--context a.b", "only this context and the contexts below it"],
    [
        "--as-of TIME",
        "the state after the last commit at or before TIME: an ISO date",
        "(2025-01-31T12:00:00Z), milliseconds since the epoch, or a relative",
        "time like -30s, -15m, -2h, -1d",
    ],
    ["--commit SEG:OFF", "the state after this commit (ids as \"log\" prints them, e.g. 3:17);", "a commit that does not exist is an error"],
    ["--json", "matter.js's toJson encoding, formatted exactly like snapshot.json"],
])}`,
    log: `Usage: matter-wal log DIR [--since TIME] [--context a.b] [--json]

Lists the commits still in the log, oldest first, one line each:
  TIME  SEG:OFF  set ctx key=value ...; del ctx key ...; clear ctx
Commits of segments removed by cleaning are folded into head.json and not listed. Read-only.

${optionList([
    ["--since TIME", "only commits at or after TIME (ISO date, ms since epoch, or -2h style)"],
    ["--context a.b", "only commits touching this context or those below it (showing only those ops)"],
    ["--json", "one JSON object per commit: the WAL line plus its commitId"],
])}`,
    verify: `Usage: matter-wal verify DIR [--json]

Reads every segment line by line and both snapshots, and reports malformed lines, torn
(incomplete) last lines, unreadable files, missing segments, a log whose beginning was
removed without a snapshot covering it, and a snapshot ahead of the log (errors), plus
leftover temp files, stale copies and clock jumps (warnings). A torn last line in the
segment a live process is writing is only a warning. Exits with 1 when there is an error.
Read-only.

${optionList([["--json", "the findings as JSON"]])}`,
    compact: `Usage: matter-wal compact DIR [--no-head] [--no-compress-log]
                           [--compress-snapshot | --no-compress-snapshot] [--json]

Does now what the driver's maintenance does: writes snapshot.json[.gz] for the current state,
removes the segments it covers (folding them into head.json first), and gzips every segment
but the newest. Takes the directory lock (matter.lock) first and refuses, with exit code 3,
while a live process holds it; a lock left by a dead process is reclaimed.

${optionList([
    ["--no-head", "do not keep removed history in head.json"],
    ["--no-compress-log", "leave rotated segments uncompressed"],
    ["--compress-snapshot", "write snapshot.json.gz / head.json.gz"],
    ["--no-compress-snapshot", "write snapshot.json / head.json", "(default: keep the current format)"],
    ["--json", "the report as JSON"],
])}`,
};

class UsageError extends Error {}

/** Flags each command accepts: name → whether it takes a value. */
const FLAGS = {
    inspect: { json: false },
    verify: { json: false },
    dump: { context: true, "as-of": true, commit: true, json: false },
    log: { since: true, context: true, json: false },
    compact: { "no-head": false, "no-compress-log": false, "compress-snapshot": false, "no-compress-snapshot": false, json: false },
};

function parseArgs(argv) {
    const [command, ...rest] = argv;
    if (command === undefined || command === "-h" || command === "--help" || command === "help") {
        return { command: "help", topic: rest[0] };
    }
    if (command === "--version" || command === "-V") {
        return { command: "version" };
    }
    const known = FLAGS[command];
    if (known === undefined) {
        throw new UsageError(`unknown command "${command}"`);
    }
    const flags = {};
    const positional = [];
    let progress = "auto";
    for (let i = 0; i < rest.length; i++) {
        const arg = rest[i];
        if (arg === "-h" || arg === "--help") return { command: "help", topic: command };
        if (arg === "-q" || arg === "--quiet") {
            progress = "never";
            continue;
        }
        if (!arg.startsWith("--") || arg === "--") {
            positional.push(arg);
            continue;
        }
        let [name, value] = arg.slice(2).split(/=(.*)/s, 2);
        if (name === "progress") {
            value ??= rest[++i];
            if (!["auto", "always", "never"].includes(value)) {
                throw new UsageError(`--progress takes auto, always or never`);
            }
            progress = value;
            continue;
        }
        if (!(name in known)) {
            throw new UsageError(`unknown option --${name} for ${command}`);
        }
        if (known[name]) {
            value ??= rest[++i];
            if (value === undefined) throw new UsageError(`--${name} needs a value`);
        } else if (value !== undefined) {
            throw new UsageError(`--${name} takes no value`);
        }
        flags[name] = value ?? true;
    }
    if (positional.length !== 1) {
        throw new UsageError(positional.length === 0 ? `${command} needs a storage directory` : `too many arguments: ${positional.join(" ")}`);
    }
    return { command, dir: positional[0], flags, progress };
}

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** ISO date, ms since the epoch, or `-15m` style relative to now → ms since the epoch. */
function parseTime(text, flag) {
    if (/^\d+$/.test(text)) return Number(text);
    const relative = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
    if (relative) return Date.now() - Number(relative[1]) * UNITS[relative[2]];
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
        throw new UsageError(`--${flag} "${text}" is not a time (use an ISO date, ms since the epoch, or -30s/-15m/-2h/-1d)`);
    }
    return ms;
}

function parseCommit(text) {
    const match = /^(\d+):(\d+)$/.exec(text);
    if (!match) throw new UsageError(`--commit "${text}" is not SEG:OFF (e.g. 3:17)`);
    const [segment, offset] = [Number(match[1]), Number(match[2])];
    if (segment > 0xffffffff || offset > 0xffffffff) throw new UsageError(`--commit "${text}" is out of range`);
    return { segment, offset };
}

function print(text) {
    if (text.length > 0) process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

function printJson(result) {
    const { text: _text, ...data } = result;
    print(JSON.stringify(data, null, 2));
}

function run({ command, dir, flags, progress }) {
    const native = require("../load-native.cjs");
    switch (command) {
        case "inspect": {
            const result = native.inspectStorage(dir, { progress });
            flags.json ? printJson(result) : print(result.text);
            return EXIT_OK;
        }
        case "verify": {
            const result = native.verifyStorage(dir, { progress });
            flags.json ? printJson(result) : print(result.text);
            return result.errors > 0 ? EXIT_FAILED : EXIT_OK;
        }
        case "dump": {
            if (flags["as-of"] !== undefined && flags.commit !== undefined) {
                throw new UsageError("give either --as-of or --commit, not both");
            }
            const result = native.dumpStorage(dir, {
                context: flags.context,
                asOf: flags["as-of"] === undefined ? undefined : parseTime(flags["as-of"], "as-of"),
                commit: flags.commit === undefined ? undefined : parseCommit(flags.commit),
                json: flags.json === true,
                progress,
            });
            print(result.text);
            return EXIT_OK;
        }
        case "log": {
            const result = native.logStorage(dir, {
                since: flags.since === undefined ? undefined : parseTime(flags.since, "since"),
                context: flags.context,
                json: flags.json === true,
                progress,
            });
            if (result.firstSegment !== undefined && result.firstSegment !== null && result.firstSegment > 1) {
                process.stderr.write(
                    `matter-wal: note: segments before ${result.firstSegment} were removed by cleaning; their commits are folded into head.json\n`,
                );
            }
            if (result.lines.length > 0) print(result.lines.join("\n"));
            if (!flags.json) {
                process.stderr.write(`matter-wal: ${result.shown} of ${result.commits} commit${result.commits === 1 ? "" : "s"} listed\n`);
            }
            return EXIT_OK;
        }
        case "compact": {
            if (flags["compress-snapshot"] && flags["no-compress-snapshot"]) {
                throw new UsageError("give either --compress-snapshot or --no-compress-snapshot");
            }
            const result = native.compactStorage(dir, {
                compressSnapshot: flags["compress-snapshot"] ? true : flags["no-compress-snapshot"] ? false : undefined,
                headSnapshot: !flags["no-head"],
                compressLog: !flags["no-compress-log"],
                progress,
            });
            flags.json ? printJson(result) : print(result.text);
            return EXIT_OK;
        }
    }
    throw new UsageError(`unknown command "${command}"`);
}

function main(argv) {
    let parsed;
    try {
        parsed = parseArgs(argv);
        if (parsed.command === "help") {
            print(HELP[parsed.topic] ?? HELP.main);
            return EXIT_OK;
        }
        if (parsed.command === "version") {
            print(require("../package.json").version);
            return EXIT_OK;
        }
        return run(parsed);
    } catch (error) {
        if (error instanceof UsageError) {
            process.stderr.write(`matter-wal: ${error.message}\n${parsed?.command ? "" : "Run matter-wal --help for usage.\n"}`);
            return EXIT_USAGE;
        }
        process.stderr.write(`matter-wal: ${error?.message ?? error}\n`);
        return error?.name === "StorageLockError" ? EXIT_LOCKED : EXIT_FAILED;
    }
}

process.stdout.on("error", error => {
    // `matter-wal log DIR | head` closes the pipe early; that is not a failure.
    if (error.code === "EPIPE") process.exit(process.exitCode ?? EXIT_OK);
    throw error;
});

process.exitCode = main(process.argv.slice(2));
