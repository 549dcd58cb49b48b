/**
 * Where tracers run: in the supervisor (a small long-lived child process that
 * enforces the deadline and resumes this process even while it is stopped;
 * `runner/client.ts`), or inline (spawned from this process, with coreutils
 * `timeout` as the external watchdog; `process.ts`). If the supervisor cannot
 * start, the inline runner is used, with one log line per process.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as LogLevel from "effect/LogLevel"
import type { TracerRunError } from "../../TraceError.js"
import type { Settings } from "../../TracerConfig.js"
import * as Client from "../runner/client.js"
import { log } from "./log.js"
import * as Process from "./process.js"

const fellBack: { logged: boolean } = globalValue(Symbol.for("effect-bcd/internal/runner"), () => ({ logged: false }))

/** Starts the supervisor now, in the background, while the heap is small (a `fork` copies it). */
export const warmUp = (config: Settings): Effect.Effect<void> =>
  config.runner === "supervisor" ? Effect.asVoid(Effect.forkDaemon(Effect.ignore(Client.ensure))) : Effect.void

/**
 * Runs `spec` with the configured runner. `target` is the traced process when
 * it is not this one: the supervisor resumes it if a killed tracer left it
 * stopped (the inline runner does not).
 */
export const run = (
  config: Settings,
  backend: string,
  spec: Process.Spec,
  options: Process.RunOptions & { readonly target?: number }
): Effect.Effect<Process.Finished, TracerRunError> =>
  config.runner === "inline"
    ? Process.run(spec, options)
    : Effect.matchEffect(Client.ensure, {
      onFailure: (error) =>
        Effect.zipRight(
          fellBack.logged
            ? Effect.void
            : Effect.zipRight(
              Effect.sync(() => (fellBack.logged = true)),
              log(
                LogLevel.Error,
                backend,
                `${error.message}; running tracers in this process instead (runner "inline")`
              )
            ),
          Process.run(spec, options)
        ),
      onSuccess: () => Client.run(spec, { deadline: options.deadline, grace: options.grace, target: options.target })
    })
