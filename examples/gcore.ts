/**
 * A custom backend in a few lines: `gcore` (shipped with gdb) writes a core
 * file of this process on every trace. See docs/backends.md.
 *
 * Run it with `npx tsx examples/gcore.ts`: it traces itself once and prints
 * where the core file went.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Tracer, type TracerBackend, TraceOptions } from "../src/index.js"

/**
 * A backend that runs `gcore -o <dir>/core <pid>`, which writes
 * `<dir>/core.<pid>`. The core's path is read from gdb's
 * `Saved corefile …` line on stdout.
 *
 * @since 0.1.0
 */
export const gcore = (dir: string): TracerBackend.TracerBackend => ({
  name: "gcore",
  // Backtrace's defaults, with a deadline that suits a large core.
  defaultTraceOptions: { ...TraceOptions.defaults, timeout: "60 seconds" },
  command: (request) => Command.make("gcore", "-o", path.join(dir, "core"), String(request.pid)),
  snapshot: (stdout) => Option.fromNullable(/^Saved corefile (.+)$/m.exec(stdout)?.[1]?.trim())
})

/**
 * The Tracer service running {@link gcore}.
 *
 * @since 0.1.0
 */
export const layer = (dir: string) => Tracer.layer(gcore(dir))

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const program = Effect.gen(function*() {
    const result = yield* Tracer.trace(new Error("example"))
    console.log(`core file: ${Option.getOrElse(result.snapshot, () => "(unknown)")} (${result.durationMs} ms)`)
  })
  Effect.runPromise(program.pipe(Effect.provide(layer(process.cwd())))).catch((error) => {
    console.error(String(error))
    process.exit(1)
  })
}
