/**
 * The gdb backend: a header written by us, then gdb attached to this process
 * appending `info threads` and the backtraces (and writing a core file) to the
 * same snapshot file, then a post-processing pass (JIT names, thread roles).
 *
 * @internal
 */
import * as Command from "@effect/platform/Command"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Options } from "../../Gdb.js"
import { type SnapshotUploadError, TracerConfigError, TracerRunError } from "../../TraceError.js"
import type { TraceRequest, TraceResult, TracerBackend } from "../../TracerBackend.js"
import * as TraceOptions from "../../TraceOptions.js"
import { type Capabilities, gdbArgs, threadSelector } from "./command.js"
import { jitNames, rewrite } from "./finalize.js"
import { type DiskSpace, diskSpace, estimateCoreSize, skipReason } from "./core.js"
import * as Header from "./header.js"
import { prepareOutputDir, probeGdb } from "./probe.js"
import { log } from "../core/log.js"

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

/**
 * Set in gdb's environment. No debuginfod downloads while this process is
 * stopped: gdb 12+ is also told so with `set debuginfod enabled off`, but gdb
 * 10 and 11 only read `DEBUGINFOD_URLS`, which some distributions set for
 * every login.
 */
export const GDB_ENV: Readonly<Record<string, string>> = { DEBUGINFOD_URLS: "" }

/** V8's perf map for `pid` (`--perf-basic-prof`). */
export const perfMapPath = (pid: number): string => `/tmp/perf-${pid}.map`

let lastStem = ""
let sameStem = 0

/** `<dir>/<program>.<pid>.<timestamp>`, with `-<n>` when this process used that name already. */
const uniqueBase = (dir: string, program: string, pid: number, time: Date): string => {
  const stem = `${program}.${pid}.${timestamp(time)}`
  sameStem = stem === lastStem ? sameStem + 1 : 0
  lastStem = stem
  return path.join(dir, sameStem === 0 ? stem : `${stem}-${sameStem}`)
}

/**
 * Creates the snapshot (0600, exclusively: an existing file is never
 * overwritten) holding `header`, and the empty core file gdb will fill: gdb
 * keeps the mode of a file it overwrites, so the core is 0600 too. On failure
 * neither file stays: the trace did not happen.
 */
const createFiles = (paths: Paths, header: string): void => {
  const created: Array<string> = []
  try {
    const fd = fs.openSync(paths.snapshot, "wx", 0o600)
    created.push(paths.snapshot)
    try {
      // writeFileSync writes it all (a bare writeSync may stop short on a full disk).
      fs.writeFileSync(fd, header)
    } finally {
      fs.closeSync(fd)
    }
    if (Option.isSome(paths.core)) {
      fs.closeSync(fs.openSync(paths.core.value, "wx", 0o600))
    }
  } catch (error) {
    for (const file of created) fs.rmSync(file, { force: true })
    throw error
  }
}

/** One trace's plan, made by `command`; `prepare` settles the core and writes the header. */
interface Planned {
  readonly snapshot: string
  readonly time: Date
  /** The core gdb is to write; `prepare` may still leave it out. */
  core: Option.Option<string>
  /** Why no core is written although one was asked for. */
  coreSkipped: Option.Option<string>
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
  /** The space of the file system holding a folder; replaceable in tests. Default {@link diskSpace}. */
  readonly diskSpace?: (dir: string) => DiskSpace | undefined
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
  const paths = new WeakMap<TraceRequest, Planned>()

  /** Why a core of `pid` should not be written now, if it should not. */
  const coreSkipReason = (pid: number) =>
    Option.fromNullable(
      skipReason(estimateCoreSize(pid), (settings.diskSpace ?? diskSpace)(settings.outputDir), settings.maxCoreSize)
    )

  // Pure but for the clock and /proc reads: Tracer.checkPermissions calls it too.
  const command = (request: TraceRequest) => {
    const time = new Date()
    const base = uniqueBase(settings.outputDir, settings.program, request.pid, time)
    const coreSkipped = settings.core ? coreSkipReason(request.pid) : Option.none()
    const planned: Planned = {
      snapshot: `${base}.txt`,
      time,
      core: settings.core && Option.isNone(coreSkipped) ? Option.some(`${base}.core`) : Option.none(),
      coreSkipped
    }
    paths.set(request, planned)
    return Command.make(
      settings.gdbPath,
      ...gdbArgs(settings.capabilities, {
        pid: request.pid,
        tid: request.tid,
        faulted: request.faulted,
        callerOnly: request.callerOnly,
        full: settings.full,
        snapshot: planned.snapshot,
        core: planned.core,
        args: request.args
      })
    ).pipe(Command.env(GDB_ENV))
  }

  // With the lock held, right before gdb starts: a trace that times out waiting leaves no file.
  const prepare = (request: TraceRequest) =>
    Effect.try({
      try: () => {
        const planned = paths.get(request)
        if (planned === undefined) return
        // Checked again now: the cores of traces that were queued with this one are on disk by now. With
        // Python, gdb writes the core only if its file exists, so leaving the file out leaves the core out.
        if (Option.isSome(planned.core) && settings.capabilities.python) {
          const skipped = coreSkipReason(request.pid)
          if (Option.isSome(skipped)) {
            planned.core = Option.none()
            planned.coreSkipped = skipped
          }
        }
        const header = Header.render(request, {
          time: planned.time,
          program: settings.program,
          core: planned.core,
          coreSkipped: planned.coreSkipped,
          callerOnlyFallback: callerOnlyFallback(settings.capabilities, request)
        })
        createFiles(planned, header)
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
    const say = (level: LogLevel.LogLevel, message: string) => log(level, NAME, message)
    // gdb removes a core it could not write (its reason is in the snapshot); an empty one is ours, unused.
    const checkCore = Option.match(created.core, {
      onNone: () => Effect.void,
      onSome: (core) =>
        Effect.suspend(() => {
          const size = fs.statSync(core, { throwIfNoEntry: false })?.size
          if (size !== undefined && size > 0) return Effect.void
          if (size === 0) fs.rmSync(core, { force: true })
          return say(LogLevel.Error, `Core file ${core} was not written; gdb's reason is in ${created.snapshot}`)
        }).pipe(Effect.catchAllDefect(() => Effect.void))
    })
    const postProcess = Effect.tryPromise(async () => {
      const names = await jitNames(perfMapPath(pid), created.snapshot)
      return rewrite(created.snapshot, { pid, tid: Option.getOrUndefined(tid), faulted }, names)
    }).pipe(
      Effect.flatMap((summary) =>
        summary.complete
          ? say(LogLevel.Debug, `Snapshot ${created.snapshot}: ${summary.threads} threads, ${summary.jitFrames} JIT frames named`)
          : say(LogLevel.Error, `Snapshot ${created.snapshot} is incomplete: gdb exited without writing its end marker`)
      ),
      Effect.catchAll((error) =>
        say(LogLevel.Warning, `Snapshot ${created.snapshot} kept as gdb wrote it; post-processing failed: ${String(error.error)}`)
      )
    )
    return Effect.zipRight(checkCore, postProcess).pipe(Effect.as(result))
  }

  return {
    name: NAME,
    defaultTraceOptions: settings.defaultTraceOptions,
    command,
    prepare,
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
      classifications: options.classifiers ?? [],
      attributes: options.attributes ?? {}
    },
    options.traceOptions
  )

/** Validates `options` (gdb found and answering, output folder writable) and builds the backend. */
export const make = (options: Options): Effect.Effect<TracerBackend, TracerConfigError> =>
  Effect.gen(function*() {
    const maxCoreSize = options.maxCoreSize ?? DEFAULT_MAX_CORE_SIZE
    if (!Number.isFinite(maxCoreSize) || maxCoreSize < 0) {
      return yield* new TracerConfigError({ field: "maxCoreSize", reason: "must be a number of bytes, 0 or more" })
    }
    // The URL first: a layer that fails on it creates no folder.
    const put = options.put === undefined
      ? Option.none()
      : Option.some(yield* Effect.flatMap(Effect.promise(() => import("./put.js")), (m) => m.makePut(options.put!)))
    const gdb = yield* probeGdb(options.gdbPath ?? "gdb")
    const outputDir = yield* prepareOutputDir(options.outputDir ?? "snapshots")
    return fromSettings({
      gdbPath: gdb.path,
      capabilities: gdb.capabilities,
      outputDir,
      program: options.program === undefined ? defaultProgram() : sanitizeProgram(options.program),
      full: options.full ?? false,
      core: options.core ?? false,
      maxCoreSize,
      defaultTraceOptions: defaultTraceOptions(options),
      put
    })
  })
