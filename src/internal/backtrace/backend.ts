/**
 * The Backtrace backend (Go's `BTTracer`): argv rendering, the snapshot path,
 * and the backend value.
 *
 * @internal
 */
import * as Command from "@effect/platform/Command"
import type * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as path from "node:path"
import { type SnapshotUploadError, TracerRunError } from "../../TraceError.js"
import type * as TraceOptions from "../../TraceOptions.js"
import type * as Tracer from "../../Tracer.js"
import type { Stdio, TracerBackend, TraceRequest, TraceResult } from "../../TracerBackend.js"

/** Where Backtrace installs its tracer. */
export const DEFAULT_TRACER_PATH = "/opt/backtrace/bin/ptrace"

/** Go's `BTTracer` default signal set (the core's default too). */
export { DEFAULT_SIGNALS } from "../os/signals.js"

/**
 * An attribute key as it can go into `--kv=key:value`: each character a
 * key must not hold (`:`, a control character) becomes `_`, and a leading
 * `-` becomes `_`. Keys given to the layer are refused instead
 * (`badAttributeKey`); this covers `Tracer.addKV`, per-trace and span keys.
 */
export const attributeKey = (key: string): string =>
  key === "" ? "_" : key.replace(/[:\u0000-\u001f\u007f]/g, "_").replace(/^-/, "_")

/** `--kv=key:value`: one argv element, so no user string can be read as an option of its own. */
const kv = (key: string, value: string) => `--kv=${attributeKey(key)}:${value}`

/** `--classifier=name`: one argv element (a `_tag` such as `--load=/x.so` stays a classifier). */
const classifier = (name: string) => `--classifier=${name}`

/** How the error goes into argv (`Backtrace.Options.errorMessage`). */
export type ErrorMessage = "argv" | "omit"

/**
 * ptrace's argv for one request, in Go's order (`BTTracer.Finalize` over the
 * options `bcd.Trace` built): `--load=`, `--faulted`, the pid, the base
 * options as they were added (raw args, `--kv=key:value`,
 * `--classifier=name`), `--thread <tid>` (caller only), `--fault-thread
 * <tid>` (faulted), `--kv=error:<message>` (left out with `errorMessage:
 * "omit"`), `--classifier=<class>` of the error, the per-trace classifiers.
 * What Go has no counterpart for comes last: `--kv=fiber:<id>` (Go's goid
 * goes into `--module=go:`, which Node has no use for), the per-trace
 * attributes and the span's. Every user string is the value of an
 * `--opt=value` element, never an element of its own.
 */
export const renderArgs = (request: TraceRequest, errorMessage: ErrorMessage = "argv"): Array<string> => {
  const argv = ["--load=", "--faulted", String(request.pid)]
  let args = 0
  let attributes = 0
  let classifiers = 0
  for (const option of request.base) {
    switch (option._tag) {
      case "Args":
        argv.push(...option.args)
        args += option.args.length
        break
      case "Attribute":
        argv.push(kv(option.key, option.value))
        attributes++
        break
      case "Classifier":
        argv.push(classifier(option.name))
        classifiers++
    }
  }
  // A request built by hand may carry args that `base` does not list: they are base options too.
  argv.push(...request.args.slice(args))
  if (Option.isSome(request.tid)) {
    if (request.callerOnly) argv.push("--thread", String(request.tid.value))
    if (request.faulted) argv.push("--fault-thread", String(request.tid.value))
  }
  let rest = request.attributes.slice(attributes)
  if (Option.isSome(request.error)) {
    if (errorMessage === "argv") argv.push(kv("error", request.error.value))
    const [first] = rest
    if (first !== undefined && first[0] === "error" && first[1] === request.error.value) rest = rest.slice(1)
  }
  for (const name of request.classifiers.slice(classifiers)) argv.push(classifier(name))
  argv.push(kv("fiber", String(request.fiberId)))
  for (const [key, value] of rest) argv.push(kv(key, value))
  return argv
}

/** The tracer's stdout up to the first NUL byte, trimmed, resolved against `outputDir`. */
export const snapshotPath = (stdout: string, outputDir: string): Option.Option<string> => {
  const nul = stdout.indexOf("\0")
  const printed = (nul === -1 ? stdout : stdout.slice(0, nul)).trim()
  return printed === "" ? Option.none() : Option.some(path.resolve(outputDir, printed))
}

/** A validated configuration, ready to become a backend. */
export interface Settings {
  readonly tracerPath: string
  readonly outputDir: string
  readonly stdio: Stdio
  readonly defaultTraceOptions: TraceOptions.Resolved
  readonly signals: ReadonlyArray<NodeJS.Signals>
  readonly base: Tracer.Options
  readonly errorMessage: ErrorMessage
}

/** With uploads on, a tracer that printed no path left nothing to send. */
const missingSnapshot = (settings: Settings, result: TraceResult) =>
  new TracerRunError({
    path: settings.tracerPath,
    reason: "no-snapshot",
    detail: `printed no snapshot path (stdout: ${JSON.stringify(result.stdout.slice(0, 200))})`
  })

/** The backend value; `put` is present when uploads on trace are on. */
export const backend = (
  settings: Settings,
  put: Option.Option<(path: string) => Effect.Effect<void, SnapshotUploadError>>,
  secrets: ReadonlyArray<Redacted.Redacted<string>> = []
): TracerBackend => ({
  name: "backtrace",
  secrets,
  program: settings.tracerPath,
  defaultTraceOptions: settings.defaultTraceOptions,
  base: settings.base,
  command: (request) =>
    Command.make(settings.tracerPath, ...renderArgs(request, settings.errorMessage)).pipe(
      Command.workingDirectory(settings.outputDir)
    ),
  snapshot: (stdout) => snapshotPath(stdout, settings.outputDir),
  stdio: settings.stdio,
  signals: settings.signals,
  ...Option.match(put, {
    onNone: () => ({}),
    onSome: (upload) => ({
      put: (result: TraceResult) =>
        Option.match(result.snapshot, { onNone: () => missingSnapshot(settings, result), onSome: upload })
    })
  })
})
