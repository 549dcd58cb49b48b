/**
 * Upload progress on stderr: on a terminal one bar redrawn in place (files,
 * bytes, speed), with failures printed above it; otherwise one plain line
 * per file, for logs and cron mail.
 *
 * @internal
 */
import { formatBytes } from "./units.js"

/** What the upload reports. */
export interface Progress {
  readonly uploaded: (file: string, bytes: number) => void
  readonly failed: (file: string, reason: string) => void
  /** A line of its own (a pruned snapshot). */
  readonly line: (text: string) => void
  /** Draws the final state and ends the bar's line. */
  readonly finish: () => void
}

/** The stream written to: stderr, or a test's. */
export interface Output {
  readonly isTTY?: boolean | undefined
  readonly columns?: number | undefined
  readonly write: (text: string) => unknown
}

const REDRAW_MS = 100
const CLEAR_LINE = "\r\x1b[2K"

/** One bar: `[#####.....] 3/10 files  1.2 MiB/4.0 MiB  850.0 KiB/s`. Pure. */
export const renderBar = (
  state: { readonly files: number; readonly bytes: number; readonly failed: number },
  totals: { readonly files: number; readonly bytes: number },
  elapsedMs: number,
  width = 20
): string => {
  const ratio = totals.bytes > 0 ? state.bytes / totals.bytes : totals.files > 0 ? state.files / totals.files : 1
  const filled = Math.round(Math.min(1, ratio) * width)
  const speed = elapsedMs > 0 ? state.bytes / (elapsedMs / 1000) : 0
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${state.files}/${totals.files} files  ` +
    `${formatBytes(state.bytes)}/${formatBytes(totals.bytes)}  ${formatBytes(Math.round(speed))}/s` +
    (state.failed > 0 ? `  ${state.failed} failed` : "")
}

/** Progress for `totals` on `out`: a bar when it is a terminal, plain lines otherwise. */
export const make = (
  out: Output,
  totals: { readonly files: number; readonly bytes: number },
  now: () => number = Date.now
): Progress => {
  if (out.isTTY !== true) {
    return {
      uploaded: (file, bytes) => out.write(`uploaded ${file} (${formatBytes(bytes)})\n`),
      failed: (file, reason) => out.write(`failed ${file}: ${reason}\n`),
      line: (text) => out.write(`${text}\n`),
      finish: () => undefined
    }
  }
  const started = now()
  const state = { files: 0, bytes: 0, failed: 0 }
  let drawnAt = 0
  const draw = (force: boolean) => {
    const at = now()
    if (!force && at - drawnAt < REDRAW_MS) return
    drawnAt = at
    const bar = renderBar(state, totals, at - started)
    out.write(CLEAR_LINE + (out.columns !== undefined && out.columns > 0 ? bar.slice(0, out.columns - 1) : bar))
  }
  const above = (text: string) => {
    out.write(`${CLEAR_LINE}${text}\n`)
    draw(true)
  }
  draw(true)
  return {
    uploaded: (_file, bytes) => {
      state.files++
      state.bytes += bytes
      draw(state.files === totals.files)
    },
    failed: (file, reason) => {
      state.failed++
      above(`failed ${file}: ${reason}`)
    },
    line: above,
    finish: () => {
      draw(true)
      out.write("\n")
    }
  }
}
