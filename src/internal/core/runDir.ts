/**
 * The private folders tracer runs keep their stdout and stderr in, under
 * the system's temporary directory: `effect-bcd-run-<pid namespace>-<pid>-XXXXXX`.
 * A host killed mid-trace leaves its folder; the next Tracer built on the
 * machine removes the folders of dead processes of its own pid namespace,
 * and only their `stdout` and `stderr` files (a folder holding anything else
 * is left alone: never a snapshot).
 *
 * @internal
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const PREFIX = "effect-bcd-run-"
const NAME = /^effect-bcd-run-(\d+)-(\d+)-[A-Za-z0-9]{6}$/
const OWN_FILES: ReadonlySet<string> = new Set(["stdout", "stderr"])

/** This process's pid namespace (the inode of `/proc/self/ns/pid`): pids of other namespaces mean nothing here. */
const pidNamespace = (): string => {
  try {
    return /\[(\d+)\]/.exec(fs.readlinkSync("/proc/self/ns/pid"))?.[1] ?? "0"
  } catch {
    return "0"
  }
}

/** The `mkdtemp` prefix of this process's run folders (the event-loop watcher's too, so that the sweep finds them). */
export const runDirPrefix = (): string => path.join(os.tmpdir(), `${PREFIX}${pidNamespace()}-${process.pid}-`)

/** Creates a run's private folder (0700). */
export const makeRunDir = (): string => fs.mkdtempSync(runDirPrefix())

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Removes the run folders in `dir` left by dead processes of this pid
 * namespace and this user. Resolves with the folders removed.
 */
export const sweepRunDirs = async (dir: string = os.tmpdir()): Promise<ReadonlyArray<string>> => {
  const namespace = pidNamespace()
  const removed: Array<string> = []
  // The shared temporary folder may be large: listed off the event loop; only our own folders are looked into.
  const names = await fs.promises.readdir(dir).catch((): ReadonlyArray<string> => [])
  for (const name of names) {
    const match = NAME.exec(name)
    if (match === null || match[1] !== namespace) continue
    const pid = Number(match[2])
    if (pid === process.pid || isAlive(pid)) continue
    const folder = path.join(dir, name)
    try {
      const info = fs.lstatSync(folder)
      if (!info.isDirectory() || info.uid !== process.getuid?.()) continue
      const entries = fs.readdirSync(folder)
      if (!entries.every((entry) => OWN_FILES.has(entry))) continue
      for (const entry of entries) fs.unlinkSync(path.join(folder, entry))
      fs.rmdirSync(folder)
      removed.push(folder)
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed
}
