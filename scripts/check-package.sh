#!/usr/bin/env bash
# Packaging check (CI): the packed tarball, installed into a scratch app next to effect at another
# 3.x version than the one we develop with, must leave one copy of effect, type-check from
# TypeScript (nodenext, skipLibCheck false), and run: from ESM, from CommonJS (require(esm)), an
# upload through the lazily loaded @effect/platform-node, and a clear error once it is removed.
#
# By default the app uses the lowest versions the peer ranges claim that npm resolves together
# with @effect/platform-node; set BCD_CHECK_EFFECT, BCD_CHECK_PLATFORM, BCD_CHECK_PLATFORM_NODE,
# BCD_CHECK_CLI to try others. The packed `effect-bcd` bin then runs from the app (--help, --version,
# an upload of an empty folder). Needs only the npm registry (for the scratch install); everything else is loopback.
#
# Usage: scripts/check-package.sh   (or npm run check:package); BCD_CHECK_KEEP=1 keeps the scratch app.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
effect="${BCD_CHECK_EFFECT:-3.17.14}"
platform="${BCD_CHECK_PLATFORM:-0.90.10}"
platform_node="${BCD_CHECK_PLATFORM_NODE:-0.96.1}"
cli="${BCD_CHECK_CLI:-0.69.0}"
work="$(mktemp -d "${TMPDIR:-/tmp}/effect-bcd-package.XXXXXX")"
# BCD_CHECK_KEEP=1 keeps the scratch app for a look.
[ "${BCD_CHECK_KEEP:-}" = "1" ] || trap 'rm -rf "$work"' EXIT
say() { printf '[check-package %3ss] %s\n' "$SECONDS" "$*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

cd "$root"

# Every public module (src/index.ts's `export * as X`) has its own subpath export, and nothing else
# below the package is exported.
node -e '
  const fs = require("node:fs")
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"))
  const modules = [...fs.readFileSync("src/index.ts", "utf8").matchAll(/^export \* as (\w+) from "\.\/(\w+)\.js"/gm)]
    .map((m) => "./" + m[2])
  const expected = [".", ...modules, "./package.json"].sort()
  const actual = Object.keys(pkg.exports).sort()
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    console.error("package.json exports " + JSON.stringify(actual) + ", src/index.ts has " + JSON.stringify(expected))
    process.exit(1)
  }
' || fail "package.json's exports do not match src/index.ts's modules"

say "packing (prepack builds dist/)"
tarball="$(npm pack --silent --pack-destination "$work")"
tarball="$work/$(basename "$tarball")"
listing="$(tar -tzf "$tarball")"
grep -qx "package/LICENSE" <<<"$listing" || fail "LICENSE is not in the tarball"
grep -qx "package/dist/bin/effect-bcd.js" <<<"$listing" || fail "the effect-bcd bin is not in the tarball"
if grep -q "^package/dist/.*\.test\." <<<"$listing"; then fail "tests are in the tarball"; fi

app="$work/app"
mkdir -p "$app"
cd "$app"
types_node="$(node -p 'require(process.argv[1]).devDependencies["@types/node"]' "$root/package.json")"
cat >package.json <<'JSON'
{ "name": "effect-bcd-scratch-app", "private": true, "type": "module" }
JSON
say "installing the tarball with effect@$effect @effect/platform@$platform @effect/platform-node@$platform_node @effect/cli@$cli"
npm install --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error \
  "$tarball" "effect@$effect" "@effect/platform@$platform" "@effect/platform-node@$platform_node" \
  "@effect/cli@$cli" "@types/node@$types_node"

# One copy of effect, and every peer satisfied (npm ls exits non-zero on an invalid or missing one).
copies="$(npm ls effect --all --parseable | sort -u | grep -c . || true)"
[ "$copies" = "1" ] || { npm ls effect --all; fail "npm ls effect shows $copies copies of effect"; }
npm ls --all >/dev/null || { npm ls --all; fail "npm ls reports invalid or missing packages"; }
installed="$(node -p 'require("effect/package.json").version')"
[ "$installed" = "$effect" ] || fail "effect $installed was installed, not $effect"

cat >tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "target": "ES2022",
    "lib": ["ES2022"],
    "types": ["node"],
    "strict": true,
    "exactOptionalPropertyTypes": true,
    "skipLibCheck": false,
    "outDir": "out"
  },
  "include": ["app.ts"]
}
JSON

cat >app.ts <<'TS'
// A user's app: the public API by name, the Tracer alias next to effect's own Tracer.
import * as Command from "@effect/platform/Command"
import { Effect, Option, type Tracer } from "effect"
import { Backtrace, TraceError, Tracer as Bcd, TracerConfig, TraceOptions, type TracerBackend } from "effect-bcd"
import * as DeepTracer from "effect-bcd/Tracer"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as fs from "node:fs"

// @ts-expect-error internals are not exported
import type * as _Internal from "effect-bcd/internal/core/tracer"

const echo: TracerBackend.TracerBackend = {
  name: "echo",
  program: "sh",
  defaultTraceOptions: TraceOptions.defaults,
  command: (request) =>
    Command.make("sh", "-c", "printf '%s' \"$1\"", "sh", `${request.pid}:${Option.getOrElse(request.error, () => "")}`)
}

const server = http.createServer((req, res) => {
  let bytes = 0
  req.on("data", (chunk: Buffer) => (bytes += chunk.length))
  req.on("end", () => {
    received.push({ url: req.url ?? "", bytes })
    res.writeHead(req.method === "POST" && req.url === "/post?token=tok" ? 200 : 400).end("{}")
  })
})
const received: Array<{ url: string; bytes: number }> = []

const program = Effect.gen(function*() {
  // effect's Tracer (spans) and effect-bcd's, side by side.
  const echoed = yield* DeepTracer.trace(new Error("boom")).pipe(
    Effect.tap(() => Effect.map(Effect.currentSpan, (span: Tracer.Span) => span.name)),
    Effect.withSpan("checkout"),
    Effect.provide(Bcd.layer(echo))
  )
  if (echoed.stdout !== `${process.pid}:boom`) throw new Error(`unexpected stdout ${echoed.stdout}`)

  const port = yield* Effect.async<number>((resume) => {
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
  })
  const outputDir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-app-"))
  const uploaded = yield* Bcd.trace(new Error("upload me")).pipe(
    Effect.provide(Backtrace.live({
      tracerPath: process.env.FAKE_PTRACE!,
      outputDir,
      put: { endpoint: `http://127.0.0.1:${port}`, token: "tok", unlink: true }
    }))
  )
  server.close()
  if (received.length !== 1 || received[0]!.bytes === 0) throw new Error(`upload: ${JSON.stringify(received)}`)
  fs.rmSync(outputDir, { recursive: true, force: true })

  const internal = yield* Effect.promise(() =>
    import("effect-bcd/internal/core/tracer" + ".js").then(() => "exported", (e: { code?: string }) => e.code)
  )
  if (internal !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw new Error(`internals: ${internal}`)
  return { ok: true, uploaded: Option.isSome(uploaded.snapshot) }
}).pipe(
  Effect.catchIf(TraceError.isTraceError, (e) => Effect.die(e)),
  Effect.provide(TracerConfig.layer({ rateLimit: 0 }))
)

Effect.runPromise(program).then((result) => console.log(JSON.stringify(result)))
TS

cat >require.cjs <<'JS'
// A CommonJS app: require(esm) of effect-bcd (Node >= 20.19), with effect's CommonJS build beside it.
const { Effect, Layer } = require("effect")
const Command = require("@effect/platform/Command")
const { Tracer, TracerConfig, TraceOptions } = require("effect-bcd")
const backend = {
  name: "echo",
  program: "sh",
  defaultTraceOptions: TraceOptions.defaults,
  command: (request) => Command.make("sh", "-c", "printf '%s' \"$1\"", "sh", String(request.pid))
}
Effect.runPromise(
  Tracer.trace().pipe(Effect.provide(Layer.merge(Tracer.layer(backend), TracerConfig.layer({ rateLimit: 0 }))))
).then((result) => {
  if (result.stdout !== String(process.pid)) throw new Error("unexpected stdout " + result.stdout)
  console.log(JSON.stringify({ ok: true }))
})
JS

cat >missing.mjs <<'JS'
// The same app without the optional peer @effect/platform-node: uploads fail with a clear TracerConfigError.
import { Cause, Effect, Exit, Option } from "effect"
import { Backtrace, Tracer } from "effect-bcd"
const exit = await Effect.runPromiseExit(Tracer.trace().pipe(
  Effect.provide(Backtrace.live({ tracerPath: process.env.FAKE_PTRACE, put: { endpoint: "http://127.0.0.1:9", token: "t" } }))
))
const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
if (error?._tag !== "TracerConfigError" || !error.message.includes("@effect/platform-node")) {
  console.error(String(exit._tag === "Failure" ? exit.cause : "succeeded"))
  process.exit(1)
}
console.log(JSON.stringify({ ok: true, message: error.message }))
JS

say "type-checking app.ts (nodenext, skipLibCheck false, exactOptionalPropertyTypes)"
node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json || fail "the app does not type-check"

export FAKE_PTRACE="$root/test/fixtures/fake-ptrace.mjs"
run() {
  local name="$1"
  shift
  local out err
  out="$(node "$@" 2>"$work/$name.err")" || { cat "$work/$name.err" >&2; fail "$name exited with an error"; }
  err="$(cat "$work/$name.err")"
  # Two copies of effect make Effect print a "dedupe" warning when one runs the other's effects.
  if grep -qi "dedupe" <<<"$err"; then printf '%s\n' "$err" >&2; fail "$name: effect warns about two copies"; fi
  grep -q '"ok":true' <<<"$out" || { printf '%s\n%s\n' "$out" "$err" >&2; fail "$name did not finish"; }
  say "$name: $out"
}
run esm out/app.js
run require require.cjs

# The bin, as npm linked it: help, version, and an upload of an empty folder to a closed port (nothing to send).
help="$(node_modules/.bin/effect-bcd --help 2>&1)" || { printf '%s\n' "$help" >&2; fail "effect-bcd --help failed"; }
for command in upload check trace; do
  grep -q -- "- $command " <<<"$help" || { printf '%s\n' "$help" >&2; fail "effect-bcd --help lists no $command"; }
done
version="$(node_modules/.bin/effect-bcd --version)"
[ "$version" = "$(node -p 'require(process.argv[1]).version' "$root/package.json")" ] || fail "effect-bcd --version: $version"
mkdir -p empty
uploaded="$(node_modules/.bin/effect-bcd upload --endpoint http://127.0.0.1:9 --token t --json empty)" ||
  fail "effect-bcd upload of an empty folder failed"
grep -q '"uploaded":\[\]' <<<"$uploaded" || fail "effect-bcd upload: $uploaded"
say "effect-bcd bin: --help, --version $version, upload of an empty folder"
rm -rf node_modules/@effect/platform-node
run missing-platform-node missing.mjs
# Without its optional peers the bin says what to install, and exits 2.
set +e
missing_cli="$(node_modules/.bin/effect-bcd --help 2>&1)"
code=$?
set -e
[ "$code" = "2" ] && grep -q "needs @effect/platform-node" <<<"$missing_cli" ||
  { printf '%s\n' "$missing_cli" >&2; fail "effect-bcd without @effect/platform-node exited $code"; }
say "ok: effect $effect, @effect/platform $platform, @effect/platform-node $platform_node, @effect/cli $cli"
