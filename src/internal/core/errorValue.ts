/**
 * Reading what a trace was given: its message, its class and its stack,
 * from an error, any thrown value, or an Effect `Cause`. Every read is
 * guarded: a hostile value (a throwing getter, a revoked Proxy, a `toString`
 * that throws) gives a placeholder, never a failed trace.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"

/** What a value that cannot be read at all is shown as. */
export const UNPRINTABLE = "[unprintable value]"

/** The classifier of a `Cause` made only of interruptions. */
const INTERRUPT = "Interrupt"

const isObject = (u: unknown): u is Record<PropertyKey, unknown> => typeof u === "object" && u !== null

/** `f()`, or `fallback` when it throws: reading an error must never break its trace. */
export const attempt = <A>(f: () => A, fallback: A): A => {
  try {
    return f()
  } catch {
    return fallback
  }
}

/** Whether `u` is a `Cause` (false for a value that throws when asked). */
export const isCause = (u: unknown): u is Cause.Cause<unknown> => attempt(() => Cause.isCause(u), false)

/**
 * What a `Cause` is about: its first failure (`Cause.failureOption`, first in
 * sequential and parallel causes alike), else its first defect
 * (`Cause.dieOption`); `None` for a cause of interruptions only (or empty).
 */
export const squashed = (cause: Cause.Cause<unknown>): Option.Option<unknown> =>
  attempt(() => Option.orElse(Cause.failureOption(cause), () => Cause.dieOption(cause)), Option.none())

/**
 * A plain value's text: Go's `e.Error()`, the message even when empty (Go
 * passes `--kv error:` for `errors.New("")`); a tagged error without a
 * message gives its tag; anything else, the value as text.
 */
const messageOf = (error: unknown): string =>
  attempt(() => {
    if (isObject(error)) {
      const message = error.message
      if (typeof message === "string" && message !== "") return message
      if (typeof error._tag === "string") return error._tag
      if (typeof message === "string") return message
    }
    return typeof error === "string" ? error : String(error)
  }, UNPRINTABLE)

/**
 * The message of what a trace was given. For a `Cause`: that of its
 * {@link squashed} error, or `interrupted` for a cause of interruptions only.
 */
export const errorMessage = (error: unknown): string => {
  if (!isCause(error)) return messageOf(error)
  return Option.match(squashed(error), {
    onNone: () => attempt(() => Cause.isInterruptedOnly(error), false) ? "interrupted" : "empty cause",
    onSome: messageOf
  })
}

/** Go's `reflect.TypeOf(e)`: the `_tag` of a tagged error, else its constructor's name, else its type. */
const classOf = (error: unknown): string => {
  if (!isObject(error)) return typeof error
  return attempt(() => {
    if (typeof error._tag === "string" && error._tag !== "") return error._tag
    const name = Object.getPrototypeOf(error)?.constructor?.name
    return typeof name === "string" && name !== "" ? name : "Object"
  }, "Object")
}

/**
 * The classifier of what a trace was given. For a `Cause`: the class of its
 * {@link squashed} error (never `Fail` or `Die`), {@link INTERRUPT} for a cause
 * of interruptions only, `Empty` for an empty one.
 */
export const classify = (error: unknown): string => {
  if (!isCause(error)) return classOf(error)
  return Option.match(squashed(error), {
    onNone: () => attempt(() => Cause.isInterruptedOnly(error), false) ? INTERRUPT : "Empty",
    onSome: classOf
  })
}

/** The value's own JS stack, when it has a readable non-empty one. */
export const stackOf = (error: unknown): string | undefined =>
  attempt(() => {
    if (!isObject(error)) return undefined
    const stack = error.stack
    return typeof stack === "string" && stack !== "" ? stack : undefined
  }, undefined)

/** `Cause.pretty`, or `undefined` when rendering the cause throws (a hostile value inside it). */
export const prettyCause = (cause: Cause.Cause<unknown>): string | undefined =>
  attempt(() => Cause.pretty(cause, { renderErrorCause: true }), undefined)
