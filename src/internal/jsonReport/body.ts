/**
 * The body of a Backtrace JSON submission, as `@backtrace/node` 0.8 sends it:
 * the report alone (`application/json`), or, with attachments, a
 * `multipart/form-data` body whose `upload_file` part (`upload_file.json`)
 * holds the report and each attachment is a part `attachment_<name>`. The
 * body is a list of parts for the upload transport: the attachments are
 * streamed from disk with a `Content-Length` (a core file is never read into
 * memory).
 *
 * @internal
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import type { Part } from "../upload/transport.js"

/** A file sent with the report. */
export interface Attachment {
  /** The name Backtrace shows (the part is `attachment_<name>`). */
  readonly name: string
  readonly path: string
  readonly contentType: string
}

/** A request body: its content type and its parts. */
export interface Body {
  readonly contentType: string
  readonly parts: ReadonlyArray<Part>
}

/** The part name of the report in a multipart submission. */
const UPLOAD_FILE = "upload_file"

const CRLF = "\r\n"

/** A name inside a quoted header parameter, escaped as browsers do (`"` and line breaks). */
const quoted = (name: string) => name.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A")

const partHeader = (boundary: string, name: string, filename: string, contentType: string) =>
  `--${boundary}${CRLF}Content-Disposition: form-data; name="${quoted(name)}"; filename="${
    quoted(filename)
  }"${CRLF}Content-Type: ${contentType}${CRLF}${CRLF}`

/**
 * The submission body of `report` (JSON text) with `attachments`: the JSON
 * alone when there are none, else multipart, each file sent with the size it
 * has now (throws when one cannot be read).
 */
export const submissionBody = (report: Uint8Array, attachments: ReadonlyArray<Attachment>): Body => {
  if (attachments.length === 0) return { contentType: "application/json", parts: [{ bytes: report }] }
  const boundary = `effect-bcd-${randomBytes(16).toString("hex")}`
  const text = (s: string): Part => ({ bytes: Buffer.from(s, "utf8") })
  const parts: Array<Part> = [
    text(partHeader(boundary, UPLOAD_FILE, `${UPLOAD_FILE}.json`, "application/json")),
    { bytes: report }
  ]
  for (const attachment of attachments) {
    parts.push(
      text(`${CRLF}${partHeader(boundary, `attachment_${attachment.name}`, attachment.name, attachment.contentType)}`),
      { path: attachment.path, size: fs.statSync(attachment.path).size }
    )
  }
  parts.push(text(`${CRLF}--${boundary}--${CRLF}`))
  return { contentType: `multipart/form-data; boundary=${boundary}`, parts }
}
