/**
 * The snapshot folder, checked when a layer is built: created with `mode`
 * when missing (exactly `mode`, whatever the umask), a directory, and one a
 * file can be created in. Failures are `TracerConfigError`s on `outputDir`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { TracerConfigError } from "../../TraceError.js"

/** A Node error as its code and syscall (`EACCES (open)`), without the path it may quote. */
export const errnoText = (error: unknown): string => {
  const e = error as NodeJS.ErrnoException
  return e.code ? `${e.code}${e.syscall ? ` (${e.syscall})` : ""}` : String(error)
}

/** `f()`, or a `TracerConfigError` on `field` saying `what` and the errno. */
export const trySync = <A>(field: string, what: string, f: () => A): Effect.Effect<A, TracerConfigError> =>
  Effect.try({
    try: f,
    catch: (cause) => new TracerConfigError({ field, reason: `${what}: ${errnoText(cause)}`, cause })
  })

/** Makes sure `dir` is a usable snapshot folder; returns its absolute path. */
export const ensureOutputDir = (dir: string, mode: number): Effect.Effect<string, TracerConfigError> =>
  Effect.gen(function*() {
    if (dir === "") return yield* new TracerConfigError({ field: "outputDir", reason: "must not be empty" })
    const absolute = path.resolve(dir)
    const created = yield* trySync(
      "outputDir",
      `cannot create ${absolute}`,
      () => fs.mkdirSync(absolute, { recursive: true, mode })
    )
    const isDirectory = yield* trySync("outputDir", `cannot use ${absolute}`, () => {
      // mkdir's mode is masked by the umask; give the created leaf exactly `mode`.
      if (created !== undefined) fs.chmodSync(absolute, mode)
      return fs.statSync(absolute).isDirectory()
    })
    if (!isDirectory) {
      return yield* new TracerConfigError({ field: "outputDir", reason: `${absolute} is not a directory` })
    }
    const probe = path.join(absolute, `.effect-bcd-probe-${process.pid}-${Date.now()}`)
    yield* trySync("outputDir", `cannot write in ${absolute}`, () => {
      fs.closeSync(fs.openSync(probe, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600))
      fs.unlinkSync(probe)
    })
    return absolute
  })
