/**
 * The check made once, when an eu-stack layer is built: the binary is found,
 * executable, and answers like eu-stack.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { TracerConfigError } from "../../TraceError.js"
import { findExecutable } from "../core/executable.js"
import { parseVersion } from "./command.js"

const PROBE_TIMEOUT_MS = 15_000

/** How to install eu-stack, in every message about a missing one. */
export const INSTALL = "eu-stack is part of elfutils; on Debian and Ubuntu: apt-get install elfutils"

/** Finds eu-stack and asks its version. */
export const probeEuStack = (euStackPath: string): Effect.Effect<
  { readonly path: string; readonly version: readonly [number, number] },
  TracerConfigError
> =>
  Effect.suspend(() => {
    const found = findExecutable(euStackPath, process.env.PATH)
    if (found === undefined) {
      return Effect.fail(
        new TracerConfigError({
          field: "euStackPath",
          reason: `${JSON.stringify(euStackPath)} was not found or is not executable` +
            (euStackPath.includes("/") ? "" : " in PATH") + ` (${INSTALL})`
        })
      )
    }
    // `--version` prints a few lines and attaches to nothing: a pipe is safe here.
    return Effect.async<{ readonly path: string; readonly version: readonly [number, number] }, TracerConfigError>(
      (resume) => {
        const child = execFile(
          found,
          ["--version"],
          { timeout: PROBE_TIMEOUT_MS, killSignal: "SIGKILL", env: process.env, maxBuffer: 64 * 1024 },
          (error, stdout, stderr) => {
            const version = parseVersion(String(stdout))
            if (version !== undefined) return resume(Effect.succeed({ path: found, version }))
            const why = error?.killed
              ? `did not answer within ${PROBE_TIMEOUT_MS / 1000} s`
              : String(stderr).trim().split("\n").slice(-2).join(" | ")
            resume(Effect.fail(
              new TracerConfigError({
                field: "euStackPath",
                reason: `${found} does not answer like eu-stack${why === "" ? "" : `: ${why}`} (${INSTALL})`
              })
            ))
          }
        )
        child.stdin?.end()
        return Effect.sync(() => {
          child.kill("SIGKILL")
        })
      }
    )
  })
