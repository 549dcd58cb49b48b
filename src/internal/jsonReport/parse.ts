/**
 * Reading a finished text snapshot (gdb's or eu-stack's, after the shared
 * header of `snapshot/header.ts`) back into data: the header's fields,
 * attributes and blocks, and each native thread with its labels and frames.
 * Pure: it is fed lines, so a large snapshot is never held whole.
 *
 * @internal
 */

/** One native frame as the tracer printed it. */
export interface NativeFrame {
  /** The function, when the tracer named it (gdb's `??` is none). */
  readonly function?: string
  /** `0x…`, when printed (gdb leaves it out of some frames with debug information). */
  readonly address?: string
  /** The shared object or executable (eu-stack; gdb's `from …`). */
  readonly library?: string
  /** The source file and line (gdb's `at file:line`). */
  readonly file?: string
  readonly line?: number
  /** The module's build id (eu-stack's `-b` line). */
  readonly buildId?: string
}

/** One native thread: its LWP, the labels the finalize pass added (`main thread`, `faulted`, …), its frames. */
export interface NativeThread {
  readonly tid: number
  readonly labels: ReadonlyArray<string>
  readonly frames: ReadonlyArray<NativeFrame>
}

/** A multi-line header entry (`stack:`, `cause:`, …): its title and text, indentation removed. */
export interface Block {
  readonly title: string
  readonly text: string
}

/** What a snapshot says. */
export interface Parsed {
  /** The tracer named on the first line (`gdb`, `eu-stack`), if the header is there. */
  readonly tracer: string | undefined
  /** `name: value` header fields, in order (`time`, `pid`, `error`, …). */
  readonly fields: ReadonlyArray<readonly [string, string]>
  /** The `attributes:` entries. */
  readonly attributes: ReadonlyArray<readonly [string, string]>
  readonly blocks: ReadonlyArray<Block>
  readonly threads: ReadonlyArray<NativeThread>
  /** The tracer's end marker is there (gdb's marker, or the end line of the eu-stack pass). */
  readonly complete: boolean
}

/** A line parser: feed it every line, then read the result. */
export interface Parser {
  readonly push: (line: string) => void
  readonly result: () => Parsed
}

const FIRST_LINE = /^effect-bcd snapshot \((.+)\)$/
/** `name:   value` or `name:` (a block), at the start of a header line. */
const ENTRY = /^([^\s:][^:]*):(?: +(.*))?$/
/** gdb: `Thread 3 (Thread 0x7f… (LWP 1234) "node"): [labels]`; eu-stack: `TID 1234: [labels]`. */
const GDB_THREAD = /^Thread \d+ \(.*\(LWP (\d+)\).*\):(?: \[(.*)\])?$/
const EU_THREAD = /^TID (\d+):(?: \[(.*)\])?$/
const FRAME = /^#\d+\s+(.*)$/
const BUILD_ID = /^\s+\[([0-9a-f]*)\]@0x[0-9a-f]+\+0x[0-9a-f]+$/
const END = /^==== end of (gdb|eu-stack) output/

/** Where the parenthesised argument list at the end of `text` starts, balancing nested parentheses. */
const argsStart = (text: string): number => {
  if (!text.endsWith(")")) return -1
  let depth = 0
  for (let i = text.length - 1; i >= 0; i--) {
    if (text[i] === ")") depth++
    else if (text[i] === "(" && --depth === 0) return text[i - 1] === " " ? i - 1 : -1
  }
  return -1
}

/** gdb: `[0x… in ]function (args)[ at file:line| from library]`. */
export const gdbFrame = (rest: string): NativeFrame => {
  let text = rest
  let location: Partial<NativeFrame> = {}
  const at = /\) at (.+):(\d+)$/.exec(text)
  const from = at === null ? /\) from (\S+)$/.exec(text) : null
  if (at !== null) {
    location = { file: at[1]!, line: Number(at[2]) }
    text = text.slice(0, at.index + 1)
  } else if (from !== null) {
    location = { library: from[1]! }
    text = text.slice(0, from.index + 1)
  }
  const address = /^(0x[0-9a-f]+) in /.exec(text)
  if (address !== null) text = text.slice(address[0].length)
  const start = argsStart(text)
  const name = (start === -1 ? text : text.slice(0, start)).trim()
  return {
    ...(name === "" || name === "??" ? {} : { function: name }),
    ...(address === null ? {} : { address: address[1]! }),
    ...location
  }
}

/** eu-stack: `0x…[ function][ - module]`. */
export const euStackFrame = (rest: string): NativeFrame => {
  const address = /^(0x[0-9a-f]+)\s*/.exec(rest)
  let text = address === null ? rest : rest.slice(address[0].length)
  let library: string | undefined
  const dash = text.lastIndexOf(" - ")
  if (text.startsWith("- ")) {
    library = text.slice(2)
    text = ""
  } else if (dash !== -1) {
    library = text.slice(dash + 3)
    text = text.slice(0, dash)
  }
  const name = text.trim()
  return {
    ...(name === "" ? {} : { function: name }),
    ...(address === null ? {} : { address: address[1]! }),
    ...(library === undefined || library === "" ? {} : { library })
  }
}

const labelsOf = (text: string | undefined) => text === undefined ? [] : text.split(", ").filter((l) => l !== "")

/** A parser of one snapshot's lines. */
export const makeParser = (): Parser => {
  let tracer: string | undefined
  const fields: Array<readonly [string, string]> = []
  const attributes: Array<readonly [string, string]> = []
  const blocks: Array<{ title: string; lines: Array<string> }> = []
  const threads: Array<{ tid: number; labels: ReadonlyArray<string>; frames: Array<NativeFrame> }> = []
  let complete = false
  let lineNo = 0
  let inHeader = true
  // The header entry that indented lines continue.
  let open: { kind: "field" | "attribute"; index: number } | { kind: "block" } | { kind: "attributes" } | undefined
  let thread: (typeof threads)[number] | undefined
  let frameStyle: "gdb" | "eu-stack" = "gdb"

  const header = (line: string) => {
    if (line === "") {
      inHeader = false
      return
    }
    if (line.startsWith("    ") && open?.kind === "attribute") {
      const [k, v] = attributes[open.index]!
      attributes[open.index] = [k, `${v}\n${line.slice(4)}`]
      return
    }
    if (line.startsWith("  ")) {
      const text = line.slice(2)
      if (open?.kind === "field") {
        const [k, v] = fields[open.index]!
        fields[open.index] = [k, `${v}\n${text}`]
      } else if (open?.kind === "attributes" || open?.kind === "attribute") {
        const colon = text.indexOf(": ")
        attributes.push(colon === -1 ? [text.replace(/:$/, ""), ""] : [text.slice(0, colon), text.slice(colon + 2)])
        open = { kind: "attribute", index: attributes.length - 1 }
      } else if (open?.kind === "block") {
        blocks[blocks.length - 1]!.lines.push(text)
      }
      return
    }
    const entry = ENTRY.exec(line)
    if (entry === null) return
    const [, name, value] = entry
    if (value !== undefined) {
      fields.push([name!, value])
      open = { kind: "field", index: fields.length - 1 }
    } else if (name === "attributes") {
      open = { kind: "attributes" }
    } else {
      blocks.push({ title: name!, lines: [] })
      open = { kind: "block" }
    }
  }

  const output = (line: string) => {
    if (END.test(line)) complete = true
    const heading = GDB_THREAD.exec(line) ?? EU_THREAD.exec(line)
    if (heading !== null) {
      frameStyle = line.startsWith("TID ") ? "eu-stack" : "gdb"
      thread = { tid: Number(heading[1]), labels: labelsOf(heading[2]), frames: [] }
      threads.push(thread)
      return
    }
    if (thread === undefined) return
    if (line === "" || line.startsWith("====")) {
      thread = undefined
      return
    }
    const frame = FRAME.exec(line)
    if (frame !== null) {
      thread.frames.push(frameStyle === "gdb" ? gdbFrame(frame[1]!) : euStackFrame(frame[1]!))
      return
    }
    const buildId = BUILD_ID.exec(line)
    const last = thread.frames.length - 1
    if (buildId !== null && buildId[1] !== "" && last >= 0) {
      thread.frames[last] = { ...thread.frames[last]!, buildId: buildId[1]! }
    }
  }

  return {
    push: (line) => {
      lineNo++
      if (lineNo === 1) {
        const first = FIRST_LINE.exec(line)
        if (first !== null) {
          tracer = first[1]
          return
        }
        inHeader = false
      }
      if (inHeader) header(line)
      else output(line)
    },
    result: () => ({
      tracer,
      fields,
      attributes,
      blocks: blocks.map((b) => ({ title: b.title, text: b.lines.join("\n") })),
      threads,
      complete
    })
  }
}

/** Parses a whole snapshot held as text. */
export const parse = (text: string): Parsed => {
  const parser = makeParser()
  for (const line of text.split(/\r?\n/)) parser.push(line)
  return parser.result()
}
