// A storm of errors: N concurrent Tracer.trace calls against a /bin/true backend, each its own fiber run as its own
// program (as a server runs requests), started 1,000 per turn of the event loop (as a busy server's requests arrive),
// each scenario in a fresh process (so that RSS is its own). Prints wall time
// against N empty fibers run the same way (the baseline, same run), successes, the longest event-loop stall and RSS
// growth, and writes them to bench/RESULTS.md beside the figures measured before admission (issue 10).
// Run: npx tsx bench/storm.ts
import * as Command from "@effect/platform/Command"
import { type Duration, Effect, Layer, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as TraceOptions from "../src/TraceOptions.js"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { machine, writeSection } from "./results.js"

interface Scenario {
  readonly name: string
  readonly traces: number
  readonly rateLimit: Duration.DurationInput
  /** The default deadline (120 s) when absent. */
  readonly timeout?: Duration.DurationInput
  /** What the same storm gave before admission (issue 10's table). */
  readonly before: string
}

const scenarios: ReadonlyArray<Scenario> = [
  { name: "1,000, cooldown 0", traces: 1_000, rateLimit: "0 millis", before: "all ok; 58 s; stall 1.4 s; RSS 1.2 GiB" },
  {
    name: "10,000, cooldown 3 s, deadline 5 s",
    traces: 10_000,
    rateLimit: "3 seconds",
    timeout: "5 seconds",
    before: "0 ok; stall 10.3 s; RSS 853 MiB"
  },
  {
    name: "100,000, cooldown 3 s, deadline 1 s",
    traces: 100_000,
    rateLimit: "3 seconds",
    timeout: "1 second",
    before: "0 ok; 154 s; stall 108 s; RSS 2.8 GiB"
  },
  { name: "100,000, cooldown 0", traces: 100_000, rateLimit: "0 millis", before: "died: heap out of memory at 4.1 GiB" }
]

interface Figures {
  readonly ok: number
  readonly busy: number
  readonly timeout: number
  readonly other: number
  readonly wallMs: number
  readonly baselineMs: number
  readonly stallMs: number
  readonly baselineStallMs: number
  readonly rssGrowthMiB: number
}

const backend = {
  name: "true",
  program: "/bin/true",
  defaultTraceOptions: TraceOptions.defaults,
  command: () => Command.make("/bin/true")
}

/** Fibers started per turn of the event loop, as a busy server's requests arrive: a batch per poll. */
const BATCH = 1_000

/** What one run of fibers gave: results, wall time, the longest event-loop stall and the peak RSS growth. */
interface Run<A> {
  readonly results: ReadonlyArray<A>
  readonly wallMs: number
  readonly stallMs: number
  readonly rssGrowthMiB: number
}

/**
 * `n` fibers, each run as its own program (as a server runs each request), started `BATCH` per turn of the event
 * loop: milliseconds from the first start to the last end, the longest event-loop stall, the peak RSS growth.
 */
const fibers = async <A>(n: number, run: () => Promise<A>): Promise<Run<A>> => {
  const loop = monitorEventLoopDelay({ resolution: 5 })
  let peak = process.memoryUsage().rss
  const rss0 = peak
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
  loop.enable()
  // The monitor's first tick only starts its clock: without this wait, a stall at the very start would go unseen.
  await new Promise((resolve) => setTimeout(resolve, 20))
  const started = performance.now()
  const pending: Array<Promise<A>> = []
  while (pending.length < n) {
    for (let i = 0; i < BATCH && pending.length < n; i++) pending.push(run())
    await new Promise((resolve) => setImmediate(resolve))
  }
  const results = await Promise.all(pending)
  const wallMs = performance.now() - started
  loop.disable()
  clearInterval(sampler)
  return { results, wallMs, stallMs: loop.max / 1e6, rssGrowthMiB: (peak - rss0) / 2 ** 20 }
}

/** One storm, in this process, after the same number of empty fibers as its baseline. */
const storm = async (scenario: Scenario): Promise<Figures> => {
  const runtime = ManagedRuntime.make(
    Layer.merge(Tracer.layer(backend), TracerConfig.layer({ rateLimit: scenario.rateLimit }))
  )
  const options: TraceOptions.TraceOptions = scenario.timeout === undefined ? {} : { timeout: scenario.timeout }
  await runtime.runPromise(Effect.void)
  const baseline = await fibers(scenario.traces, () => runtime.runPromise(Effect.either(Effect.void)))
  // The supervisor starts in the background when the layer is built; a storm that finds it still starting measures
  // its start-up, not the storm.
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const traced = await fibers(
    scenario.traces,
    () => runtime.runPromise(Effect.either(Tracer.trace(new Error("storm"), options)))
  )
  await runtime.dispose()
  const ok = traced.results.filter((r) => r._tag === "Right").length
  const busy = traced.results.filter((r) => r._tag === "Left" && r.left._tag === "TraceBusyError").length
  const timeout = traced.results.filter((r) => r._tag === "Left" && r.left._tag === "TraceTimeoutError").length
  return {
    ok,
    busy,
    timeout,
    other: traced.results.length - ok - busy - timeout,
    wallMs: traced.wallMs,
    baselineMs: baseline.wallMs,
    stallMs: traced.stallMs,
    baselineStallMs: baseline.stallMs,
    rssGrowthMiB: traced.rssGrowthMiB
  }
}

if (process.argv[2] === "--one") {
  const scenario = scenarios[Number(process.argv[3])]!
  storm(scenario).then((figures) => process.stdout.write(JSON.stringify(figures) + "\n"))
} else {
  const rows: Array<string> = []
  for (const [i, scenario] of scenarios.entries()) {
    const out = execFileSync(process.execPath, [...process.execArgv, import.meta.filename, "--one", String(i)], {
      encoding: "utf8",
      maxBuffer: 64 * 2 ** 20
    })
    const f: Figures = JSON.parse(out.trim().split("\n").at(-1)!)
    const row =
      `| ${scenario.name} | ${f.ok} ok, ${f.busy} busy, ${f.timeout} timeout, ${f.other} other | ${
        (f.wallMs / 1000).toFixed(2)
      } s ` +
      `(${(f.wallMs / f.baselineMs).toFixed(1)}× ${(f.baselineMs / 1000).toFixed(2)} s of empty fibers) | ` +
      `${f.stallMs.toFixed(0)} ms (${f.baselineStallMs.toFixed(0)} ms) | ${
        f.rssGrowthMiB.toFixed(0)
      } MiB | ${scenario.before} |`
    console.log(row)
    rows.push(row)
  }
  writeSection(
    "Storms of errors (bench/storm.ts)",
    `${machine()}. One run per scenario, each in a fresh process; a /bin/true backend, maxWaiting 16 (the default); ` +
      `the traces start ${
        BATCH.toLocaleString("en")
      } per turn of the event loop, and so do the empty fibers of the baseline ` +
      "(same runtime, same run).\n\n" +
      "| storm | outcome | settled in (× baseline) | longest event-loop stall (baseline) | peak RSS growth | before admission (issue 10) |\n" +
      "|---|---|---|---|---|---|\n" + rows.join("\n")
  )
}
