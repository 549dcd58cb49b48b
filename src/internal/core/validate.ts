/**
 * The small checks both backends run on their options when a layer is
 * built. Each fails with a `TracerConfigError` naming the field.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { TracerConfigError } from "../../TraceError.js"
import type * as TraceOptions from "../../TraceOptions.js"
import { badAttributeKey, isNegative } from "./config.js"

/** Fails with `reason` on `field` unless `ok`. */
export const check = (ok: boolean, field: string, reason: string): Effect.Effect<void, TracerConfigError> =>
  ok ? Effect.void : Effect.fail(new TracerConfigError({ field, reason }))

/** No entry of `values` holds a NUL byte (argv cannot carry one). */
export const noNul = (field: string, values: ReadonlyArray<string>): Effect.Effect<void, TracerConfigError> => {
  const index = values.findIndex((v) => v.includes("\0"))
  return check(index === -1, field, `entry ${index} contains a NUL byte`)
}

/** A deadline: absent, `"none"`, or something `Duration.decode` reads that is longer than 0 (and not negative). */
export const checkTimeout = (
  field: string,
  timeout: TraceOptions.Timeout | undefined
): Effect.Effect<void, TracerConfigError> => {
  if (timeout === undefined || timeout === "none") return Effect.void
  const negative = isNegative(timeout)
  const decoded = Option.liftThrowable(Duration.decode)(timeout)
  return Effect.zipRight(
    check(Option.isSome(decoded), field, `not a duration or "none"`),
    check(!negative && Option.exists(decoded, (d) => !Duration.isZero(d)), field, "must be longer than 0")
  )
}

/** Attribute keys and values that a tracer's `key:value` argument can carry (see `badAttributeKey`). */
export const checkAttributes = (attributes: Readonly<Record<string, string>>): Effect.Effect<void, TracerConfigError> =>
  Effect.forEach(Object.entries(attributes), ([key, value]) => {
    const bad = badAttributeKey(key)
    return Effect.all([
      check(bad === undefined, "attributes", bad ?? ""),
      check(typeof value === "string", "attributes", `value of "${key}" is not a string`),
      check(typeof value !== "string" || !value.includes("\0"), "attributes", `"${key}" contains a NUL byte`)
    ])
  }, { discard: true })

/** A folder mode that lets the group or others read, write or enter. */
export const sharedMode = (mode: number): boolean => (mode & 0o077) !== 0

/** Why a shared mode is refused, and how to opt in. */
export const sharedModeReason = (mode: number, optIn: string): string =>
  `0${mode.toString(8)} lets other users into the snapshot folder (snapshots hold this process's memory); ` +
  `set ${optIn} to allow it`
