#!/usr/bin/env bash
# The lower ends of the peer ranges, proven: a copy of the repository (the files git tracks) with
# effect, @effect/platform and @effect/platform-node at the lowest versions package.json's peer
# ranges allow (and the @effect/vitest of that effect), type-checked and tested. The suite with the
# exact dev versions (the newest we claim) is `npm test`. Needs the npm registry for the install.
#
# These lowest versions do not all declare each other as peers (@effect/platform-node 0.94.0 wants
# effect ^3.17.1), so the install takes --legacy-peer-deps. An app resolves newer patches; the
# packaging check (scripts/check-package.sh) installs such a set the ordinary way.
#
# Usage: scripts/test-floor.sh [vitest arguments, e.g. test/go.test.ts]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
effect="${BCD_FLOOR_EFFECT:-3.17.0}"
platform="${BCD_FLOOR_PLATFORM:-0.90.0}"
platform_node="${BCD_FLOOR_PLATFORM_NODE:-0.94.0}"
vitest="${BCD_FLOOR_EFFECT_VITEST:-0.25.0}"
# The command's @effect/cli, and its own peers (--legacy-peer-deps installs no peer by itself).
cli="${BCD_FLOOR_CLI:-0.69.0}"
printer="${BCD_FLOOR_PRINTER:-0.45.0}"
typeclass="${BCD_FLOOR_TYPECLASS:-0.36.0}"
work="$(mktemp -d "${TMPDIR:-/tmp}/effect-bcd-floor.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say() { printf '[test-floor %3ss] %s\n' "$SECONDS" "$*"; }

cd "$root"
git ls-files -z | xargs -0 cp --parents -t "$work"
cd "$work"
node -e '
  const fs = require("node:fs")
  const [effect, platform, platformNode, vitest, cli, printer, typeclass] = process.argv.slice(1)
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"))
  Object.assign(pkg.devDependencies, {
    effect,
    "@effect/platform": platform,
    "@effect/platform-node": platformNode,
    "@effect/vitest": vitest,
    "@effect/cli": cli,
    "@effect/printer": printer,
    "@effect/printer-ansi": printer,
    "@effect/typeclass": typeclass
  })
  fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2))
' "$effect" "$platform" "$platform_node" "$vitest" "$cli" "$printer" "$typeclass"
rm -f package-lock.json
say "installing effect@$effect @effect/platform@$platform @effect/platform-node@$platform_node @effect/vitest@$vitest @effect/cli@$cli"
npm install --no-audit --no-fund --legacy-peer-deps --prefer-offline --loglevel=error
# Keep these defaults equal to the lower ends of package.json's peer ranges.
node -e '
  for (const name of ["effect", "@effect/platform", "@effect/platform-node", "@effect/cli"]) {
    const version = require(name + "/package.json").version
    const range = require("./package.json").peerDependencies[name]
    console.log("[test-floor] " + name + " " + version + " (peer range " + range + ")")
  }
'
say "type-checking src, test, examples, bench, scripts"
npx tsc -p tsconfig.json --noEmit
say "running the tests"
npx vitest run "$@"
