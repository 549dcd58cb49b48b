/**
 * The check made once, when an eu-stack layer is built: the binary is found,
 * executable, and answers like eu-stack.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { TracerConfigError } from "../../TraceError.js"
import { probeTracer } from "../core/probe.js"
import { parseVersion } from "./command.js"

/** How to install eu-stack, in every message about a missing one. */
export const INSTALL = "eu-stack is part of elfutils; on Debian and Ubuntu: apt-get install elfutils"

/** Finds eu-stack and asks its version. */
export const probeEuStack = (euStackPath: string): Effect.Effect<
  { readonly path: string; readonly version: readonly [number, number] },
  TracerConfigError
> =>
  Effect.map(
    probeTracer(euStackPath, {
      field: "euStackPath",
      name: "eu-stack",
      args: ["--version"],
      parse: parseVersion,
      missing: `(${INSTALL})`,
      unexpected: INSTALL,
      maxBuffer: 64 * 1024
    }),
    ({ answer, path }) => ({ path, version: answer })
  )
