/**
 * What watching the event loop costs, and how soon a hang is caught:
 * `Tracer.watchEventLoop` against the same program without it, in the same
 * run (fresh processes, alternated).
 *
 * Each host builds the eu-stack Tracer and, in `watch` mode, starts
 * `Tracer.watchEventLoop({ threshold: 200 ms })` (a heartbeat every 50 ms).
 * After a second of rest it reports its RSS and how many `setImmediate`
 * turns its event loop runs in one second (the loop's throughput, which the
 * heartbeat and the watcher thread share). In `watch` mode it then blocks
 * its main thread 3 times for 800 ms in a busy loop, and reports each
 * snapshot's `event_loop.blocked_ms` (how long the loop had been blocked
 * when eu-stack started; the threshold is the floor).
 *
 * Figures go to bench/RESULTS.md, section "Hang snapshots" (`--dry`: printed only).
 *
 *   npx tsx bench/hang.ts [rounds] [--dry]        (default 5 rounds)
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { EuStack, Tracer, TracerConfig } from "../src/index.js"
import { machine, median, writeSection } from "./results.js"

const THRESHOLD_MS = 200
const EPISODES = 3
const BLOCK_MS = 800

type Mode = "baseline" | "watch"

interface Report {
  readonly mode: Mode
  readonly rssMiB: number
  readonly turnsPerSecond: number
  readonly blockedMs: ReadonlyArray<number>
}

function busyFor(ms: number): number {
  const end = Date.now() + ms
  let sum = 0
  while (Date.now() < end) sum += Math.sqrt(sum + 1)
  return sum
}

/** `setImmediate` turns in `ms`. */
const turns = (ms: number) =>
  Effect.promise(() =>
    new Promise<number>((resolve) => {
      const end = performance.now() + ms
      let n = 0
      const turn = () => {
        n++
        if (performance.now() < end) setImmediate(turn)
        else resolve(n * 1000 / ms)
      }
      setImmediate(turn)
    })
  )

const host = (mode: Mode, dir: string) =>
  Effect.gen(function*() {
    yield* Effect.ignore(Tracer.enableTracing)
    const measured = yield* Effect.scoped(Effect.gen(function*() {
      if (mode === "watch") yield* Tracer.watchEventLoop({ threshold: Duration.millis(THRESHOLD_MS) })
      yield* Effect.sleep("1 second")
      const rssMiB = process.memoryUsage().rss / 2 ** 20
      const turnsPerSecond = yield* turns(1000)
      if (mode === "watch") {
        for (let i = 0; i < EPISODES; i++) {
          busyFor(BLOCK_MS)
          yield* Effect.sleep("700 millis")
        }
      }
      return { rssMiB, turnsPerSecond }
    }))
    const blockedMs = fs.existsSync(dir)
      ? fs.readdirSync(dir).map((f) =>
        Number(/^ {2}event_loop\.blocked_ms: (\d+)/m.exec(fs.readFileSync(path.join(dir, f), "utf8"))?.[1])
      )
      : []
    console.log(JSON.stringify({ mode, ...measured, blockedMs } satisfies Report))
  }).pipe(
    Effect.provide(
      Layer.merge(EuStack.layer({ outputDir: dir, program: "hang-bench" }), TracerConfig.layer({ rateLimit: 0 }))
    )
  )

const fmt = (x: number) => x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)
const spread = (xs: ReadonlyArray<number>) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`

const main = () => {
  const rounds = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 5)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-bench-hang-"))
  const reports: Array<Report> = []
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of (round % 2 === 0 ? ["baseline", "watch"] : ["watch", "baseline"]) as Array<Mode>) {
        const dir = path.join(work, `${round}-${mode}`)
        const run = spawnSync(process.execPath, [
          "--import",
          "tsx",
          fileURLToPath(import.meta.url),
          "--host",
          mode,
          dir
        ], {
          encoding: "utf8",
          timeout: 120_000
        })
        const line = run.stdout.split("\n").find((l) => l.startsWith("{"))
        if (run.status !== 0 || line === undefined) throw new Error(`host ${mode} failed: ${run.stderr}`)
        reports.push(JSON.parse(line))
      }
      process.stderr.write(`round ${round + 1}/${rounds}\n`)
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  const of = (mode: Mode) => reports.filter((r) => r.mode === mode)
  const base = of("baseline")
  const watch = of("watch")
  const blocked = watch.flatMap((r) => r.blockedMs)
  const ratio = (f: (r: Report) => number) => median(watch.map(f)) / median(base.map(f))
  const body = [
    `${machine()}; nproc ${os.availableParallelism()}. Load average (1 min) ${os.loadavg()[0]!.toFixed(1)} at the end.`,
    "",
    `\`npx tsx bench/hang.ts ${rounds}\`: ${rounds} fresh host processes per mode, alternated; each builds the eu-stack ` +
    `Tracer; \`watch\` adds \`Tracer.watchEventLoop({ threshold: ${THRESHOLD_MS} ms })\` (heartbeat every ` +
    `${THRESHOLD_MS / 4} ms) and then blocks its main thread ${EPISODES} times for ${BLOCK_MS} ms.`,
    "",
    "| Mode | RSS after 1 s (MiB) | Event-loop turns per second (setImmediate) | Snapshots per host |",
    "|---|---|---|---|",
    `| baseline | ${spread(base.map((r) => r.rssMiB))} | ${spread(base.map((r) => r.turnsPerSecond))} | - |`,
    `| watch | ${spread(watch.map((r) => r.rssMiB))} | ${spread(watch.map((r) => r.turnsPerSecond))} | ${
      spread(watch.map((r) => r.blockedMs.length))
    } |`,
    "",
    `Watch against baseline (medians): RSS ×${ratio((r) => r.rssMiB).toFixed(2)} ` +
    `(+${(median(watch.map((r) => r.rssMiB)) - median(base.map((r) => r.rssMiB))).toFixed(1)} MiB), ` +
    `event-loop turns ×${ratio((r) => r.turnsPerSecond).toFixed(2)}.`,
    "",
    `How long the loop had been blocked when eu-stack started (\`event_loop.blocked_ms\`, ${blocked.length} snapshots; ` +
    `the threshold, ${THRESHOLD_MS} ms, is the floor): ${spread(blocked)} ms, ` +
    `that is ${fmt(median(blocked) / THRESHOLD_MS)}× the threshold (median).`,
    "",
    "Each cell: median (min–max)."
  ].join("\n")
  console.log(body)
  if (!process.argv.includes("--dry")) writeSection("Hang snapshots", body)
}

if (process.argv[2] === "--host") {
  Effect.runPromise(host(process.argv[3] as Mode, process.argv[4]!)).catch((error) => {
    console.error(error)
    process.exit(1)
  })
} else {
  main()
}
