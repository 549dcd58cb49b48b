/**
 * Checks made once, when a gdb layer is built: the gdb binary (found,
 * executable, answers like gdb) and the output folder (created 0700 when
 * missing, writable).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { TracerConfigError } from "../../TraceError.js"
import { findExecutable } from "../core/executable.js"
import { ensureOutputDir } from "../core/outputDir.js"
import { type Capabilities, parseProbe, probeArgs } from "./command.js"

const PROBE_TIMEOUT_MS = 15_000

/** Finds gdb and asks it its version and whether it has Python. */
export const probeGdb = (gdbPath: string): Effect.Effect<
  { readonly path: string; readonly capabilities: Capabilities },
  TracerConfigError
> =>
  Effect.suspend(() => {
    const found = findExecutable(gdbPath, process.env.PATH)
    if (found === undefined) {
      return Effect.fail(
        new TracerConfigError({
          field: "gdbPath",
          reason: `${JSON.stringify(gdbPath)} was not found or is not executable` +
            (gdbPath.includes("/") ? "" : ` in PATH`) + " (on Debian: apt-get install gdb)"
        })
      )
    }
    // The probe's output is a few lines and no ptrace is involved: a pipe is safe here.
    return Effect.async<{ readonly path: string; readonly capabilities: Capabilities }, TracerConfigError>((resume) => {
      const child = execFile(
        found,
        probeArgs,
        { timeout: PROBE_TIMEOUT_MS, killSignal: "SIGKILL", env: process.env, maxBuffer: 1024 * 1024 },
        (error, stdout, stderr) => {
          const capabilities = parseProbe(String(stdout))
          if (capabilities !== undefined) return resume(Effect.succeed({ path: found, capabilities }))
          const why = error?.killed
            ? `did not answer within ${PROBE_TIMEOUT_MS / 1000} s`
            : String(stderr).trim().split("\n").slice(-2).join(" | ")
          resume(Effect.fail(
            new TracerConfigError({
              field: "gdbPath",
              reason: `${found} does not answer like gdb${why === "" ? "" : `: ${why}`}`
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

/** Characters gdb's command parser could misread in a file name. */
const UNSAFE_PATH = /[\u0000-\u001f\u007f"'\\]/

/** Creates `dir` (0700) when missing, and checks a file can be created in it. Returns its absolute path. */
export const prepareOutputDir = (dir: string): Effect.Effect<string, TracerConfigError> =>
  UNSAFE_PATH.test(path.resolve(dir))
    ? new TracerConfigError({
      field: "outputDir",
      reason: "must not contain control characters, quotes or backslashes (gdb reads it as a command argument)"
    })
    : ensureOutputDir(dir, 0o700)
