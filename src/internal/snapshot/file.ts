/**
 * Text snapshot files: their names (`<program>.<pid>.<timestamp>`, unique per
 * backend) and their creation (0600, exclusively, holding the header).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as fs from "node:fs"
import * as path from "node:path"
import { TracerRunError } from "../../TraceError.js"
import * as TraceOptions from "../../TraceOptions.js"

/** A name part made of safe characters only: dots separate the name's fields. */
export const sanitizeProgram = (name: string): string => {
  const clean = name.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64)
  return clean === "" ? "node" : clean
}

/** The script's name without its extension, else the executable's. */
export const defaultProgram = (): string => sanitizeProgram(path.parse(process.argv[1] ?? process.execPath).name)

/** `20261126T041939.123Z`: sortable, no colons. */
export const timestamp = (date: Date): string => date.toISOString().replace(/[-:]/g, "")

/**
 * A namer for one backend: `<dir>/<program>.<pid>.<timestamp>`, with `-<n>`
 * when this backend used that name already (two traces in one millisecond).
 */
export const makeNamer = (
  dir: string,
  program: string
): Effect.Effect<(pid: number, time: Date) => Effect.Effect<string>> =>
  Effect.map(
    Ref.make({ stem: "", repeats: 0 }),
    (names) => (pid, time) =>
      Ref.modify(names, ({ repeats, stem: last }) => {
        const stem = `${program}.${pid}.${timestamp(time)}`
        const next = stem === last ? repeats + 1 : 0
        return [path.join(dir, next === 0 ? stem : `${stem}-${next}`), { stem, repeats: next }]
      })
  )

/**
 * Creates the snapshot (0600, exclusively: an existing file is never
 * overwritten) holding `header`, and each of `empty` (0600, empty, for the
 * tracer to fill). On failure none of them stays: the trace did not happen.
 */
export const createFiles = (snapshot: string, header: string, empty: ReadonlyArray<string> = []): void => {
  const created: Array<string> = []
  try {
    const fd = fs.openSync(snapshot, "wx", 0o600)
    created.push(snapshot)
    try {
      // writeFileSync writes it all (a bare writeSync may stop short on a full disk).
      fs.writeFileSync(fd, header)
    } finally {
      fs.closeSync(fd)
    }
    for (const file of empty) {
      fs.closeSync(fs.openSync(file, "wx", 0o600))
      created.push(file)
    }
  } catch (error) {
    for (const file of created) fs.rmSync(file, { force: true })
    throw error
  }
}

/** A text-snapshot backend's default trace options: Backtrace's, with its base attributes and classifiers. */
export const defaultTraceOptions = (options: {
  readonly attributes?: Readonly<Record<string, string>>
  readonly classifiers?: ReadonlyArray<string>
  readonly defaultTraceOptions?: TraceOptions.TraceOptions
}): TraceOptions.Resolved =>
  TraceOptions.resolve(
    { ...TraceOptions.defaults, classifications: options.classifiers ?? [], attributes: options.attributes ?? {} },
    options.defaultTraceOptions
  )

/** The error of a snapshot file that could not be created in `dir` (the trace then does not run). */
export const createError = (tracer: string, dir: string) => (cause: unknown): TracerRunError =>
  new TracerRunError({
    path: tracer,
    reason: "io",
    detail: `could not create the snapshot file in ${dir}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

/** The suffix of a snapshot (or core) a failed trace left: kept, never uploaded as a finished one. */
export const PARTIAL_SUFFIX = ".partial"

/**
 * Marks `file` partial: renames it `<file>.partial` (`<file>.partial-<n>` if
 * that is taken; an existing file is never replaced). Returns the path it
 * is now at, or undefined when there is no such file. If it cannot be
 * renamed it stays where it is, and that path is returned.
 */
export const markPartial = (file: string): string | undefined => {
  if (fs.lstatSync(file, { throwIfNoEntry: false }) === undefined) return undefined
  for (let n = 0; n < 100; n++) {
    const target = `${file}${PARTIAL_SUFFIX}${n === 0 ? "" : `-${n}`}`
    try {
      // link + unlink, not rename: a rename would replace an existing file.
      fs.linkSync(file, target)
      fs.unlinkSync(file)
      return target
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") return file
    }
  }
  return file
}

/** Write errors that mean the disk (or a quota, or a file size limit) cut a file short. */
export const isWriteFailure = (error: unknown): boolean =>
  ["ENOSPC", "EDQUOT", "EFBIG", "EIO"].includes((error as NodeJS.ErrnoException | undefined)?.code ?? "")
