/**
 * The command line's pure parts: ages and sizes, the pruning choice
 * (Crashpad's order: age first, then the oldest until the size fits), and
 * the progress output (a bar on a terminal, lines otherwise).
 */
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as Progress from "../src/internal/cli/progress.js"
import * as Prune from "../src/internal/cli/prune.js"
import { formatBytes, parseAge, parseSize } from "../src/internal/cli/units.js"

describe("ages and sizes", () => {
  it.each([
    ["30d", 30 * 86_400_000],
    ["12h", 12 * 3_600_000],
    ["1.5h", 5_400_000],
    ["90m", 5_400_000],
    ["45s", 45_000],
    ["250ms", 250],
    ["2w", 14 * 86_400_000],
    [" 7 d ", 7 * 86_400_000]
  ])("age %j is %d ms", (text, ms) => expect(parseAge(text)).toEqual(Either.right(ms)))

  it.each(["30", "d", "30 days", "-1d", "1y", ""])("age %j is refused with the accepted units", (text) => {
    const parsed = parseAge(text)
    expect(Either.isLeft(parsed) && parsed.left).toContain("ms, s, m, h, d or w")
  })

  it.each([
    ["1GiB", 2 ** 30],
    ["1gib", 2 ** 30],
    ["500MB", 500e6],
    ["1.5KiB", 1536],
    ["2048", 2048],
    ["2048B", 2048],
    ["1TB", 1e12]
  ])("size %j is %d bytes", (text, bytes) => expect(parseSize(text)).toEqual(Either.right(bytes)))

  it.each(["lots", "1 GiBs", "GiB", "-5MB", "1e9"])("size %j is refused", (text) => {
    expect(Either.isLeft(parseSize(text))).toBe(true)
  })

  it.each([[0, "0 B"], [1023, "1023 B"], [1024, "1.0 KiB"], [1536, "1.5 KiB"], [5 * 2 ** 20, "5.0 MiB"], [
    3 * 2 ** 30,
    "3.0 GiB"
  ]])("%d bytes print as %s", (bytes, text) => expect(formatBytes(bytes)).toBe(text))
})

describe("pruning", () => {
  const day = 86_400_000
  const now = 100 * day
  const entry = (name: string, ageDays: number, size: number): Prune.Entry => ({
    path: name,
    size,
    mtimeMs: now - ageDays * day
  })
  const names = (r: ReturnType<typeof Prune.choose>) => ({
    pruned: r.pruned.map((p) => `${p.path}:${p.reason}`),
    kept: r.kept.map((k) => k.path)
  })
  const entries = [entry("c", 1, 300), entry("a", 40, 100), entry("d", 0, 400), entry("b", 31, 200)]

  it("no limits: everything is kept, oldest first", () => {
    expect(names(Prune.choose(entries, {}, now))).toEqual({ pruned: [], kept: ["a", "b", "c", "d"] })
  })

  it("by age: strictly older than the limit", () => {
    expect(names(Prune.choose(entries, { maxAgeMs: 31 * day }, now))).toEqual({
      pruned: ["a:age"],
      kept: ["b", "c", "d"]
    })
  })

  it("by size: the oldest go until the rest fit; a total exactly at the limit fits", () => {
    expect(names(Prune.choose(entries, { maxSize: 700 }, now))).toEqual({
      pruned: ["a:size", "b:size"],
      kept: ["c", "d"]
    })
    expect(names(Prune.choose(entries, { maxSize: 1000 }, now)).pruned).toEqual([])
    expect(names(Prune.choose(entries, { maxSize: 0 }, now)).kept).toEqual([])
  })

  it("age first, then size over what is left", () => {
    expect(names(Prune.choose(entries, { maxAgeMs: 30 * day, maxSize: 400 }, now))).toEqual({
      pruned: ["a:age", "b:age", "c:size"],
      kept: ["d"]
    })
  })

  it("the same time: the path decides, whatever the listing's order", () => {
    const same = [entry("y", 5, 10), entry("x", 5, 10)]
    expect(names(Prune.choose(same, { maxSize: 10 }, now)).pruned).toEqual(["x:size"])
    expect(names(Prune.choose([...same].reverse(), { maxSize: 10 }, now)).pruned).toEqual(["x:size"])
  })
})

describe("progress", () => {
  const capture = (isTTY: boolean) => {
    const written: Array<string> = []
    let clock = 0
    return {
      written,
      tick: (ms: number) => (clock += ms),
      progress: (totals: { files: number; bytes: number }) =>
        Progress.make({ isTTY, columns: 200, write: (t) => written.push(t) }, totals, () => clock)
    }
  }

  it("renders files, bytes and speed", () => {
    expect(Progress.renderBar({ files: 1, bytes: 1024, failed: 0 }, { files: 4, bytes: 4096 }, 1000, 8))
      .toBe("[##......] 1/4 files  1.0 KiB/4.0 KiB  1.0 KiB/s")
    expect(Progress.renderBar({ files: 0, bytes: 0, failed: 2 }, { files: 2, bytes: 0 }, 0, 4))
      .toBe("[....] 0/2 files  0 B/0 B  0 B/s  2 failed")
  })

  it("not a terminal: one line per file, no control characters", () => {
    const out = capture(false)
    const p = out.progress({ files: 2, bytes: 3072 })
    p.uploaded("/d/a.btt", 1024)
    p.failed("/d/b.btt", "server answered 400")
    p.line("pruned /d/c.btt")
    p.finish()
    expect(out.written.join("")).toBe(
      "uploaded /d/a.btt (1.0 KiB)\nfailed /d/b.btt: server answered 400\npruned /d/c.btt\n"
    )
  })

  it("a terminal: the bar is redrawn in place, at most every 100 ms, failures above it, a full bar at the end", () => {
    const out = capture(true)
    const p = out.progress({ files: 3, bytes: 3072 })
    expect(out.written).toEqual(["\r\x1b[2K[....................] 0/3 files  0 B/3.0 KiB  0 B/s"])
    out.tick(10)
    p.uploaded("/d/a.btt", 1024) // within 100 ms of the last draw: not redrawn
    expect(out.written).toHaveLength(1)
    out.tick(990)
    p.uploaded("/d/b.btt", 1024)
    expect(out.written.at(-1)).toBe("\r\x1b[2K[#############.......] 2/3 files  2.0 KiB/3.0 KiB  2.0 KiB/s")
    p.failed("/d/c.btt", "boom")
    expect(out.written.slice(-2)).toEqual([
      "\r\x1b[2Kfailed /d/c.btt: boom\n",
      "\r\x1b[2K[#############.......] 2/3 files  2.0 KiB/3.0 KiB  2.0 KiB/s  1 failed"
    ])
    p.finish()
    expect(out.written.at(-1)).toBe("\n")
  })
})
