/**
 * `effect-bcd trace <pid>`: a snapshot of another running process (one that
 * hangs, say) with the library's own runner, deadline and rescue: the
 * supervisor enforces the deadline and resumes the target if a killed tracer
 * left it stopped. Optionally uploads the snapshot.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Tracer from "../../Tracer.js"
import * as TracerConfig from "../../TracerConfig.js"
import { endpointUrl } from "../backtrace/endpoint.js"
import * as Backends from "./backends.js"
import * as Connection from "./connection.js"
import { failed, usage, validated } from "./exit.js"
import { inspect } from "./target.js"
import { parseAge } from "./units.js"

const pid = Args.integer({ name: "pid" }).pipe(Args.withDescription("The process to trace"))

const out = Options.text("out").pipe(
  Options.optional,
  Options.withDescription("The folder the snapshot is written to (created 0700); default ./snapshots")
)

const upload = Options.boolean("upload").pipe(
  Options.withDescription("Upload the snapshot to --endpoint (BCD_ENDPOINT) with --token (BCD_TOKEN); it is kept")
)

const timeout = Options.text("timeout").pipe(
  Options.mapEffect(validated(parseAge)),
  Options.withDefault(120_000),
  Options.withDescription("The deadline of the trace; the tracer is killed past it (default 120s)")
)

/** The `trace` command. */
export const command = Command.make(
  "trace",
  {
    pid,
    backend: Backends.option,
    tracer: Backends.tracerOption,
    out,
    upload,
    endpoint: Options.optional(Connection.endpoint),
    token: Connection.token,
    timeout,
    json: Connection.json
  },
  (options) =>
    Effect.gen(function*() {
      const target = yield* inspect(options.pid)
      for (const warning of target.warnings) yield* Console.error(`effect-bcd: warning: ${warning}`)
      let put: URL | undefined
      if (options.upload) {
        if (Option.isNone(options.endpoint)) return yield* usage("--upload needs --endpoint (or BCD_ENDPOINT)")
        put = yield* Either.mapLeft(
          endpointUrl(options.endpoint.value, Option.getOrUndefined(options.token)),
          (e) => usage(e.reason)
        )
      }
      const layer = Layer.provideMerge(
        Backends.layer(options.backend, {
          tracer: Option.getOrUndefined(options.tracer),
          outputDir: Option.getOrUndefined(options.out),
          program: target.name,
          put
        }),
        // The command reports the trace's outcome itself: no log line repeats it.
        TracerConfig.layer({ rateLimit: 0, logLevel: LogLevel.Fatal })
      )
      const result = yield* Tracer.trace(undefined, {
        pid: target.pid,
        faulted: false,
        errorClassification: false,
        timeout: options.timeout
      }).pipe(
        Effect.provide(layer),
        Effect.tapError((e) =>
          options.json
            ? Console.log(JSON.stringify({ pid: target.pid, backend: options.backend, error: e.message }))
            : Effect.void
        ),
        Effect.mapError((e) => failed(e.message))
      )
      const snapshot = Option.getOrNull(result.snapshot)
      yield* Console.log(
        options.json
          ? JSON.stringify({
            pid: target.pid,
            backend: options.backend,
            snapshot,
            durationMs: result.durationMs,
            uploaded: put !== undefined
          })
          : `traced process ${target.pid} (${target.name}) with ${options.backend} in ${result.durationMs} ms` +
            (snapshot === null ? "" : `: ${snapshot}`) + (put === undefined ? "" : ", uploaded")
      )
    })
).pipe(
  Command.withDescription("Take a snapshot of another running process (one that hangs) with eu-stack, gdb or ptrace")
)
