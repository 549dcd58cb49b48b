/**
 * The body of a Backtrace JSON submission, as `@backtrace/node` 0.8 sends it:
 * the report alone (`application/json`), or, with attachments, a
 * `multipart/form-data` body whose `upload_file` part (`upload_file.json`)
 * holds the report and each attachment is a part `attachment_<name>`. The
 * attachments stream from disk with a `Content-Length` (a core file is never
 * read into memory); the body is made again for each attempt.
 *
 * @internal
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpBody from "@effect/platform/HttpBody"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"

/** A file sent with the report. */
export interface Attachment {
  /** The name Backtrace shows (the part is `attachment_<name>`). */
  readonly name: string
  readonly path: string
  readonly contentType: string
}

/** The part name of the report in a multipart submission. */
export const UPLOAD_FILE = "upload_file"

const CRLF = "\r\n"

/** A name inside a quoted header parameter, escaped as browsers do (`"` and line breaks). */
const quoted = (name: string) => name.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A")

const partHeader = (boundary: string, name: string, filename: string, contentType: string) =>
  `--${boundary}${CRLF}Content-Disposition: form-data; name="${quoted(name)}"; filename="${
    quoted(filename)
  }"${CRLF}Content-Type: ${contentType}${CRLF}${CRLF}`

/**
 * The submission body of `report` (JSON text) with `attachments`: the JSON
 * alone when there are none, else a streamed multipart body.
 */
export const submissionBody = (
  report: Uint8Array,
  attachments: ReadonlyArray<Attachment>
): Effect.Effect<HttpBody.HttpBody, PlatformError.PlatformError, FileSystem.FileSystem> =>
  attachments.length === 0
    ? Effect.succeed(HttpBody.uint8Array(report, "application/json"))
    : Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const boundary = `effect-bcd-${randomBytes(16).toString("hex")}`
      const encoder = new TextEncoder()
      const chunks: Array<Stream.Stream<Uint8Array, PlatformError.PlatformError>> = []
      let length = 0
      const bytes = (data: Uint8Array) => {
        length += data.length
        chunks.push(Stream.succeed(data))
      }
      bytes(encoder.encode(partHeader(boundary, UPLOAD_FILE, `${UPLOAD_FILE}.json`, "application/json")))
      bytes(report)
      for (const attachment of attachments) {
        const size = Number((yield* fs.stat(attachment.path)).size)
        bytes(encoder.encode(
          `${CRLF}${partHeader(boundary, `attachment_${attachment.name}`, attachment.name, attachment.contentType)}`
        ))
        // Exactly the size announced, even if the file grew since.
        chunks.push(fs.stream(attachment.path, { bytesToRead: size }))
        length += size
      }
      bytes(encoder.encode(`${CRLF}--${boundary}--${CRLF}`))
      return HttpBody.stream(
        Stream.concatAll(Chunk.fromIterable(chunks)),
        `multipart/form-data; boundary=${boundary}`,
        length
      )
    })
