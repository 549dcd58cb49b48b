/**
 * Type-checks the code examples against the library, as Effect's docgen does for its packages:
 * - every ```ts block of a JSDoc `@example` in src/**\/*.ts;
 * - every ```ts block of README.md and docs/*.md, except those whose fence says ```ts nocheck.
 *
 * Each block is compiled as a module of its own (an `export {}` is appended, nothing else), so it
 * must bring its own imports; `effect-bcd` resolves to src/index.ts through tsconfig.json's `paths`.
 * One program over all the blocks, with tsconfig.json's options except that unused names are allowed
 * (an example often declares a `program` it never runs). The blocks are served from memory, under
 * a directory that does not exist (.examples/), so nothing is written to disk.
 *
 * Usage: tsx scripts/check-examples.ts. Prints `file:line: message` per error; exits 1 on any.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(import.meta.dirname, "..")

interface Example {
  readonly file: string // relative to root
  readonly line: number // 1-based line, in `file`, of the block's first line of code
  readonly code: string
}

const fence = /^```(?:ts|typescript)(?:\s+(.*))?$/

/** The ```ts blocks of the `@example` tags of the JSDoc comments in a TypeScript file. */
const fromJsDoc = (file: string, text: string): Array<Example> => {
  const examples: Array<Example> = []
  let inComment = false
  let tag = ""
  let block: { line: number; lines: Array<string> } | undefined
  text.split("\n").forEach((raw, i) => {
    if (!inComment) {
      inComment = /^\s*\/\*\*/.test(raw) && !raw.includes("*/")
      tag = ""
      return
    }
    if (/^\s*\*\//.test(raw)) {
      inComment = false
      return
    }
    const line = raw.replace(/^\s*\* ?/, "")
    if (block) {
      if (line.trimEnd() === "```") {
        examples.push({ file, line: block.line, code: block.lines.join("\n") })
        block = undefined
      } else block.lines.push(line)
    } else if (/^@\w+/.test(line)) tag = line.split(/\s/)[0]!
    else if (tag === "@example" && fence.test(line.trim())) block = { line: i + 2, lines: [] }
  })
  return examples
}

/** The ```ts blocks of a Markdown file, less the ```ts nocheck ones. */
const fromMarkdown = (file: string, text: string): Array<Example> => {
  const examples: Array<Example> = []
  let block: { line: number; indent: number; check: boolean; lines: Array<string> } | undefined
  text.split("\n").forEach((raw, i) => {
    const indent = raw.length - raw.trimStart().length
    const line = raw.trim()
    if (block) {
      if (line === "```") {
        if (block.check) examples.push({ file, line: block.line, code: block.lines.join("\n") })
        block = undefined
      } else block.lines.push(raw.slice(Math.min(indent, block.indent)))
    } else if (line.startsWith("```")) {
      const match = fence.exec(line)
      const check = match !== null && !(match[1] ?? "").split(/\s+/).includes("nocheck")
      block = { line: i + 2, indent, check, lines: [] }
    }
  })
  return examples
}

const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8")
const sources = (fs.readdirSync(path.join(root, "src"), { recursive: true }) as Array<string>)
  .filter((f) => f.endsWith(".ts"))
  .map((f) => path.join("src", f))
  .sort()
const docs = fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).sort()
const markdown = ["README.md", ...docs.map((f) => path.join("docs", f))]
const examples = [
  ...sources.flatMap((f) => fromJsDoc(f, read(f))),
  ...markdown.flatMap((f) => fromMarkdown(f, read(f)))
]

// One in-memory module per example: .examples/src__Tracer.ts__L108.ts
const virtual = new Map<string, Example>()
for (const example of examples) {
  const name = `${example.file.replaceAll("/", "__")}__L${example.line}.ts`
  virtual.set(path.join(root, ".examples", name), example)
}
const codeOf = (fileName: string) => {
  const example = virtual.get(path.resolve(fileName))
  return example && `${example.code}\nexport {}\n`
}

const config = ts.getParsedCommandLineOfConfigFile(path.join(root, "tsconfig.json"), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => {
    throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"))
  }
})!
const options: ts.CompilerOptions = {
  ...config.options,
  noEmit: true,
  noUnusedLocals: false,
  noUnusedParameters: false,
  declaration: false,
  sourceMap: false
}
const host = ts.createCompilerHost(options)
const { fileExists, getSourceFile, readFile } = host
host.fileExists = (f) => virtual.has(path.resolve(f)) || fileExists(f)
host.readFile = (f) => codeOf(f) ?? readFile(f)
host.getSourceFile = (f, language, onError, fresh) => {
  const code = codeOf(f)
  return code === undefined ? getSourceFile(f, language, onError, fresh) : ts.createSourceFile(f, code, language)
}

const program = ts.createProgram([...virtual.keys()], options, host)
const failed = new Set<Example>()
const reports: Array<{ file: string; line: number; text: string }> = []
for (const d of ts.getPreEmitDiagnostics(program)) {
  if (d.category !== ts.DiagnosticCategory.Error) continue
  const message = `${ts.flattenDiagnosticMessageText(d.messageText, "\n    ")} (TS${d.code})`
  if (!d.file || d.start === undefined) {
    reports.push({ file: "", line: 0, text: `error: ${message}` })
    continue
  }
  const { line } = d.file.getLineAndCharacterOfPosition(d.start)
  const example = virtual.get(path.resolve(d.file.fileName))
  if (example) failed.add(example)
  // An error outside the examples is one in the library itself, as compiled for them.
  const file = example ? example.file : path.relative(root, d.file.fileName)
  const at = example ? example.line + line : line + 1
  reports.push({ file, line: at, text: `${file}:${at}: ${message}` })
}
reports.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
for (const r of reports) console.log(r.text)
const count = (inDocs: boolean) => {
  const all = examples.filter((e) => e.file.startsWith("src/") !== inDocs)
  return `${all.filter((e) => !failed.has(e)).length} of ${all.length}`
}
console.log(
  `${count(false)} JSDoc examples (src) and ${count(true)} Markdown examples (README.md, docs) type-check` +
    (reports.length > 0 ? `; ${reports.length} errors` : "")
)
process.exitCode = reports.length > 0 ? 1 : 0
