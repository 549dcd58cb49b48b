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
 * The figures go to bench/RESULTS.md, section "Freeze per snapshot"
 * (`--dry`: printed only).
 *
 *   npx tsx bench/freeze.ts [rounds] [--dry]        (default 10 rounds)
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Done, Kind } from "./freeze-host.js"
import { machine, writeSection } from "./results.js"
import { longest, type Sampler, startSampler, stopsIn } from "./stops.js"

const dry = process.argv.includes("--dry")
const rounds = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 10)
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
  "process.report",
  "idle"
]
const work = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-bench-freeze-run-"))

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
  let sampler: Sampler | undefined
  try {
    const pending: Array<(message: unknown) => void> = []
    host.on("message", (message) => pending.shift()?.(message))
    const next = () => new Promise<unknown>((resolve) => pending.push(resolve))
    const ready = await next() as { readonly pid: number; readonly threads: number; readonly runner: string }
    const loadBefore = os.loadavg()

    // The sampler at real-time priority when allowed (root, or CAP_SYS_NICE), so that a loaded machine does not
    // keep it from looking: it sleeps 0.2 ms between samples and takes little CPU.
    sampler = startSampler(ready.pid, work, realTime)
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
    const { periods, stops } = await sampler.finish()
    const loadAfter = os.loadavg()
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
        const mine = stopsIn(stops, d.start, d.end)
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

    const tools = `${version("eu-stack", ["--version"])}, ${version("gdb", ["--version"])}`
    const table = [
      "| Backend | Trace (ms) | Longest stop, any thread (ms) | Longest stop, main thread (ms) | Main thread seen stopped | Threads seen stopped | Event-loop stall (ms) | Snapshot (KB) |",
      "|---|---|---|---|---|---|---|---|",
      ...rows.map(({ kind, runs }) => {
        const cells = [
          kind,
          spread(runs.map((r) => r.trace)),
          spread(runs.map((r) => r.anyThread)),
          spread(runs.map((r) => r.mainThread)),
          `${runs.filter((r) => r.mainSeen).length} of ${runs.length}`,
          spread(runs.map((r) => r.threads)),
          spread(runs.map((r) => r.stall)),
          kind === "idle" ? "-" : spread(runs.map((r) => r.bytes / 1024))
        ]
        return `| ${cells.join(" | ")} |`
      })
    ]
    const body = [
      `${machine()}; nproc ${os.availableParallelism()}; ${tools}. Load average (1 min) ${loadBefore[0]!.toFixed(1)} ` +
      `before the run, ${loadAfter[0]!.toFixed(1)} after (other work on the machine).`,
      "",
      `\`npx tsx bench/freeze.ts ${rounds}\`: a host process with ${ready.threads} threads (2 \`worker_threads\` Workers ` +
      "busy 2 ms in 10, libuv's 4 threads busy with pbkdf2, a 1 ms timer on the main thread); " +
      `${rounds} snapshots per backend, interleaved; tracers run by the \`${ready.runner}\` runner. Stops seen from outside, in \`/proc/<pid>/task/<tid>/stat\`, ` +
      `by a sampler${realTime ? " at SCHED_FIFO" : ""} with a period of ${fmt(periodQuantile(0.5))} ms (median; p99 ` +
      `${fmt(periodQuantile(0.99))} ms, longest ${fmt(periods.max)} ms): a stop is known to within one period, and a ` +
      "shorter one may be missed (then it counts as 0 ms).",
      "",
      ...table,
      "",
      "Each cell: median (min–max). Event-loop stall: the longest gap of the host's 1 ms timer during the snapshot " +
      "(ptrace stops, the host's own work, and the CPU the machine's other work leaves it; `idle`, a second without " +
      "a snapshot, is the control). `eu-stack, SCHED_FIFO` runs eu-stack " +
      "at real-time priority (`chrt -f 5`), a diagnostic: what is left of a stop when eu-stack never waits for a CPU."
    ].join("\n")
    console.log(body)
    if (!dry) writeSection("Freeze per snapshot", body)
    host.send("exit")
  } finally {
    fs.writeFileSync(path.join(work, "stop"), "")
    // Never leave the host stopped or running: it is ours.
    setTimeout(() => {
      if (host.exitCode === null && host.signalCode === null) host.kill("SIGKILL")
      sampler?.kill()
      fs.rmSync(work, { recursive: true, force: true })
    }, 2000).unref()
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
