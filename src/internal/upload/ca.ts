/**
 * The `ca` upload option, checked when a layer is built: PEM text, or the
 * path of a PEM file, holding at least one certificate that parses.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { X509Certificate } from "node:crypto"
import * as fs from "node:fs"
import { TracerConfigError } from "../../TraceError.js"

const BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** The certificates of `input` (PEM text or a file's path), or a `TracerConfigError` on `field`. */
export const readCa = (
  input: string | undefined,
  field: string
): Either.Either<ReadonlyArray<string> | undefined, TracerConfigError> => {
  if (input === undefined) return Either.right(undefined)
  const bad = (reason: string) => Either.left(new TracerConfigError({ field, reason }))
  let text = input
  if (!input.includes("-----BEGIN")) {
    // Only a regular file: opening a FIFO would block the layer's construction.
    const info = fs.statSync(input, { throwIfNoEntry: false })
    if (info === undefined) return bad(`${input} does not exist (give PEM text or the path of a PEM file)`)
    if (!info.isFile()) return bad(`${input} is not a regular file`)
    try {
      text = fs.readFileSync(input, "utf8")
    } catch (error) {
      return bad(`cannot read ${input}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
    }
  }
  const blocks = text.match(BLOCK) ?? []
  if (blocks.length === 0) return bad("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
  for (const block of blocks) {
    try {
      new X509Certificate(block)
    } catch (error) {
      return bad(`holds a certificate that does not parse: ${(error as Error).message}`)
    }
  }
  return Either.right(blocks)
}
