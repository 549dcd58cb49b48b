/**
 * Checking `Backtrace.Options` when the layer is built: every bad option is a
 * `TracerConfigError` naming it.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Options } from "../../Backtrace.js"
import { TracerConfigError } from "../../TraceError.js"
import * as TraceOptions from "../../TraceOptions.js"
import { DEFAULT_SIGNALS, DEFAULT_TRACER_PATH, type Settings } from "./backend.js"
import { endpointUrl } from "./endpoint.js"
import { findExecutable } from "../core/executable.js"
import { ensureOutputDir, errnoText } from "../core/outputDir.js"
import * as signals from "../os/signals.js"
import { defaultRetry, uploadTimeout } from "../upload/policy.js"

/** Validated put options. The URL (it holds the token) stays out of sight. */
export interface PutSettings {
  readonly url: URL
  readonly unlink: boolean
  readonly onTrace: boolean
  readonly timeout: Duration.Duration
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly concurrency: number
}

const bad = (field: string, reason: string) => new TracerConfigError({ field, reason })

const noNul = (field: string, values: ReadonlyArray<string>) => {
  const index = values.findIndex((v) => v.includes("\0"))
  if (index !== -1) throw bad(field, `entry ${index} contains a NUL byte`)
}

/** Opening a FIFO blocks until its other end is opened: the tracer's start (the event loop) would freeze. */
const refuseFifo = (field: string, file: string) => {
  if (fs.statSync(file, { throwIfNoEntry: false })?.isFIFO()) {
    throw bad(field, `${file} is a FIFO; opening it would block until something opens its other end`)
  }
}

const checkStdin = (file: string) => {
  refuseFifo("stdin", file)
  try {
    fs.accessSync(file, fs.constants.R_OK)
    if (fs.statSync(file).isDirectory()) throw new Error("EISDIR")
  } catch (error) {
    throw bad("stdin", `cannot read ${file}: ${errnoText(error)}`)
  }
}

const checkStderr = (file: string) => {
  refuseFifo("stderr", file)
  try {
    fs.closeSync(fs.openSync(file, "a", 0o600))
  } catch (error) {
    throw bad("stderr", `cannot append to ${file}: ${errnoText(error)}`)
  }
}

const checkTimeout = (field: string, timeout: TraceOptions.Timeout | undefined) => {
  if (timeout === undefined || timeout === "none") return
  const decoded = Option.liftThrowable(Duration.decode)(timeout as Duration.DurationInput)
  if (Option.isNone(decoded)) throw bad(field, `not a duration or "none"`)
}

const checkAttributes = (attributes: Readonly<Record<string, string>>) => {
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "" || key.includes(":")) throw bad("attributes", `key "${key}" must be non-empty and hold no ':'`)
    if (typeof value !== "string") throw bad("attributes", `value of "${key}" is not a string`)
    if (key.includes("\0") || value.includes("\0")) throw bad("attributes", `"${key}" contains a NUL byte`)
  }
}

const checkPut = (put: NonNullable<Options["put"]>): PutSettings => {
  const url = endpointUrl(put.endpoint, put.token)
  if (Either.isLeft(url)) throw url.left
  const timeout = uploadTimeout(put.timeout)
  if (Either.isLeft(timeout)) throw bad("put.timeout", timeout.left)
  if (put.retry !== undefined && !Schedule.isSchedule(put.retry)) throw bad("put.retry", "not a Schedule")
  const concurrency = put.concurrency ?? 4
  if (!Number.isInteger(concurrency) || concurrency < 1) throw bad("put.concurrency", "not a positive integer")
  return {
    url: url.right,
    unlink: put.unlink ?? false,
    onTrace: put.onTrace ?? true,
    timeout: timeout.right,
    retry: put.retry ?? defaultRetry,
    concurrency
  }
}

/** Checks every option; creates `outputDir` when missing. */
export const validate = (
  options: Options
): Effect.Effect<{ readonly settings: Settings; readonly put: Option.Option<PutSettings> }, TracerConfigError> =>
  Effect.flatMap(
    // The signals first: the core's own check (known, catchable by Node, duplicates dropped).
    signals.validate(options.signals ?? DEFAULT_SIGNALS),
    (checkedSignals) => checkTheRest(options, checkedSignals)
  )

/** Every other option, and `outputDir` created when missing. */
const checkTheRest = (options: Options, checkedSignals: ReadonlyArray<NodeJS.Signals>) =>
  Effect.try({
    try: () => {
      const tracerPath = options.tracerPath ?? DEFAULT_TRACER_PATH
      if (tracerPath === "") throw bad("tracerPath", "the path is empty")
      const tracer = findExecutable(tracerPath, process.env.PATH)
      if (tracer === undefined) throw bad("tracerPath", `${tracerPath} is not found or not executable`)
      const permissions = options.permissions ?? 0o700
      if (!Number.isInteger(permissions) || permissions < 0 || permissions > 0o7777) {
        throw bad("permissions", "not a file mode (an integer from 0 to 0o7777)")
      }
      // Snapshots hold process memory: by default they go to a private folder of their own, not the working directory.
      if (options.outputDir === "") throw bad("outputDir", "the path is empty")
      const outputDir = ensureOutputDir(options.outputDir ?? "snapshots", permissions)
      if (options.stdin !== undefined) checkStdin(options.stdin)
      if (options.stderr !== undefined) checkStderr(options.stderr)
      checkAttributes(options.attributes ?? {})
      noNul("classifiers", options.classifiers ?? [])
      if ((options.classifiers ?? []).some((c) => c === "")) throw bad("classifiers", "a classifier is empty")
      noNul("args", options.args ?? [])
      checkTimeout("defaultTraceOptions.timeout", options.defaultTraceOptions?.timeout)
      const put = options.put === undefined ? Option.none() : Option.some(checkPut(options.put))
      const settings: Settings = {
        tracerPath: tracer,
        outputDir,
        stdio: {
          ...(options.stdin === undefined ? {} : { stdin: path.resolve(options.stdin) }),
          ...(options.stderr === undefined ? {} : { stderr: path.resolve(options.stderr) })
        },
        defaultTraceOptions: TraceOptions.resolve(TraceOptions.defaults, options.defaultTraceOptions),
        signals: checkedSignals
      }
      return { settings, put }
    },
    catch: (error) =>
      error instanceof TracerConfigError ? error : bad("options", `unexpected: ${errnoText(error)}`)
  })
