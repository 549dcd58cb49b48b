/**
 * The snapshot folder, checked when a layer is built: created with `mode`
 * when missing (exactly `mode`, whatever the umask), a directory, and one a
 * file can be created in. Failures are `TracerConfigError`s on `outputDir`.
 *
 * @internal
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { TracerConfigError } from "../../TraceError.js"

/** A Node error as its code and syscall (`EACCES (open)`), without the path it may quote. */
export const errnoText = (error: unknown): string => {
  const e = error as NodeJS.ErrnoException
  return e.code ? `${e.code}${e.syscall ? ` (${e.syscall})` : ""}` : String(error)
}

const bad = (reason: string) => new TracerConfigError({ field: "outputDir", reason })

/** Makes sure `dir` is a usable snapshot folder; returns its absolute path. Throws `TracerConfigError`. */
export const ensureOutputDir = (dir: string, mode: number): string => {
  if (dir === "") throw bad("must not be empty")
  const absolute = path.resolve(dir)
  let created: string | undefined
  try {
    created = fs.mkdirSync(absolute, { recursive: true, mode })
  } catch (error) {
    throw bad(`cannot create ${absolute}: ${errnoText(error)}`)
  }
  let isDirectory: boolean
  try {
    // mkdir's mode is masked by the umask; give the created leaf exactly `mode`.
    if (created !== undefined) fs.chmodSync(absolute, mode)
    isDirectory = fs.statSync(absolute).isDirectory()
  } catch (error) {
    throw bad(`cannot use ${absolute}: ${errnoText(error)}`)
  }
  if (!isDirectory) throw bad(`${absolute} is not a directory`)
  const probe = path.join(absolute, `.effect-bcd-probe-${process.pid}-${Date.now()}`)
  try {
    fs.closeSync(fs.openSync(probe, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600))
    fs.unlinkSync(probe)
  } catch (error) {
    throw bad(`cannot write in ${absolute}: ${errnoText(error)}`)
  }
  return absolute
}
