/**
 * A Backtrace JSON report (the body `@backtrace/sdk-core` 0.8 submits,
 * `BacktraceSubmitBody`) built from a parsed text snapshot:
 *
 * - the error's JS stack as the thread `js`, each other JS stack of the
 *   header (a hang's blocked main thread) as a thread of its own; the first
 *   is the report's `mainThread`, the one thread marked as faulting, so
 *   Backtrace groups by the JS frames (without any, the faulted native
 *   thread is);
 * - one thread per native thread, keyed by its LWP, named by its labels
 *   (`main thread, faulted`), frames with function, address and library;
 * - every header field and attribute as attributes, with Backtrace's
 *   conventional `application`, `hostname`, `process.id`, `uname.*`;
 * - the header's multi-line blocks (the stack, the `Cause`, …) as annotations.
 *
 * Pure: the host facts come in as {@link Context}.
 *
 * @internal
 */
import { type JsFrame, jsFrames } from "./jsStack.js"
import type { NativeFrame, NativeThread, Parsed } from "./parse.js"

/** What every frame has: the library (module or script), and where known a line and column. */
interface FrameBase {
  readonly library: string
  readonly line?: number
  readonly column?: number
  readonly debug_identifier?: string
}

/** A frame: `BacktraceSubmitStackFrame`, named by a function, an address, or both. */
export type ReportFrame =
  | FrameBase & { readonly funcName: string; readonly address?: string }
  | FrameBase & { readonly funcName?: string; readonly address: string }

/** A thread: `BacktraceSubmitThread`. */
export interface ReportThread {
  readonly name: string
  readonly fault: boolean
  // Arrays are mutable in these types only so that they fit the SDK's (checked in a test).
  readonly stack: Array<ReportFrame>
}

/** The report: the fields of `@backtrace/sdk-core`'s `BacktraceSubmitBody` that effect-bcd fills. */
export interface Report {
  readonly uuid: string
  /** Seconds since the epoch. */
  readonly timestamp: number
  readonly lang: "nodejs"
  readonly langVersion: string
  readonly agent: string
  readonly agentVersion: string
  readonly threads: Readonly<Record<string, ReportThread>>
  readonly mainThread: string
  readonly classifiers: Array<string>
  readonly attributes: Readonly<Record<string, string | number | boolean>>
  readonly annotations: Readonly<Record<string, unknown>>
}

/** The agent's name in reports. */
const AGENT = "effect-bcd"

/** effect-bcd's version (package.json's; a test keeps them equal). */
export const AGENT_VERSION = "0.1.0"

/** The key of the error's JS stack thread. */
export const JS_THREAD = "js"

/** What the report says that the snapshot does not. */
export interface Context {
  readonly uuid: string
  /** When the snapshot has no `time` field. */
  readonly now: Date
  readonly hostname: string
  /** `os.platform()` and friends. */
  readonly platform: string
  readonly arch: string
  readonly release: string
  /** Default: the snapshot's `program`. */
  readonly application?: string | undefined
  readonly version?: string | undefined
  /** The error's `_tag` or class, put first among the classifiers (when it is one). */
  readonly errorClass?: string | undefined
  /** The library (module path) of a native address the tracer did not name one for (from `/proc/<pid>/maps`). */
  readonly moduleOf?: ((address: bigint) => string | undefined) | undefined
}

const UNKNOWN = "unknown"

/** Backtrace's `uname.sysname` for a Node platform (as `@backtrace/node` writes it). */
export const sysname = (platform: string): string =>
  platform === "win32"
    ? "Windows"
    : platform === "darwin"
    ? "Mac OS"
    : platform.charAt(0).toUpperCase() + platform.slice(1)

/** The attribute a header field becomes: Backtrace's name when it has one, else the field with dots. */
const attributeName = (field: string): string =>
  ({ error: "error.message", pid: "process.id", fiber: "fiber.id" } as Record<string, string>)[field] ??
    field.replace(/\s+/g, ".")

const attributeValue = (name: string, value: string): string | number => {
  if (name === "process.id" && /^\d+$/.test(value)) return Number(value)
  if (name === "fiber.id" && /^#\d+$/.test(value)) return Number(value.slice(1))
  return value
}

/** Header fields that are not attributes: the report carries them elsewhere. */
const NOT_ATTRIBUTES = new Set(["time", "classifiers", "attributes"])

const jsStackFrame = (frame: JsFrame): ReportFrame => ({
  funcName: frame.function,
  library: frame.file,
  ...(frame.line === undefined ? {} : { line: frame.line }),
  ...(frame.column === undefined ? {} : { column: frame.column })
})

const nativeName = (thread: NativeThread): string =>
  thread.labels.length === 0 ? `thread ${thread.tid}` : thread.labels.join(", ")

/** Builds the report of one parsed snapshot. */
export const build = (parsed: Parsed, context: Context): Report => {
  const field = (name: string) => parsed.fields.find(([k]) => k === name)?.[1]
  const nativeFrame = (frame: NativeFrame): ReportFrame | undefined => {
    const library = frame.library ??
      (frame.address === undefined ? undefined : context.moduleOf?.(BigInt(frame.address))) ?? UNKNOWN
    const base = { library, ...(frame.buildId === undefined ? {} : { debug_identifier: frame.buildId }) }
    if (frame.function !== undefined) {
      return { ...base, funcName: frame.function, ...(frame.address === undefined ? {} : { address: frame.address }) }
    }
    return frame.address === undefined ? undefined : { ...base, address: frame.address }
  }

  // The JS stacks of the header: the error's (`stack`, or the `Cause`), and any other (a hang's main thread).
  const jsThreads: Array<[string, ReportThread]> = []
  for (const block of parsed.blocks) {
    const frames = jsFrames(block.text)
    const isError = block.title === "stack" || block.title === "cause"
    const key = isError ? JS_THREAD : `js: ${block.title}`
    if (frames.length === 0 || jsThreads.some(([k]) => k === key)) continue
    const name = isError ? "JavaScript: the error's stack" : `JavaScript: ${block.title}`
    jsThreads.push([key, { name, fault: false, stack: frames.map(jsStackFrame) }])
  }
  const native: Array<[string, ReportThread]> = parsed.threads.map((thread) => [String(thread.tid), {
    name: nativeName(thread),
    fault: false,
    stack: thread.frames.flatMap((frame) => nativeFrame(frame) ?? [])
  }])
  const faulted = parsed.threads.find((t) => t.labels.includes("faulted"))
  const pid = field("pid")
  // The thread Backtrace groups by, and the only one marked as faulting: a JS stack when there is one.
  const mainThread = jsThreads.find(([k]) => k === JS_THREAD)?.[0] ?? jsThreads[0]?.[0] ??
    (faulted === undefined ? undefined : String(faulted.tid)) ??
    native.find(([k]) => k === pid)?.[0] ?? native[0]?.[0] ?? JS_THREAD
  const threads: Record<string, ReportThread> = Object.fromEntries(
    [...jsThreads, ...native].map(([key, thread]) => [
      key,
      key === mainThread && (key.startsWith(JS_THREAD) || key === String(faulted?.tid))
        ? { ...thread, fault: true }
        : thread
    ])
  )
  // Backtrace requires `mainThread` to name a thread: a snapshot without any gets an empty one.
  if (!(mainThread in threads)) threads[mainThread] = { name: "no thread was read", fault: true, stack: [] }

  const attributes: Record<string, string | number | boolean> = {}
  for (const [name, value] of parsed.fields) {
    if (NOT_ATTRIBUTES.has(name)) continue
    const key = attributeName(name)
    attributes[key] = attributeValue(key, value.trimEnd())
  }
  // Trailing blanks are padding (a hang snapshot's header is written before its values are known).
  for (const [key, value] of parsed.attributes) attributes[key] = value.trimEnd()
  const application = context.application ?? field("program")
  Object.assign(attributes, {
    ...(application === undefined ? {} : { application }),
    ...(context.version === undefined ? {} : { "application.version": context.version }),
    hostname: context.hostname,
    "uname.sysname": sysname(context.platform),
    "uname.machine": context.arch,
    "uname.release": context.release,
    "process.thread.count": parsed.threads.length,
    ...(parsed.tracer === undefined ? {} : { tracer: parsed.tracer }),
    "snapshot.complete": parsed.complete
  })

  const listed = (field("classifiers") ?? "").split(", ").filter((c) => c !== "" && c !== "(none)")
  const errorClass = context.errorClass
  const classifiers = errorClass !== undefined && listed.includes(errorClass)
    ? [errorClass, ...listed.filter((c) => c !== errorClass)]
    : listed

  const annotations: Record<string, unknown> = {}
  // Keyed by the block's title without its parenthesised gloss (`node process state (handles, …)`).
  for (const block of parsed.blocks) {
    annotations[block.title.replace(/ \(.*\)$/, "")] = asJson(block.text) ?? block.text
  }

  const time = Date.parse(field("time") ?? "")
  return {
    uuid: context.uuid,
    timestamp: Math.floor((Number.isNaN(time) ? context.now.getTime() : time) / 1000),
    lang: "nodejs",
    langVersion: /^(v\S+)/.exec(field("node") ?? "")?.[1] ?? UNKNOWN,
    agent: AGENT,
    agentVersion: AGENT_VERSION,
    threads,
    mainThread,
    classifiers,
    attributes,
    annotations
  }
}

/** A block that holds a JSON object (an embedded Node report), parsed; else undefined. */
const asJson = (text: string): unknown => {
  if (!text.startsWith("{")) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
