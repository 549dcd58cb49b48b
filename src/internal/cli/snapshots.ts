/**
 * What `effect-bcd upload` finds in a folder: Backtrace `ptrace` snapshots
 * (`*.btt`, sent as they are), and gdb or eu-stack text snapshots (`*.txt`
 * that start like one, sent as Backtrace JSON reports with the text
 * attached). A `.partial` snapshot (cut short) and any other `.txt` are
 * passed over and listed; one that a server already accepted (its folder's
 * `.effect-bcd-sent` journal names it, as `putDir` without `unlink` leaves
 * it) is listed apart.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as Sent from "../backtrace/sent.js"
import { findSnapshots } from "../backtrace/uploader.js"
import { PARTIAL_SUFFIX } from "../snapshot/file.js"
import { TITLE } from "../snapshot/header.js"

/** How a snapshot is sent. */
export type Kind = "btt" | "text"

/** A snapshot to upload, and how. */
export interface Found {
  readonly path: string
  readonly kind: Kind
}

/** Whether `file` starts with the first line of a gdb or eu-stack snapshot. */
const isTextSnapshot = (file: string): Promise<boolean> =>
  fs.promises.open(file, "r").then(
    async (handle) => {
      try {
        const { buffer, bytesRead } = await handle.read(Buffer.alloc(TITLE.length), 0, TITLE.length, 0)
        return buffer.subarray(0, bytesRead).toString("utf8") === TITLE
      } finally {
        await handle.close()
      }
    },
    () => false
  )

/** The snapshots below `dir`, sorted, those a server already accepted, and what was passed over (with why). */
export const find = (dir: string) =>
  Effect.gen(function*() {
    const listing = yield* findSnapshots(dir, [".btt", ".txt", PARTIAL_SUFFIX])
    const found: Array<Found> = []
    const accepted: Array<string> = []
    const skipped = [...listing.skipped]
    const sent = Sent.accepted(listing.files)
    for (const file of listing.files) {
      if (sent.has(file)) accepted.push(file)
      else if (file.endsWith(".btt")) found.push({ path: file, kind: "btt" })
      else if (file.endsWith(PARTIAL_SUFFIX)) {
        skipped.push({ path: file, reason: "cut short when it was written (.partial); not uploaded" })
      } else if (yield* Effect.promise(() => isTextSnapshot(file))) found.push({ path: file, kind: "text" })
    }
    return { found, accepted, skipped }
  })
