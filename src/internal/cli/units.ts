/**
 * The command line's quantities: ages (`30d`, `12h`) and sizes (`1GiB`,
 * `500MB`), parsed and printed. Pure.
 *
 * @internal
 */
import * as Either from "effect/Either"

const AGE_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40
}

const quantity = (text: string, units: Record<string, number>, bare: string | undefined) => {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim())
  if (match === null) return undefined
  const unit = match[2]!.toLowerCase() || bare
  const scale = unit === undefined ? undefined : units[unit]
  if (scale === undefined) return undefined
  const value = Number(match[1]) * scale
  return Number.isFinite(value) ? value : undefined
}

/** An age in milliseconds: a number with `ms`, `s`, `m`, `h`, `d` or `w` (`30d`, `1.5h`). */
export const parseAge = (text: string): Either.Either<number, string> => {
  const ms = quantity(text, AGE_UNITS, undefined)
  return ms === undefined
    ? Either.left(`${JSON.stringify(text)} is not an age: give a number and a unit, ms, s, m, h, d or w (30d, 12h)`)
    : Either.right(ms)
}

/** A size in bytes: a number alone (bytes) or with B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB. */
export const parseSize = (text: string): Either.Either<number, string> => {
  const bytes = quantity(text, SIZE_UNITS, "b")
  return bytes === undefined
    ? Either.left(
      `${JSON.stringify(text)} is not a size: give bytes, or a number with kB, MB, GB, KiB, MiB or GiB (1GiB)`
    )
    : Either.right(Math.floor(bytes))
}

/** Bytes for people: `512 B`, `1.5 KiB`, `3.2 MiB`. */
export const formatBytes = (bytes: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}
