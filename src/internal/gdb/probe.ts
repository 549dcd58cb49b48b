/**
 * Checks made once, when a gdb layer is built: the gdb binary (found,
 * executable, answers like gdb) and the output folder (created 0700 when
 * missing, writable).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { TracerConfigError } from "../../TraceError.js"
import { ensureOutputDir } from "../core/outputDir.js"
import { probeTracer } from "../core/probe.js"
import { type Capabilities, parseProbe, probeArgs } from "./command.js"

/** Finds gdb and asks it its version and whether it has Python. */
export const probeGdb = (gdbPath: string): Effect.Effect<
  { readonly path: string; readonly capabilities: Capabilities },
  TracerConfigError
> =>
  Effect.map(
    probeTracer(gdbPath, {
      field: "gdbPath",
      name: "gdb",
      args: probeArgs,
      parse: parseProbe,
      missing: "(on Debian: apt-get install gdb)",
      maxBuffer: 1024 * 1024
    }),
    ({ answer, path }) => ({ path, capabilities: answer })
  )

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
