/**
 * The gdb backend: a header written by us, then gdb attached to this process
 * appending `info threads` and the backtraces (and writing a core file) to the
 * same snapshot file, then a post-processing pass (JIT names, thread roles).
 *
 * @internal
 */
import * as Command from "@effect/platform/Command"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Options } from "../Gdb.js"
import { type SnapshotUploadError, type TracerConfigError, TracerRunError } from "../TraceError.js"
import type { TraceRequest, TraceResult, TracerBackend } from "../TracerBackend.js"
import * as TraceOptions from "../TraceOptions.js"
import { type Capabilities, gdbArgs, threadSelector } from "./gdbCommand.js"
import { rewrite, resolvePerfMap, unnamedAddresses } from "./gdbFinalize.js"
import { estimateCoreSize, freeBytes, skipReason } from "./gdbCore.js"
import * as Header from "./gdbHeader.js"
import { prepareOutputDir, probeGdb } from "./gdbProbe.js"
import { log } from "./log.js"

/** The default `maxCoreSize`: 4 GiB. */
export const DEFAULT_MAX_CORE_SIZE = 4 * 2 ** 30

/** The backend's name in logs. */
export const NAME = "gdb"

/** Uploads one finished trace's files. */
export type Upload = (result: TraceResult, paths: Paths) => Effect.Effect<void, SnapshotUploadError>

/** Where a trace's files go. */
export interface Paths {
  readonly snapshot: string
  readonly core: Option.Option<string>
}

/** A name part made of safe characters only: dots separate the name's fields. */
export const sanitizeProgram = (name: string): string => {
  const clean = name.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64)
  return clean === "" ? "node" : clean
}

/** The script's name without its extension, else the executable's. */
export const defaultProgram = (): string =>
  sanitizeProgram(path.parse(process.argv[1] ?? process.execPath).name)

/** `20261126T041939.123Z`: sortable, no colons. */
export const timestamp = (date: Date): string => date.toISOString().replace(/[-:]/g, "")

/** V8's perf map for `pid` (`--perf-basic-prof`). */
export const perfMapPath = (pid: number): string => `/tmp/perf-${pid}.map`

/** Creates `<dir>/<program>.<pid>.<timestamp>.txt` (0600, exclusively) holding `header`. */
const createSnapshot = (
  dir: string,
  program: string,
  request: TraceRequest,
  time: Date,
  core: boolean,
  header: (core: Option.Option<string>) => string
): Paths => {
  const stem = `${program}.${request.pid}.${timestamp(time)}`
  for (let attempt = 0;; attempt++) {
    const base = path.join(dir, attempt === 0 ? stem : `${stem}-${attempt}`)
    const paths: Paths = { snapshot: `${base}.txt`, core: core ? Option.some(`${base}.core`) : Option.none() }
    let fd: number
    try {
      fd = fs.openSync(paths.snapshot, "wx", 0o600)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST" && attempt < 1000) continue
      throw error
    }
    try {
      if (Option.isSome(paths.core)) {
        // gdb keeps the mode of a file it overwrites: the core is 0600 like the snapshot.
        try {
          fs.closeSync(fs.openSync(paths.core.value, "wx", 0o600))
        } catch (error) {
          fs.unlinkSync(paths.snapshot)
          if ((error as NodeJS.ErrnoException).code === "EEXIST" && attempt < 1000) continue
          throw error
        }
      }
      fs.writeSync(fd, header(paths.core))
    } finally {
      fs.closeSync(fd)
    }
    return paths
  }
}

/** The resolved settings of one gdb backend. */
export interface Settings {
  readonly gdbPath: string
  readonly capabilities: Capabilities
  readonly outputDir: string
  readonly program: string
  readonly full: boolean
  readonly core: boolean
  readonly maxCoreSize: number
  readonly defaultTraceOptions: TraceOptions.Resolved
  readonly put: Option.Option<Upload>
}

/** Why `callerOnly` shows every thread for this request, if it does. */
const callerOnlyFallback = (caps: Capabilities, request: TraceRequest): Option.Option<string> => {
  if (!request.callerOnly) return Option.none()
  if (Option.isNone(request.tid)) return Option.some("the calling thread's id is unknown, so all threads are shown")
  return threadSelector(caps, request.pid, request.tid.value) === undefined
    ? Option.some("this gdb has no Python to find a thread by its LWP, so all threads are shown")
    : Option.none()
}

/** Builds a backend from validated settings. */
export const fromSettings = (settings: Settings): TracerBackend => {
  const paths = new WeakMap<TraceRequest, Paths>()

  const command = (request: TraceRequest) =>
    Effect.try({
      try: () => {
        const time = new Date()
        const fallback = callerOnlyFallback(settings.capabilities, request)
        const coreSkipped = settings.core
          ? Option.fromNullable(
            skipReason(estimateCoreSize(request.pid), freeBytes(settings.outputDir), settings.maxCoreSize)
          )
          : Option.none()
        const created = createSnapshot(
          settings.outputDir,
          settings.program,
          request,
          time,
          settings.core && Option.isNone(coreSkipped),
          (core) =>
            Header.render(request, { time, program: settings.program, core, coreSkipped, callerOnlyFallback: fallback })
        )
        paths.set(request, created)
        return Command.make(
          settings.gdbPath,
          ...gdbArgs(settings.capabilities, {
            pid: request.pid,
            tid: request.tid,
            faulted: request.faulted,
            callerOnly: request.callerOnly,
            full: settings.full,
            snapshot: created.snapshot,
            core: created.core,
            args: request.args
          })
        )
      },
      catch: (error) =>
        new TracerRunError({
          path: settings.gdbPath,
          reason: `could not create the snapshot file in ${settings.outputDir}: ${
            error instanceof Error ? error.message : String(error)
          }`,
          stderr: ""
        })
    })

  const finalize = (result: TraceResult): Effect.Effect<TraceResult> => {
    const created = paths.get(result.request)
    if (created === undefined) return Effect.succeed(result)
    const { pid, tid, faulted } = result.request
    return Effect.tryPromise(async () => {
      // A core gdb could not write stays empty (gdb's error is in the snapshot): nothing to keep.
      if (Option.isSome(created.core) && fs.statSync(created.core.value, { throwIfNoEntry: false })?.size === 0) {
        fs.unlinkSync(created.core.value)
      }
      const map = perfMapPath(pid)
      const names = fs.existsSync(map) ? await resolvePerfMap(map, await unnamedAddresses(created.snapshot)) : new Map()
      return rewrite(created.snapshot, { pid, tid: Option.getOrUndefined(tid), faulted }, names)
    }).pipe(
      Effect.flatMap((summary) =>
        log(LogLevel.Debug, NAME, `Snapshot ${created.snapshot}: ${summary.threads} threads, ${summary.jitFrames} JIT frames named`)
      ),
      Effect.catchAll((error) =>
        log(LogLevel.Warning, NAME, `Snapshot ${created.snapshot} kept as gdb wrote it; post-processing failed: ${String(error.error)}`)
      ),
      Effect.as(result)
    )
  }

  return {
    name: NAME,
    defaultTraceOptions: settings.defaultTraceOptions,
    command,
    snapshot: (_stdout, request) => Option.map(Option.fromNullable(paths.get(request)), (p) => p.snapshot),
    finalize,
    ...Option.match(settings.put, {
      onNone: () => ({}),
      onSome: (put) => ({
        put: (result: TraceResult) => {
          const created = paths.get(result.request)
          return created === undefined ? Effect.void : put(result, created)
        }
      })
    })
  }
}

/** The backend's default trace options: Backtrace's, with the base attributes and classifiers. */
export const defaultTraceOptions = (options: Options): TraceOptions.Resolved =>
  TraceOptions.resolve(
    {
      ...TraceOptions.defaults,
      timeout: Duration.seconds(120),
      classifications: options.classifiers ?? [],
      attributes: options.attributes ?? {}
    },
    options.traceOptions
  )

/** Validates `options` (gdb found and answering, output folder writable) and builds the backend. */
export const make = (options: Options): Effect.Effect<TracerBackend, TracerConfigError> =>
  Effect.gen(function*() {
    const gdb = yield* probeGdb(options.gdbPath ?? "gdb")
    const outputDir = yield* prepareOutputDir(options.outputDir ?? "snapshots")
    const put = options.put === undefined
      ? Option.none()
      : Option.some(yield* Effect.flatMap(Effect.promise(() => import("./gdbPut.js")), (m) => m.makePut(options.put!)))
    return fromSettings({
      gdbPath: gdb.path,
      capabilities: gdb.capabilities,
      outputDir,
      program: options.program === undefined ? defaultProgram() : sanitizeProgram(options.program),
      full: options.full ?? false,
      core: options.core ?? false,
      maxCoreSize: options.maxCoreSize ?? DEFAULT_MAX_CORE_SIZE,
      defaultTraceOptions: defaultTraceOptions(options),
      put
    })
  })
