/**
 * The three backends by name, as the command line chooses them: the tracer
 * program each runs, and its `live` layer for one output folder and upload.
 *
 * @internal
 */
import * as Options from "@effect/cli/Options"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Backtrace from "../../Backtrace.js"
import * as EuStack from "../../EuStack.js"
import * as Gdb from "../../Gdb.js"
import type { TracerConfigError } from "../../TraceError.js"
import type * as Tracer from "../../Tracer.js"

/** The backends' names. */
export const names = ["eu-stack", "gdb", "backtrace"] as const

/** A backend's name. */
export type Name = typeof names[number]

/** `--backend`. */
export const option = Options.choice("backend", names).pipe(
  Options.withDefault("eu-stack" as Name),
  Options.withDescription("The tracer: eu-stack (elfutils; stops one thread at a time), gdb, or backtrace (ptrace)")
)

/** `--tracer`. */
export const tracerOption = Options.text("tracer").pipe(
  Options.optional,
  Options.withDescription("The tracer's program (a path, or a name looked up in PATH); default the backend's")
)

/** The program a backend runs by default. */
export const defaultProgram = (name: Name): string => name === "backtrace" ? Backtrace.defaultTracerPath : name

/** What one trace from the command line needs. */
export interface Setup {
  readonly tracer: string | undefined
  readonly outputDir: string | undefined
  /** The snapshot's program name (the target's). */
  readonly program: string
  /** The submission URL, token included, when the snapshot is to be uploaded. */
  readonly put: URL | undefined
}

/** The `live` layer of backend `name`. */
export const layer = (name: Name, setup: Setup): Layer.Layer<Tracer.Tracer, TracerConfigError> => {
  const outputDir = setup.outputDir === undefined ? {} : { outputDir: setup.outputDir }
  const url = setup.put === undefined ? undefined : Redacted.make(setup.put.href)
  // What the gdb and eu-stack layers share: the folder, the program, and the upload URL.
  const text = { ...outputDir, program: setup.program, ...(url === undefined ? {} : { put: { url } }) }
  switch (name) {
    case "eu-stack":
      return EuStack.live({ ...(setup.tracer === undefined ? {} : { euStackPath: setup.tracer }), ...text })
    case "gdb":
      return Gdb.live({ ...(setup.tracer === undefined ? {} : { gdbPath: setup.tracer }), ...text })
    case "backtrace":
      return Backtrace.live({
        ...(setup.tracer === undefined ? {} : { tracerPath: setup.tracer }),
        ...outputDir,
        ...(url === undefined ? {} : { put: { endpoint: url } })
      })
  }
}
