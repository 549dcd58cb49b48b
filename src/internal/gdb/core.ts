/**
 * Guarding `generate-core-file`: gdb 13 writes every anonymous mapping into
 * the core, inaccessible (PROT_NONE) reservations included, as zeros and not
 * sparse. A Node process that has instantiated WebAssembly (tsx, loaders,
 * undici) reserves 8-10 GiB regions that way: measured here, a 32 GB core
 * taking 17-60 s, against 0.7 GB and 2 s for a plain Node process. The size
 * gdb will write is close to the sum of this process's anonymous mappings, so
 * it is estimated from `/proc/<pid>/maps` before gdb runs.
 *
 * @internal
 */
import * as fs from "node:fs"

/**
 * The sum of the anonymous mappings (inode 0, not `[vsyscall]`/`[vvar]`) in a
 * `/proc/<pid>/maps` text that gdb dumps under `coredump_filter` (bit 0:
 * private, bit 1: shared; both by default).
 */
export const anonymousBytes = (maps: string, coredumpFilter = 0x33): number => {
  let total = 0
  for (const line of maps.split("\n")) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 5 || fields[4] !== "0") continue
    const shared = fields[1]?.[3] === "s"
    if ((coredumpFilter & (shared ? 0x2 : 0x1)) === 0) continue
    const name = fields.slice(5).join(" ")
    if (name === "[vsyscall]" || name === "[vvar]" || name === "[vvar_vclock]") continue
    const [start, end] = fields[0]!.split("-").map((x) => parseInt(x, 16))
    if (start !== undefined && end !== undefined && end > start) total += end - start
  }
  return total
}

/** The estimated size of a gdb core of `pid`, or undefined when its maps cannot be read. */
export const estimateCoreSize = (pid: number): number | undefined => {
  try {
    const filter = parseInt(fs.readFileSync(`/proc/${pid}/coredump_filter`, "utf8").trim(), 16)
    return anonymousBytes(fs.readFileSync(`/proc/${pid}/maps`, "utf8"), Number.isNaN(filter) ? 0x33 : filter)
  } catch {
    return undefined
  }
}

/** The space of the file system holding a folder, in bytes. */
export interface DiskSpace {
  /** Available to this user. */
  readonly free: number
  /** The file system's size. */
  readonly total: number
}

/** The space of the file system holding `dir`, or undefined. */
export const diskSpace = (dir: string): DiskSpace | undefined => {
  try {
    const stats = fs.statfsSync(dir)
    return { free: stats.bavail * stats.bsize, total: stats.blocks * stats.bsize }
  } catch {
    return undefined
  }
}

/**
 * The space a core must leave free: 5% of the file system, at most 1 GiB.
 * Each trace writes its own core, so without it successive cores would fill
 * the disk to the last byte.
 */
export const reserve = (space: DiskSpace): number => Math.min(2 ** 30, space.total * 0.05)

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`

/** Why the core should be skipped, or undefined to write it. */
export const skipReason = (
  estimate: number | undefined,
  space: DiskSpace | undefined,
  max: number
): string | undefined => {
  if (estimate === undefined) return undefined
  if (estimate > max) {
    return `it would take about ${gib(estimate)} (this process's anonymous mappings, reserved but inaccessible ` +
      `memory included), more than maxCoreSize (${gib(max)})`
  }
  if (space !== undefined && estimate > space.free - reserve(space)) {
    return `it would take about ${gib(estimate)} and the output folder has ${gib(space.free)} free, ` +
      `${gib(reserve(space))} of which must stay free`
  }
  return undefined
}
