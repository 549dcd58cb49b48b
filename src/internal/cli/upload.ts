/**
 * `effect-bcd upload <dir>`: uploads every snapshot left in a folder (each
 * removed only once the server accepted it), after pruning the old ones when
 * asked. The upload is the library's own, with its retries of transient
 * failures: Backtrace's `put` for `*.btt`, and the gdb and eu-stack `put`
 * (a Backtrace JSON report with the text attached) for their text snapshots.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Arr from "effect/Array"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import * as TracerConfig from "../../TracerConfig.js"
import { checkPut, DEFAULT_CONCURRENCY } from "../backtrace/options.js"
import * as Sent from "../backtrace/sent.js"
import { uploadWith } from "../backtrace/uploader.js"
import { makePut } from "../snapshot/put.js"
import { platform } from "../upload/platform.js"
import { makeSend } from "../upload/sender.js"
import * as Connection from "./connection.js"
import { failed, usage, validated } from "./exit.js"
import * as Log from "./log.js"
import * as Progress from "./progress.js"
import * as Prune from "./prune.js"
import * as Snapshots from "./snapshots.js"
import { formatBytes, parseAge, parseSize } from "./units.js"

const dir = Args.directory({ name: "dir", exists: "yes" }).pipe(
  Args.withDescription("The folder of snapshots (Backtrace *.btt, gdb and eu-stack *.txt; searched recursively)")
)

const pruneOlderThan = Options.text("prune-older-than").pipe(
  Options.mapEffect(validated(parseAge)),
  Options.optional,
  Options.withDescription("Delete, without uploading, the snapshots older than this (30d, 12h)")
)

const maxSize = Options.text("max-size").pipe(
  Options.mapEffect(validated(parseSize)),
  Options.optional,
  Options.withDescription("Then delete the oldest snapshots until the rest fit in this size (1GiB, 500MB)")
)

const settle = Options.text("settle").pipe(
  Options.mapEffect(validated(parseAge)),
  Options.withDefault(5_000),
  Options.withDescription(
    "Leave alone the snapshots modified more recently than this: a tracer may still be writing them (default 5s)"
  )
)

const concurrency = Options.integer("concurrency").pipe(
  Options.withDefault(DEFAULT_CONCURRENCY),
  Options.withDescription("How many files are uploaded at once")
)

/** What `upload` did, as `--json` prints it. */
export interface Summary {
  readonly uploaded: ReadonlyArray<{ readonly path: string; readonly size: number }>
  readonly failed: ReadonlyArray<{ readonly path: string; readonly reason: string }>
  readonly pruned: ReadonlyArray<{ readonly path: string; readonly size: number; readonly reason: "age" | "size" }>
  readonly skipped: ReadonlyArray<{ readonly path: string; readonly reason: string }>
  readonly bytes: number
  readonly durationMs: number
}

const stat = (file: Snapshots.Found) =>
  Effect.promise(() =>
    fs.promises.stat(file.path).then(
      (s): Option.Option<Prune.Entry & Snapshots.Found> => Option.some({ ...file, size: s.size, mtimeMs: s.mtimeMs }),
      () => Option.none() // gone since the listing (another uploader): nothing to do
    )
  )

const remove = (entry: Prune.Pruned) =>
  Effect.promise(() =>
    fs.promises.rm(entry.path).then(
      () => Either.right(entry),
      (error: NodeJS.ErrnoException) => Either.left({ path: entry.path, reason: `cannot delete: ${error.code}` })
    )
  )

const describe = (summary: Summary): string =>
  [
    `uploaded ${summary.uploaded.length} of ${summary.uploaded.length + summary.failed.length} snapshots` +
    ` (${formatBytes(summary.bytes)}) in ${(summary.durationMs / 1000).toFixed(1)} s`,
    ...(summary.failed.length > 0 ? [`${summary.failed.length} failed`] : []),
    ...(summary.pruned.length > 0 ? [`${summary.pruned.length} pruned`] : []),
    ...(summary.skipped.length > 0 ? [`${summary.skipped.length} skipped`] : [])
  ].join("; ")

/** The `upload` command. */
export const command = Command.make(
  "upload",
  {
    dir,
    endpoint: Connection.endpoint,
    token: Connection.token,
    pruneOlderThan,
    maxSize,
    settle,
    concurrency,
    json: Connection.json
  },
  (options) =>
    Effect.gen(function*() {
      const started = Date.now()
      if (options.concurrency < 1) return yield* usage("--concurrency must be at least 1")
      const put = {
        endpoint: options.endpoint,
        ...Option.match(options.token, { onNone: () => ({}), onSome: (token) => ({ token }) }),
        unlink: true
      }
      const settings = yield* checkPut({ ...put, concurrency: options.concurrency }).pipe(
        Effect.mapError((e) => usage(e.reason))
      )
      const root = path.resolve(options.dir)
      const listing = yield* Snapshots.find(root).pipe(Effect.mapError((e) => failed(e.message)))
      const listed = Arr.getSomes(yield* Effect.forEach(listing.found, stat, { concurrency: 16 }))
      // Accepted by a server before (`putDir` without `unlink` recorded them): removed now, as an upload would.
      const stuck = yield* Effect.sync(() => Sent.removeAccepted(listing.accepted))
      const accepted = listing.accepted.map((file) => ({
        path: file,
        reason: `already accepted by the server (its folder's .effect-bcd-sent journal names it); ${
          stuck.has(file) ? "could not be removed" : "removed"
        }`
      }))
      const now = Date.now()
      const [entries, fresh] = Arr.partition(listed, (e) => now - e.mtimeMs < options.settle)
      const { kept, pruned } = Prune.choose(entries, {
        maxAgeMs: Option.getOrUndefined(options.pruneOlderThan),
        maxSize: Option.getOrUndefined(options.maxSize)
      }, now)
      const progress = Progress.make(process.stderr, {
        files: kept.length,
        bytes: kept.reduce((sum, e) => sum + e.size, 0)
      })
      const [notRemoved, removed] = Arr.separate(yield* Effect.forEach(pruned, remove))
      for (const r of removed) {
        progress.line(
          `pruned ${r.path} (${formatBytes(r.size)}, ${r.reason === "age" ? "too old" : "over --max-size"})`
        )
      }
      const skipped = [
        ...listing.skipped,
        ...accepted,
        ...fresh.map((e) => ({
          path: e.path,
          reason: `modified ${((now - e.mtimeMs) / 1000).toFixed(1)} s ago, within --settle: it may still be written`
        }))
      ]
      for (const { path, reason } of skipped) progress.line(`skipped ${path}: ${reason}`)
      const putBtt = uploadWith(yield* makeSend, settings)
      const text = yield* makePut({ ...put, format: "backtrace-json" }, "effect-bcd").pipe(
        Effect.mapError((e) => usage(e.reason))
      )
      const outcomes = yield* Effect.forEach(kept, (entry) =>
        (entry.kind === "btt" ? putBtt(entry.path) : text.uploadLeftBehind(entry.path)).pipe(
          Effect.either,
          Effect.tap(Either.match({
            onLeft: (e) =>
              Effect.sync(() => progress.failed(entry.path, e.reason)),
            onRight: () => Effect.sync(() => progress.uploaded(entry.path, entry.size))
          })),
          Effect.map((outcome) => ({ entry, outcome }))
        ), { concurrency: settings.concurrency }).pipe(
          // A retry's warning goes above the bar, not into it.
          Effect.provide(Log.toLines(progress.line))
        )
      progress.finish()
      const [notUploaded, uploaded] = Arr.partitionMap(outcomes, ({ entry, outcome }) =>
        Either.match(outcome, {
          onLeft: (e) =>
            Either.left({ path: entry.path, reason: e.reason }),
          onRight: () =>
            Either.right({ path: entry.path, size: entry.size })
        }))
      const summary: Summary = {
        uploaded,
        failed: [...notUploaded, ...notRemoved],
        pruned: removed.map(({ path, reason, size }) => ({ path, size, reason })),
        skipped,
        bytes: uploaded.reduce((sum, e) => sum + e.size, 0),
        durationMs: Date.now() - started
      }
      yield* Console.log(options.json ? JSON.stringify(summary) : describe(summary))
      if (summary.failed.length > 0) {
        return yield* failed(`${summary.failed.length} snapshot(s) not uploaded; they stay in ${root}`)
      }
    }).pipe(
      Effect.provide(platform),
      // A retried upload says so (a warning); its final failure is in the summary.
      Effect.provide(TracerConfig.layer({ logLevel: LogLevel.Warning })),
      Effect.catchTag("TracerConfigError", (e) => Effect.fail(failed(e.message)))
    )
).pipe(Command.withDescription("Upload every snapshot left in a folder, removing each once the server accepted it"))
