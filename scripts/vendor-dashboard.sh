#!/usr/bin/env bash
# Refreshes the dashboard's vendored libraries and font from the npm registry, byte for byte.
# The versions are pinned here; the files are committed, so installing arkitekt builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PREACT=11.2.0
HTM=3.1.1
INTER=5.3.0

static=arkitekt/server/dashboard/static
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "preact@$PREACT" "htm@$HTM" "@fontsource-variable/inter@$INTER" >/dev/null)
for archive in "$work"/*.tgz; do
    mkdir -p "${archive%.tgz}"
    tar -xzf "$archive" -C "${archive%.tgz}"
done

preact="$work/preact-$PREACT/package"
htm="$work/htm-$HTM/package"
inter="$work/fontsource-variable-inter-$INTER/package"
cp "$preact/dist/preact.mjs" "$static/vendor/preact.mjs"
cp "$preact/hooks/dist/hooks.mjs" "$static/vendor/preact-hooks.mjs"
cp "$preact/LICENSE" "$static/vendor/LICENSE-preact"
cp "$htm/dist/htm.mjs" "$static/vendor/htm.mjs"
cp "$htm/LICENSE" "$static/vendor/LICENSE-htm"
cp "$inter/files/inter-latin-wght-normal.woff2" "$static/fonts/inter-latin-wght-normal.woff2"
cp "$inter/LICENSE" "$static/fonts/LICENSE-inter"
echo "vendored preact $PREACT, htm $HTM, Inter $INTER into $static"
