/**
 * Node's diagnostic report (`process.report.getReport()`) for a text
 * snapshot: what Node knows and a tracer cannot see (libuv handles, heap
 * statistics, resource usage, limits, loaded libraries), without the
 * environment and without anything resembling a secret.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { TracerConfig } from "../../TracerConfig.js"
import { attempt } from "../core/errorValue.js"

/** What a removed secret is replaced with. */
export const REDACTED = "<redacted>"

/**
 * Parts of the report left out: the environment (where tokens live); the
 * JS and native stacks, which at trace time are only this library's own
 * frames (the error's stack is in the header); the network interfaces
 * (the host's addresses, not the process's state).
 */
const DROPPED: ReadonlyArray<string> = ["environmentVariables", "javascriptStack", "nativeStack"]

/** A name that says its value is secret. */
const SECRET_NAME = /token|secret|passw(?:or)?d|pwd|api[-_]?key|access[-_]?key|private[-_]?key|auth|credential|cookie/i

/** `name=value` or `name:value` where the name says the value is secret (`--api-token=…`, `?token=…`). */
const SECRET_PAIR = new RegExp(`([\\w.-]*(?:${SECRET_NAME.source})[\\w.-]*)([=:])([^\\s&;,]+)`, "gi")

/** The password of a URL's user information: `scheme://user:password@host`. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi

/** A flag whose next argument is its (secret) value: `--token abc`. */
const SECRET_FLAG = new RegExp(`^--?[\\w.-]*(?:${SECRET_NAME.source})[\\w.-]*$`, "i")

/** Each secret as it may be written: as is, URL-encoded, form-encoded; longest first. */
const spellings = (secrets: ReadonlyArray<string>): ReadonlyArray<string> =>
  [
    ...new Set(
      secrets.flatMap((s) => [s, encodeURIComponent(s), encodeURIComponent(s).replace(/%20/g, "+")])
    )
  ].filter((s) => s !== "").sort((a, b) => b.length - a.length)

/** `text` without `secrets` (in any spelling), secret-named values or URL passwords. */
export const scrubText = (text: string, secrets: ReadonlyArray<string>): string =>
  spellings(secrets)
    .reduce((acc, secret) => acc.split(secret).join(REDACTED), text)
    .replace(SECRET_PAIR, `$1$2${REDACTED}`)
    .replace(URL_PASSWORD, `$1${REDACTED}@`)

/** A command line with each secret-looking argument redacted, including the value after `--token`. */
export const redactArgs = (args: ReadonlyArray<string>, secrets: ReadonlyArray<string>): ReadonlyArray<string> =>
  args.map((arg, i) => i > 0 && SECRET_FLAG.test(args[i - 1]!) ? REDACTED : scrubText(arg, secrets))

const sanitize = (value: unknown, secrets: ReadonlyArray<string>): unknown => {
  if (typeof value === "string") return scrubText(value, secrets)
  if (Array.isArray(value)) return value.map((item) => sanitize(item, secrets))
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      SECRET_NAME.test(key) && (typeof item === "string" || typeof item === "number")
        ? REDACTED
        : sanitize(item, secrets)
    ])
  )
}

/**
 * A report (as `process.report.getReport()` gives it), and each of its
 * Workers' reports, without the {@link DROPPED} parts, with its command line's secret-looking arguments
 * redacted, and with `secrets` and secret-named values removed everywhere.
 */
export const sanitizeReport = (report: object, secrets: ReadonlyArray<string>): Record<string, unknown> => {
  const kept: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(report)) if (!DROPPED.includes(key)) kept[key] = value
  // Each Worker's report (a loader's thread included) has an environment and a command line of its own.
  if (Array.isArray(kept.workers)) {
    kept.workers = kept.workers.map((worker) =>
      typeof worker === "object" && worker !== null ? sanitizeReport(worker, secrets) : worker
    )
  }
  const header = kept.header
  if (typeof header === "object" && header !== null) {
    const { commandLine, networkInterfaces: _, ...rest } = header as Record<string, unknown>
    kept.header = {
      ...rest,
      ...(Array.isArray(commandLine) ? { commandLine: redactArgs(commandLine.map(String), secrets) } : {})
    }
  }
  return sanitize(kept, secrets) as Record<string, unknown>
}

/** `process.report`, with the setting Node 20.13+ has (absent from older type definitions). */
type Reporter = typeof process.report & { excludeNetwork?: boolean }

/**
 * This process's report now, taken with `excludeNetwork` (no network
 * interfaces, which are dropped anyway, and no reverse DNS lookup of each
 * socket's endpoints, which could block on a slow resolver), sanitised, as
 * indented JSON; or why there is none.
 */
export const takeReport = (secrets: ReadonlyArray<Redacted.Redacted<string>>): string =>
  attempt(() => {
    const reporter = process.report as Reporter | undefined
    if (reporter === undefined) return "unavailable: process.report is missing"
    // Before Node 20.13 the setting does not exist: leave the object alone.
    const settable = typeof reporter.excludeNetwork === "boolean"
    const previous = reporter.excludeNetwork === true
    if (settable) reporter.excludeNetwork = true
    let report: object
    try {
      report = reporter.getReport()
    } finally {
      if (settable) reporter.excludeNetwork = previous
    }
    return JSON.stringify(sanitizeReport(report, secrets.map(Redacted.value)), null, 2)
  }, "unavailable: process.report.getReport() failed")

/** The report for a snapshot, unless `TracerConfig.nodeReport` is off. */
export const forSnapshot = (
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): Effect.Effect<string | undefined> =>
  Effect.flatMap(
    TracerConfig,
    (config) => config.nodeReport ? Effect.sync(() => takeReport(secrets)) : Effect.succeed(undefined)
  )
