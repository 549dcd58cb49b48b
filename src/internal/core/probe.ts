/**
 * The check a tracer's layer makes once, when it is built: the program is
 * found (as `execvp` would), is executable, and answers a harmless question
 * (its version) the way that tracer does.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { TracerConfigError } from "../../TraceError.js"
import { findExecutable } from "./executable.js"

const PROBE_TIMEOUT_MS = 15_000

/** What to ask a tracer, and how to read and word its answer. */
export interface Probe<A> {
  /** The option that names the program (`gdbPath`), as the field of a `TracerConfigError`. */
  readonly field: string
  /** The tracer's name in messages (`gdb`). */
  readonly name: string
  readonly args: ReadonlyArray<string>
  /** The answer, or `undefined` when stdout is not that tracer's. */
  readonly parse: (stdout: string) => A | undefined
  /** Appended to the message when the program is missing, e.g. how to install it. */
  readonly missing: string
  /** Appended, in parentheses, to the message when it does not answer as expected. */
  readonly unexpected?: string
  readonly maxBuffer: number
}

/** Finds `program` and asks it `probe.args`; its absolute path and the parsed answer. */
export const probeTracer = <A>(
  program: string,
  probe: Probe<A>
): Effect.Effect<{ readonly path: string; readonly answer: A }, TracerConfigError> =>
  Effect.suspend(() => {
    const found = findExecutable(program, process.env.PATH)
    if (found === undefined) {
      return Effect.fail(
        new TracerConfigError({
          field: probe.field,
          reason: `${JSON.stringify(program)} was not found or is not executable` +
            (program.includes("/") ? "" : " in PATH") + ` ${probe.missing}`
        })
      )
    }
    // The answer is a few lines and nothing is attached to: a pipe is safe here.
    return Effect.async<{ readonly path: string; readonly answer: A }, TracerConfigError>((resume) => {
      const child = execFile(
        found,
        probe.args,
        { timeout: PROBE_TIMEOUT_MS, killSignal: "SIGKILL", env: process.env, maxBuffer: probe.maxBuffer },
        (error, stdout, stderr) => {
          const answer = probe.parse(String(stdout))
          if (answer !== undefined) return resume(Effect.succeed({ path: found, answer }))
          const why = error?.killed
            ? `did not answer within ${PROBE_TIMEOUT_MS / 1000} s`
            : String(stderr).trim().split("\n").slice(-2).join(" | ")
          resume(Effect.fail(
            new TracerConfigError({
              field: probe.field,
              reason: `${found} does not answer like ${probe.name}${why === "" ? "" : `: ${why}`}` +
                (probe.unexpected === undefined ? "" : ` (${probe.unexpected})`)
            })
          ))
        }
      )
      child.stdin?.end()
      return Effect.sync(() => {
        child.kill("SIGKILL")
      })
    })
  })
