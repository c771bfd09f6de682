#!/usr/bin/env bash
# Build the lab's binary artifacts from the Go module proxy into build/artifacts/:
#   ferretdb                 FerretDB 1.x, the lab's MongoDB-compatible endpoint (on PostgreSQL)
#   mongodump, mongorestore  from the mongo-tools module, for backups and restores of cdr
# Module hashes are pinned by the go.sum files beside this script (GOFLAGS=-mod=readonly), so a
# changed module is refused. Builds are skipped when the inputs are unchanged (stamp file).
# Usage: tools/artifacts/build.sh [OUTPUT_DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build/artifacts}
mkdir -p "$out"
out=$(cd "$out" && pwd)

go_bin=${GO:-go}
if ! command -v "$go_bin" >/dev/null 2>&1; then
    echo "error: Go is not installed; run 'make bootstrap' (as root) to install it, then retry" >&2
    exit 1
fi

ferretdb_version=$(awk '$1 == "require" && $2 == "github.com/FerretDB/FerretDB" {print $3}' "$here/ferretdb/go.mod")
inputs_hash=$(cat "$0" "$here"/ferretdb/go.mod "$here"/ferretdb/go.sum "$here"/mongo-tools/go.mod \
    "$here"/mongo-tools/go.sum "$here"/mongo-tools/tools.go | sha256sum | cut -c1-16)
stamp="$out/.inputs-$inputs_hash"
if [ -f "$stamp" ] && [ -x "$out/ferretdb" ] && [ -x "$out/mongodump" ] && [ -x "$out/mongorestore" ]; then
    echo "artifacts: up to date in $out (inputs $inputs_hash)"
    exit 0
fi

export CGO_ENABLED=0 GOFLAGS=-mod=readonly
# mongo-tools has no semantic-version tags, so the checksum database has no entry for its pseudo-version;
# the hash pinned in mongo-tools/go.sum is checked instead.
export GONOSUMDB=github.com/mongodb/mongo-tools

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

echo "artifacts: building FerretDB $ferretdb_version"
src=$(cd "$here/ferretdb" && "$go_bin" mod download -json "github.com/FerretDB/FerretDB@$ferretdb_version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$src" "$work/ferretdb"
chmod -R u+w "$work/ferretdb"
# FerretDB embeds its version from build/version/version.txt, which its release tooling writes.
echo "$ferretdb_version" > "$work/ferretdb/build/version/version.txt"
echo "followup-ops" > "$work/ferretdb/build/version/package.txt"
(cd "$work/ferretdb" && "$go_bin" build -trimpath -o "$out/ferretdb.new" ./cmd/ferretdb)
mv "$out/ferretdb.new" "$out/ferretdb"

echo "artifacts: building mongodump and mongorestore"
for tool in mongodump mongorestore; do
    (cd "$here/mongo-tools" && "$go_bin" build -trimpath -o "$out/$tool.new" "github.com/mongodb/mongo-tools/$tool/main")
    mv "$out/$tool.new" "$out/$tool"
done

"$out/ferretdb" --version | awk 'NR == 1'
(cd "$out" && sha256sum ferretdb mongodump mongorestore > SHA256SUMS)
rm -f "$out"/.inputs-*
touch "$stamp"
echo "artifacts: built into $out"
