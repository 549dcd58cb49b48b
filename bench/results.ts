/**
 * Writing figures to bench/RESULTS.md: each benchmark owns one `## ` section,
 * replaced in place when it runs again, under a header naming the machine.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const FILE = path.resolve(import.meta.dirname, "RESULTS.md")

/** This machine in one line: cores, CPU, memory, kernel, Node. */
export const machine = (): string => {
  const kernel = (() => {
    try {
      return execFileSync("uname", ["-sr"], { encoding: "utf8" }).trim()
    } catch {
      return os.release()
    }
  })()
  return `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? "unknown CPU"}), ` +
    `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${kernel}, Node ${process.version}`
}

/** The median of `values`. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Replaces (or appends) the section `## heading` of bench/RESULTS.md with `body`. */
export const writeSection = (heading: string, body: string): void => {
  const title = `## ${heading}`
  const text = fs.existsSync(FILE)
    ? fs.readFileSync(FILE, "utf8")
    : "# Benchmark results\n\nWritten by `npm run bench` (each script replaces its own section). The docs quote these figures.\n"
  const section = `${title}\n\n${body.trim()}\n`
  const start = text.indexOf(`${title}\n`)
  if (start === -1) return fs.writeFileSync(FILE, `${text.trimEnd()}\n\n${section}`)
  const next = text.indexOf("\n## ", start + title.length)
  fs.writeFileSync(FILE, text.slice(0, start) + section + (next === -1 ? "" : text.slice(next)))
}
