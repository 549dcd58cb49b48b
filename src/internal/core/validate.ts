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

/** Fails with `reason` on `field` unless `ok`. */
export const check = (ok: boolean, field: string, reason: string): Effect.Effect<void, TracerConfigError> =>
  ok ? Effect.void : Effect.fail(new TracerConfigError({ field, reason }))

/** No entry of `values` holds a NUL byte (argv cannot carry one). */
export const noNul = (field: string, values: ReadonlyArray<string>): Effect.Effect<void, TracerConfigError> => {
  const index = values.findIndex((v) => v.includes("\0"))
  return check(index === -1, field, `entry ${index} contains a NUL byte`)
}

/** A deadline: absent, `"none"`, or something `Duration.decode` reads. */
export const checkTimeout = (
  field: string,
  timeout: TraceOptions.Timeout | undefined
): Effect.Effect<void, TracerConfigError> =>
  check(
    timeout === undefined || timeout === "none" || Option.isSome(Option.liftThrowable(Duration.decode)(timeout)),
    field,
    `not a duration or "none"`
  )

/** Attribute keys that a tracer's `key:value` argument can carry. */
export const checkAttributes = (attributes: Readonly<Record<string, string>>): Effect.Effect<void, TracerConfigError> =>
  Effect.forEach(Object.entries(attributes), ([key, value]) =>
    Effect.all([
      check(key !== "" && !key.includes(":"), "attributes", `key "${key}" must be non-empty and hold no ':'`),
      check(typeof value === "string", "attributes", `value of "${key}" is not a string`),
      check(!key.includes("\0") && !value.includes("\0"), "attributes", `"${key}" contains a NUL byte`)
    ]), { discard: true })
