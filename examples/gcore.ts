/**
 * A custom backend in a few lines: `gcore` (shipped with gdb) writes a core
 * file of this process on every trace. See docs/backends.md.
 *
 * Run it with `npx tsx examples/gcore.ts`: it traces itself once and prints
 * where the core file went. Unlike the gdb backend, gcore has no size guard:
 * see the note on `coredump_filter` below.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { TraceError, TraceOptions, Tracer, type TracerBackend } from "../src/index.js"

/** One trace's files: gcore writes `<prefix>.<pid>`. */
interface Plan {
  readonly prefix: string
  readonly core: string
}

/**
 * A backend that runs `gcore -o <dir>/core.<time> <pid>`, which writes
 * `<dir>/core.<time>.<pid>`, created 0600 beforehand. Its plan holds those
 * paths: chosen once per trace, handed to `command` and `prepare`, and read
 * back as the snapshot.
 *
 * @since 0.1.0
 */
export const gcore = (dir: string): TracerBackend.TracerBackend<Plan> => ({
  name: "gcore",
  program: "gcore",
  // Backtrace's defaults, with a deadline that suits a large core.
  defaultTraceOptions: { ...TraceOptions.defaults, timeout: "60 seconds" },
  // A new name per trace, so that no core replaces an earlier one.
  plan: (request) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const prefix = path.join(dir, `core.${now}`)
      return { prefix, core: `${prefix}.${request.pid}` }
    }),
  command: (request, plan) => Command.make("gcore", "-o", plan.prefix, String(request.pid)),
  // A core holds this process's memory: create it 0600 (gdb keeps the mode of a file it overwrites).
  prepare: (_request, plan) =>
    Effect.try({
      try: () => {
        fs.closeSync(fs.openSync(plan.core, "wx", 0o600))
        return plan
      },
      catch: (cause) => new TraceError.TracerRunError({ path: "gcore", reason: "io", detail: String(cause), cause })
    }),
  snapshot: (_stdout, _request, plan) => Option.some(plan.core)
})

/**
 * The Tracer service running {@link gcore}.
 *
 * @since 0.1.0
 */
export const layer = (dir: string) => Tracer.layer(gcore(dir))

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const program = Effect.gen(function*() {
    // Where Yama's ptrace_scope is 1, let gcore's gdb attach to this process.
    yield* Effect.ignore(Tracer.enableTracing)
    // tsx loads WebAssembly, whose reserved memory gdb writes out as zeros: a 32 GB core.
    // For this demo, leave anonymous memory out of the core (a few MB). See docs/gdb.md, "Core files".
    fs.writeFileSync("/proc/self/coredump_filter", "0")
    const result = yield* Tracer.trace(new Error("example"))
    console.log(`core file: ${Option.getOrElse(result.snapshot, () => "(unknown)")} (${result.durationMs} ms)`)
  })
  Effect.runPromise(program.pipe(Effect.provide(layer(process.cwd())))).catch((error) => {
    console.error(String(error))
    process.exit(1)
  })
}
