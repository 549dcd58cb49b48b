/**
 * `effect-bcd check`: the permission pre-flight (`Tracer.checkPermissions`)
 * for a backend's tracer: Yama, `CAP_SYS_PTRACE`, the tracer binary, whether
 * a trace would be refused and the fix; with `--pid`, also whether that
 * process could be traced (`effect-bcd trace`).
 *
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as PlatformCommand from "@effect/platform/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TraceOptions from "../../TraceOptions.js"
import * as Tracer from "../../Tracer.js"
import * as TracerConfig from "../../TracerConfig.js"
import * as Backends from "./backends.js"
import * as Connection from "./connection.js"
import { failed } from "./exit.js"
import { inspect } from "./target.js"

const pid = Options.integer("pid").pipe(
  Options.optional,
  Options.withDescription("Also check whether this process could be traced (effect-bcd trace)")
)

const yesNo = (b: boolean) => (b ? "yes" : "no")

/** The `check` command. */
export const command = Command.make(
  "check",
  { backend: Backends.option, tracer: Backends.tracerOption, pid, json: Connection.json },
  (options) =>
    Effect.gen(function*() {
      const program = Option.getOrElse(options.tracer, () => Backends.defaultProgram(options.backend))
      // A backend that only names its program: the check builds no command and probes nothing.
      const report = yield* Tracer.checkPermissions.pipe(
        Effect.provideServiceEffect(
          Tracer.Tracer,
          Tracer.make({
            name: options.backend,
            program,
            defaultTraceOptions: TraceOptions.defaults,
            command: () => PlatformCommand.make(program)
          })
        ),
        Effect.scoped,
        Effect.provide(TracerConfig.layer({ runner: "inline" })),
        Effect.mapError((e) => failed(e.message))
      )
      const target = Option.map(options.pid, inspect)
      // A pid that names no process is bad usage, as in `trace`.
      if (Option.isSome(target) && Either.isLeft(target.value) && target.value.left.code === 2) {
        return yield* target.value.left
      }
      const targetReasons = Option.match(target, {
        onNone: () => [],
        onSome: Either.match({ onLeft: (e) => [e.reason], onRight: (t) => t.warnings })
      })
      const refused = report.refused || Option.exists(target, Either.isLeft)
      if (options.json) {
        yield* Console.log(JSON.stringify({
          tracer: report.tracer,
          tracerPath: Option.getOrNull(report.tracerPath),
          ptraceScope: Option.getOrNull(report.ptraceScope),
          capSysPtrace: report.capSysPtrace,
          tracerCapSysPtrace: report.tracerCapSysPtrace,
          ptracerAny: report.ptracerAny,
          tracedBy: Option.getOrNull(report.tracedBy),
          refused,
          reasons: [...report.reasons, ...targetReasons],
          ...Option.match(options.pid, { onNone: () => ({}), onSome: (pid) => ({ pid }) })
        }))
      } else {
        const lines = [
          `tracer:           ${report.tracer} (${Option.getOrElse(report.tracerPath, () => "not found")})`,
          `yama ptrace_scope: ${Option.match(report.ptraceScope, { onNone: () => "absent", onSome: String })}`,
          `CAP_SYS_PTRACE:   ${yesNo(report.capSysPtrace)} (the tracer: ${yesNo(report.tracerCapSysPtrace)})`,
          `PR_SET_PTRACER:   ${yesNo(report.ptracerAny)}`,
          `traced by:        ${Option.match(report.tracedBy, { onNone: () => "nobody", onSome: String })}`,
          `this process:     ${report.refused ? "a trace would be refused" : "a trace would be allowed"}`,
          ...Option.match(target, {
            onNone: () => [],
            onSome: (
              t
            ) => [
              `process ${Option.getOrThrow(options.pid)}:${" ".repeat(4)}${Either.isLeft(t) ? "refused" : "allowed"}`
            ]
          }),
          ...[...report.reasons, ...targetReasons].map((reason) => `  - ${reason}`)
        ]
        yield* Console.log(lines.join("\n"))
      }
      if (refused) return yield* failed("a trace would be refused")
    })
).pipe(Command.withDescription("Check whether a trace would be allowed here (Yama, CAP_SYS_PTRACE, the tracer)"))
