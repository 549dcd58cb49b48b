/**
 * The record of what a server accepted, so that `putDir` sends a snapshot
 * once: after a 200, `<snapshot>.sent` (0600) holds the snapshot's inode,
 * size and modification time. A sidecar rather than a rename, so that the
 * path a trace returned stays valid; `putDir` lists only `*.btt`, so the
 * markers are never uploaded. A snapshot rewritten since (another inode,
 * size or time) no longer matches its marker and is sent again.
 *
 * @internal
 */
import * as fs from "node:fs"

const SUFFIX = ".sent"

const stampOf = (info: fs.Stats) => `${info.ino}:${info.size}:${info.mtimeMs}\n`

/**
 * Whether `file`, as it is now, was accepted by a server. Any doubt (no
 * marker, unreadable) means no. Synchronous: one `lstat` when there is no
 * marker, which `putDir` asks for every snapshot it lists, costs less than
 * a trip through libuv's thread pool.
 */
export const wasSent = (file: string): boolean => {
  if (fs.lstatSync(file + SUFFIX, { throwIfNoEntry: false })?.isFile() !== true) return false
  try {
    const info = fs.statSync(file)
    const fd = fs.openSync(file + SUFFIX, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
    try {
      return fs.readFileSync(fd, "utf8") === stampOf(info)
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return false
  }
}

/**
 * Records that `file`, as it is now, was accepted. Never follows a symbolic
 * link planted at the marker's path. Synchronous: four system calls on
 * metadata cost less than four trips through libuv's thread pool, which on a
 * busy machine each wait for a thread to be scheduled.
 */
export const markSent = (file: string): void => {
  const info = fs.statSync(file)
  const fd = fs.openSync(
    file + SUFFIX,
    fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW,
    0o600
  )
  try {
    fs.writeSync(fd, stampOf(info))
  } finally {
    fs.closeSync(fd)
  }
}

/** Removes `file` and its marker: the snapshot was accepted, and `unlink` asks for it to go. */
export const removeSent = (file: string): void => {
  fs.rmSync(file, { force: true })
  fs.rmSync(file + SUFFIX, { force: true })
}

/** Removes the marker of a snapshot that `unlink` removed after its upload. */
export const forget = (file: string): void => fs.rmSync(file + SUFFIX, { force: true })
