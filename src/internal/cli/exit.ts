/**
 * How the command line ends: a `CliError` carries its exit code (1: the work
 * failed, 2: bad usage) and a message for stderr, never a stack trace.
 *
 * @internal
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"

/** Exit codes: 0 all done, 1 some work failed, 2 bad usage. */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const

/** A failure the CLI reports as one line and an exit code. */
export class CliError extends Data.TaggedError("CliError")<{
  readonly code: 1 | 2
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/** Bad usage (exit 2). */
export const usage = (reason: string): CliError => new CliError({ code: ExitCode.usage, reason })

/** The work failed (exit 1). */
export const failed = (reason: string): CliError => new CliError({ code: ExitCode.failed, reason })

/** An option's parser as `@effect/cli`'s `mapEffect`: a `Left` is a validation error (exit 2). */
export const validated = <A>(parse: (text: string) => Either.Either<A, string>) => (text: string) =>
  Either.match(parse(text), {
    onLeft: (reason) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(reason))),
    onRight: Effect.succeed
  })
