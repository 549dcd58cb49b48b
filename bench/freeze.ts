/**
 * How long a snapshot keeps the process stopped, per backend, seen from
 * outside: eu-stack, gdb (all threads), gdb `callerOnly`, and
 * `process.report.getReport()` for reference, in one run, on the same
 * process.
 *
 * Where `chrt -f` is allowed (root), eu-stack is also measured at real-time
 * priority (`eu-stack, SCHED_FIFO`): a diagnostic that shows how much of a
 * stop is eu-stack waiting for a CPU on a loaded machine.
 *
 * Three processes:
 * - the host (bench/freeze-host.ts): a Node process with about a dozen
 *   threads (main, 4 V8 platform workers, libuv's 4 threadpool threads, 2
 *   `worker_threads` Workers, …), kept busy, which takes one snapshot of
 *   itself per request;
 * - the sampler (bench/freeze-sampler.mjs): reads every thread's state in
 *   `/proc/<pid>/task/<tid>/stat` about every 0.25 ms and logs each stretch
 *   in which a thread was stopped (`t`: ptrace stop);
 * - this one, which asks for the snapshots in turn (the order rotates each
 *   round), lines up the stops with each snapshot's time window, and prints
 *   medians and ranges.
 *
 * Per snapshot: the trace's duration; the longest stop of any one thread and
 * of the main thread (from the sampler; a stop shorter than one sampling
 * period may be missed, and each is known to within one period); how many
 * threads were seen stopped; the longest stall of the main thread's event
 * loop (from a 1 ms timer inside the host: it also counts the host's own
 * work, such as spawning the tracer). `process.report` stops no thread: the
 * main thread runs it synchronously, so its cost is the stall.
 *
 *   npx tsx bench/freeze.ts [rounds]        (default 10)
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Done, Kind } from "./freeze-host.js"

const rounds = Number(process.argv[2] ?? 10)
const here = path.dirname(fileURLToPath(import.meta.url))
/** `chrt -f` (SCHED_FIFO) is allowed here: the sampler uses it, and eu-stack is also measured with it. */
const realTime = (() => {
  try {
    execFileSync("chrt", ["-f", "10", "true"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()
const kinds: ReadonlyArray<Kind> = [
  "eu-stack",
  ...(realTime ? ["eu-stack, SCHED_FIFO" as const] : []),
  "gdb",
  "gdb callerOnly",
  "process.report"
]
const work = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-bench-freeze-run-"))
const stopsFile = path.join(work, "stops.jsonl")
const stopFile = path.join(work, "stop")

interface Stop {
  readonly tid: number
  readonly from: number
  readonly to: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const version = (program: string, args: ReadonlyArray<string>) => {
  try {
    return execFileSync(program, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0]!.trim()
  } catch {
    return "missing"
  }
}

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}
const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2))
/** `median (min–max)` */
const spread = (xs: ReadonlyArray<number>) =>
  xs.length === 0 ? "-" : `${fmt(quantile(xs, 0.5))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`

const main = async () => {
  const host = spawn(process.execPath, ["--import", "tsx", path.join(here, "freeze-host.ts")], {
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  let sampler: ReturnType<typeof spawn> | undefined
  try {
    const pending: Array<(message: unknown) => void> = []
    host.on("message", (message) => pending.shift()?.(message))
    const next = () => new Promise<unknown>((resolve) => pending.push(resolve))
    const ready = await next() as { readonly pid: number; readonly threads: number }
    const loadBefore = os.loadavg()

    // The sampler at real-time priority when allowed (root, or CAP_SYS_NICE), so that a loaded machine does not
    // keep it from looking: it sleeps 0.2 ms between samples and takes little CPU.
    const samplerArgv = [
      process.execPath,
      path.join(here, "freeze-sampler.mjs"),
      String(ready.pid),
      stopsFile,
      stopFile
    ]
    const argv = realTime ? ["chrt", "-f", "10", ...samplerArgv] : samplerArgv
    sampler = spawn(argv[0]!, argv.slice(1), { stdio: "inherit" })
    const samplerExit = new Promise((resolve) => sampler!.once("exit", resolve))
    await sleep(500)

    const done: Array<Done> = []
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + round) % kinds.length]!
        host.send(kind)
        done.push(await next() as Done)
        await sleep(300)
      }
      process.stderr.write(`round ${round + 1}/${rounds}\n`)
    }
    fs.writeFileSync(stopFile, "")
    await samplerExit
    const loadAfter = os.loadavg()

    const lines = fs.readFileSync(stopsFile, "utf8").trim().split("\n").map((l) => JSON.parse(l))
    const stops: Array<Stop> = lines.filter((l) => "tid" in l)
    const periods = lines.find((l) => "periods" in l)!.periods as {
      bucketMs: number
      counts: Array<number>
      max: number
    }
    const periodQuantile = (q: number) => {
      const total = periods.counts.reduce((a, b) => a + b, 0)
      let seen = 0
      for (let i = 0; i < periods.counts.length; i++) {
        seen += periods.counts[i]!
        if (seen >= q * total) return (i + 1) * periods.bucketMs
      }
      return periods.max
    }

    const rows = kinds.map((kind) => {
      const runs = done.filter((d) => d.kind === kind).map((d) => {
        const mine = stops.filter((s) => s.from >= d.start - 2 && s.from <= d.end + 2)
        const longest = (ss: ReadonlyArray<Stop>) => Math.max(0, ...ss.map((s) => s.to - s.from))
        return {
          trace: d.end - d.start,
          anyThread: longest(mine),
          mainThread: longest(mine.filter((s) => s.tid === ready.pid)),
          mainSeen: mine.some((s) => s.tid === ready.pid),
          threads: new Set(mine.map((s) => s.tid)).size,
          stall: d.stallMs,
          bytes: d.bytes
        }
      })
      return { kind, runs }
    })

    const machine = [
      `nproc ${os.availableParallelism()}`,
      os.cpus()[0]?.model ?? "unknown CPU",
      `Linux ${os.release()}`,
      `Node ${process.version}`,
      version("eu-stack", ["--version"]),
      version("gdb", ["--version"])
    ].join(", ")
    const header = [
      `Host: ${ready.threads} threads (pid ${ready.pid}); ${rounds} snapshots per backend, interleaved.`,
      `Machine: ${machine}.`,
      `Load average (1 min): ${loadBefore[0]!.toFixed(1)} before, ${loadAfter[0]!.toFixed(1)} after.`,
      `Sampler${realTime ? " (SCHED_FIFO)" : ""} period: median ${fmt(periodQuantile(0.5))} ms, p99 ${
        fmt(periodQuantile(0.99))
      } ms, longest ${fmt(periods.max)} ms.`
    ]
    console.log(header.join("\n"))
    console.log("")
    console.log(
      "| Backend | Trace (ms) | Longest stop, any thread (ms) | Longest stop, main thread (ms) | Main thread seen stopped | Threads seen stopped | Event-loop stall (ms) | Snapshot (KB) |"
    )
    console.log("|---|---|---|---|---|---|---|---|")
    for (const { kind, runs } of rows) {
      const ptrace = kind !== "process.report"
      console.log(
        `| ${kind} | ${spread(runs.map((r) => r.trace))} | ${
          ptrace ? spread(runs.map((r) => r.anyThread)) : "none"
        } | ${ptrace ? spread(runs.map((r) => r.mainThread)) : "none"} | ${
          ptrace ? `${runs.filter((r) => r.mainSeen).length} of ${runs.length}` : "-"
        } | ${ptrace ? spread(runs.map((r) => r.threads)) : "0"} | ${spread(runs.map((r) => r.stall))} | ${
          spread(runs.map((r) => r.bytes / 1024))
        } |`
      )
    }
    console.log("")
    console.log("Each cell: median (min–max). A main-thread stop that was not seen counts as 0 ms.")
    host.send("exit")
  } finally {
    fs.writeFileSync(stopFile, "")
    // Never leave the host stopped or running: it is ours.
    setTimeout(() => {
      if (host.exitCode === null && host.signalCode === null) host.kill("SIGKILL")
      if (sampler !== undefined && sampler.exitCode === null && sampler.signalCode === null) sampler.kill("SIGKILL")
      fs.rmSync(work, { recursive: true, force: true })
    }, 2000).unref()
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
