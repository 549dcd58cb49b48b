/**
 * Thread stops seen from outside a process: bench/freeze-sampler.mjs reads
 * `/proc/<pid>/task/<tid>/stat` about every 0.25 ms in a process of its own
 * and logs each stretch in which a thread was ptrace-stopped. Shared by
 * bench/freeze.ts and the demo (examples/demo.ts).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const samplerPath = path.join(path.dirname(fileURLToPath(import.meta.url)), "freeze-sampler.mjs")

/** One thread stopped from `from` to `to` (epoch ms, each known to within one sampling period). */
export interface Stop {
  readonly tid: number
  readonly from: number
  readonly to: number
}

/** The sampling periods achieved: a histogram in `bucketMs` buckets, and the longest. */
export interface Periods {
  readonly bucketMs: number
  readonly counts: Array<number>
  readonly max: number
}

export interface Sampler {
  readonly process: ChildProcess
  /** Stops the sampler and reads what it saw. */
  readonly finish: () => Promise<{ readonly stops: ReadonlyArray<Stop>; readonly periods: Periods }>
  /** SIGKILLs it (by pid) if it still runs. */
  readonly kill: () => void
}

/**
 * Starts the sampler on `pid`, writing into `dir`; at real-time priority
 * (`chrt -f 10`) when `realTime`, so that a loaded machine does not keep it
 * from looking (it sleeps 0.2 ms between samples).
 */
export const startSampler = (pid: number, dir: string, realTime: boolean): Sampler => {
  const stopsFile = path.join(dir, "stops.jsonl")
  const stopFile = path.join(dir, "stop")
  const argv = [process.execPath, samplerPath, String(pid), stopsFile, stopFile]
  const child = spawn(realTime ? "chrt" : argv[0]!, realTime ? ["-f", "10", ...argv] : argv.slice(1), {
    stdio: "inherit"
  })
  const exited = new Promise((resolve) => child.once("exit", resolve))
  return {
    process: child,
    finish: async () => {
      fs.writeFileSync(stopFile, "")
      await exited
      const lines = fs.readFileSync(stopsFile, "utf8").trim().split("\n").map((l) => JSON.parse(l))
      return {
        stops: lines.filter((l) => "tid" in l),
        periods: lines.find((l) => "periods" in l)!.periods
      }
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    }
  }
}

/** The stops that began in [start, end] (2 ms of slack each side). */
export const stopsIn = (stops: ReadonlyArray<Stop>, start: number, end: number): ReadonlyArray<Stop> =>
  stops.filter((s) => s.from >= start - 2 && s.from <= end + 2)

/** The longest of `stops`, in ms (0 for none). */
export const longest = (stops: ReadonlyArray<Stop>): number => Math.max(0, ...stops.map((s) => s.to - s.from))
