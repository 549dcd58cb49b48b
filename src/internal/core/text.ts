/**
 * Text that must fit somewhere: argv strings, snapshot attributes.
 *
 * @internal
 */

/**
 * `text` with each NUL byte written as `\0`, and at most `maxBytes` of UTF-8:
 * a longer text is cut on a character boundary and ends with `marker`.
 */
export const clampUtf8 = (text: string, maxBytes: number, marker: string): string => {
  const clean = text.includes("\0") ? text.replaceAll("\0", "\\0") : text
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  if (clean.length * 3 <= maxBytes) return clean
  const bytes = Buffer.from(clean, "utf8")
  if (bytes.length <= maxBytes) return clean
  let end = maxBytes - Buffer.byteLength(marker)
  // Never split a character: its decoded U+FFFD could be longer than the bytes cut.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString("utf8") + marker
}
