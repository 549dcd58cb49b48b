/**
 * The `effect-bcd` command line: `upload`, `check` and `trace`, built with
 * `@effect/cli`, run on the Node platform. Every ending is an exit code: 0
 * all done, 1 some work failed (with the reasons), 2 bad usage (with the
 * usage), 130 interrupted (Ctrl-C).
 *
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Check from "./check.js"
import { ExitCode, usage } from "./exit.js"
import * as Log from "./log.js"
import * as Trace from "./trace.js"
import * as Upload from "./upload.js"

/** The root command. */
export const root = Command.make("effect-bcd", {}, () => usage("give a command: upload, check or trace (see --help)"))
  .pipe(
    Command.withDescription("Upload left-behind snapshots, check ptrace permissions, trace a running process"),
    Command.withSubcommands([Upload.command, Check.command, Trace.command])
  )

const INTERRUPTED = 130

/** Runs the command line on `argv` (with node and the script first); succeeds with the exit code. */
export const run = (argv: ReadonlyArray<string>, version: string): Effect.Effect<number> =>
  Command.run(root, { name: "effect-bcd", version })(argv).pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAll((error) =>
      ValidationError.isValidationError(error)
        ? Effect.succeed(ExitCode.usage) // @effect/cli has printed the error and the usage
        : Effect.as(Console.error(`effect-bcd: ${error.message}`), error.code)
    ),
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.succeed(INTERRUPTED)
        : Effect.as(
          Console.error(`effect-bcd: unexpected error (a bug): ${Cause.squash(cause)}`),
          ExitCode.failed
        )
    ),
    Effect.provide(Layer.merge(NodeContext.layer, Log.stderr))
  )

/** Runs the command line as the process's main program and exits with its code. */
export const main = (argv: ReadonlyArray<string>, version: string): void =>
  NodeRuntime.runMain(run(argv, version), {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) =>
      onExit(Exit.isSuccess(exit) && typeof exit.value === "number" ? exit.value : INTERRUPTED)
  })
