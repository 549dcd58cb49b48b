/**
 * What Node knows about this process and a tracer cannot see, for a text
 * snapshot: open handles (sockets with their endpoints, servers, timers by
 * type), heap statistics, memory, resource usage, event-loop utilisation,
 * limits, the command line. Without the environment and without anything
 * resembling a secret.
 *
 * Not `process.report.getReport()`: on Node 20 it waits, without a bound,
 * for every `worker_threads` Worker to write its part, so a Worker blocked
 * in a native call (a synchronous read of a pipe, an addon) blocks it for
 * ever (measured: `getReport()` never returned; test/snapshot-context.test.ts
 * traces such a process). Everything here is read without another thread's
 * help.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as net from "node:net"
import { performance } from "node:perf_hooks"
import * as v8 from "node:v8"
import { TracerConfig } from "../../TracerConfig.js"
import { attempt } from "../core/errorValue.js"

/** What a removed secret is replaced with. */
export const REDACTED = "<redacted>"

/** A name that says its value is secret. */
const SECRET_NAME = /token|secret|passw(?:or)?d|pwd|api[-_]?key|access[-_]?key|private[-_]?key|auth|credential|cookie/i

/** `name=value` or `name:value` where the name says the value is secret (`--api-token=…`, `?token=…`). */
const SECRET_PAIR = new RegExp(`([\\w.-]*(?:${SECRET_NAME.source})[\\w.-]*)([=:])([^\\s&;,]+)`, "gi")

/** The password of a URL's user information: `scheme://user:password@host`. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi

/** A flag whose next argument is its (secret) value: `--token abc`. */
const SECRET_FLAG = new RegExp(`^--?[\\w.-]*(?:${SECRET_NAME.source})[\\w.-]*$`, "i")

/** `s` as an HTML form (and `URLSearchParams`) writes it: `~!'()` escaped, a space as `+`. */
const formEncoded = (s: string) => new URLSearchParams([["", s]]).toString().slice(1)

/** Each secret as it may be written: as is, URL-encoded, form-encoded; longest first. */
const spellings = (secrets: ReadonlyArray<string>): ReadonlyArray<string> =>
  [
    ...new Set(
      secrets.flatMap((s) => [s, encodeURIComponent(s), encodeURIComponent(s).replace(/%20/g, "+"), formEncoded(s)])
    )
  ].filter((s) => s !== "").sort((a, b) => b.length - a.length)

/** `text` without the `spelled` secrets (see {@link spellings}), secret-named values or URL passwords. */
const scrub = (text: string, spelled: ReadonlyArray<string>): string =>
  spelled
    .reduce((acc, secret) => acc.split(secret).join(REDACTED), text)
    .replace(SECRET_PAIR, `$1$2${REDACTED}`)
    .replace(URL_PASSWORD, `$1${REDACTED}@`)

/** `text` without `secrets` (in any spelling), secret-named values or URL passwords. */
export const scrubText = (text: string, secrets: ReadonlyArray<string>): string => scrub(text, spellings(secrets))

const redactSpelled = (args: ReadonlyArray<string>, spelled: ReadonlyArray<string>): ReadonlyArray<string> =>
  args.map((arg, i) => i > 0 && SECRET_FLAG.test(args[i - 1]!) ? REDACTED : scrub(arg, spelled))

/** A command line with each secret-looking argument redacted, including the value after `--token`. */
export const redactArgs = (args: ReadonlyArray<string>, secrets: ReadonlyArray<string>): ReadonlyArray<string> =>
  redactSpelled(args, spellings(secrets))

/** `value` with every string scrubbed of the `spelled` secrets, and secret-named values redacted. */
const sanitize = (value: unknown, spelled: ReadonlyArray<string>): unknown => {
  if (typeof value === "string") return scrub(value, spelled)
  if (Array.isArray(value)) return value.map((item) => sanitize(item, spelled))
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      SECRET_NAME.test(key) && (typeof item === "string" || typeof item === "number")
        ? REDACTED
        : sanitize(item, spelled)
    ])
  )
}

/** At most this many handles are listed one by one. */
const MAX_HANDLES = 200

/** Node's undocumented list of the handles that keep the event loop alive; empty when it is gone. */
const activeHandles = (): ReadonlyArray<unknown> =>
  attempt(() => (process as unknown as { _getActiveHandles?: () => Array<unknown> })._getActiveHandles?.() ?? [], [])

const endpoint = (address: string | undefined, port: number | undefined) =>
  address === undefined ? undefined : `${address.includes(":") ? `[${address}]` : address}:${port}`

/** One handle, as far as it can be described without waiting for anything. */
const describeHandle = (handle: unknown): Record<string, unknown> =>
  attempt((): Record<string, unknown> => {
    if (handle instanceof net.Socket) {
      const fd = (handle as unknown as { _handle?: { fd?: unknown } })._handle?.fd
      return {
        type: "socket",
        local: endpoint(handle.localAddress, handle.localPort) ?? null,
        remote: endpoint(handle.remoteAddress, handle.remotePort) ?? null,
        ...(typeof fd === "number" && fd >= 0 ? { fd } : {}),
        ...(handle.pending ? { pending: true } : {})
      }
    }
    if (handle instanceof net.Server) {
      const address = handle.address()
      return {
        type: "server",
        address: typeof address === "string"
          ? address
          : address === null
          ? null
          : endpoint(address.address, address.port)
      }
    }
    return { type: (handle as object)?.constructor?.name ?? typeof handle }
  }, { type: "unknown" })

/** Counts of `items` by name. */
const countBy = (items: ReadonlyArray<string>): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1
  return counts
}

/** `/proc/self/limits` as `{ "Max open files": "1024 / 1048576 files" }` (soft / hard). */
const limits = (): Record<string, string> =>
  attempt(() => {
    const out: Record<string, string> = {}
    for (const line of fs.readFileSync("/proc/self/limits", "utf8").split("\n").slice(1)) {
      const m = /^(.+?)\s{2,}(\S+)\s+(\S+)\s*(\S*)\s*$/.exec(line)
      if (m) out[m[1]!] = `${m[2]} / ${m[3]}${m[4] ? ` ${m[4]}` : ""}`
    }
    return out
  }, {})

/** `f()`, or `null` when it throws. */
const read = <A>(f: () => A): A | null => attempt<A | null>(f, null)

/** This process's state now, as plain data (before sanitising). */
export const processState = (): Record<string, unknown> => {
  const handles = activeHandles()
  return {
    node: {
      version: process.version,
      pid: process.pid,
      ppid: process.ppid,
      uptimeSeconds: Math.round(process.uptime() * 1000) / 1000,
      commandLine: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
      cwd: attempt(() => process.cwd(), null)
    },
    resources: attempt(() => countBy(process.getActiveResourcesInfo()), {}),
    handles: handles.slice(0, MAX_HANDLES).map(describeHandle),
    ...(handles.length > MAX_HANDLES ? { handlesLeftOut: handles.length - MAX_HANDLES } : {}),
    memory: read(() => process.memoryUsage()),
    heap: read(() => v8.getHeapStatistics()),
    heapSpaces: attempt(
      () =>
        Object.fromEntries(
          v8.getHeapSpaceStatistics().map((s) => [s.space_name, {
            size: s.space_size,
            used: s.space_used_size,
            available: s.space_available_size
          }])
        ),
      {}
    ),
    resourceUsage: read(() => process.resourceUsage()),
    eventLoopUtilization: read(() => performance.eventLoopUtilization()),
    limits: limits()
  }
}

/**
 * A state (as {@link processState} gives it) with its command line's
 * secret-looking arguments redacted, and with `secrets` and secret-named
 * values removed everywhere.
 */
export const sanitizeState = (
  state: Record<string, unknown>,
  secrets: ReadonlyArray<string>
): Record<string, unknown> => {
  // The spellings worked out once for the whole state, not once per string in it.
  const spelled = spellings(secrets)
  const node = state.node as { commandLine?: unknown } | undefined
  const withArgs = node !== undefined && Array.isArray(node.commandLine)
    ? { ...state, node: { ...node, commandLine: redactSpelled(node.commandLine.map(String), spelled) } }
    : state
  return sanitize(withArgs, spelled) as Record<string, unknown>
}

/** This process's state now, sanitised, as indented JSON; or why there is none. */
export const takeReport = (secrets: ReadonlyArray<Redacted.Redacted<string>>): string =>
  attempt(
    () => JSON.stringify(sanitizeState(processState(), secrets.map(Redacted.value)), null, 2),
    "unavailable: reading the process's state failed"
  )

/** The state for a snapshot, unless `TracerConfig.nodeReport` is off. */
export const forSnapshot = (
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): Effect.Effect<string | undefined> =>
  Effect.flatMap(
    TracerConfig,
    (config) => config.nodeReport ? Effect.sync(() => takeReport(secrets)) : Effect.succeed(undefined)
  )
