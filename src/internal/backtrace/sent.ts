/**
 * The record of what a server accepted, so that `putDir` sends a snapshot
 * once: after a 200, `<snapshot>.sent` (0600) holds the snapshot's inode,
 * size and modification time. A sidecar rather than a rename, so that the
 * path a trace returned stays valid; `putDir` lists only `*.btt`, so the
 * markers are never uploaded. A snapshot rewritten since (another inode,
 * size or time) no longer matches its marker and is sent again.
 *
 * Writing is asynchronous, so that a slow disk does not hold the event loop
 * after each upload.
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

/** Records that `file`, as it is now, was accepted. Never follows a symbolic link planted at the marker's path. */
export const markSent = async (file: string): Promise<void> => {
  const info = await fs.promises.stat(file)
  const handle = await fs.promises.open(
    file + SUFFIX,
    fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW,
    0o600
  )
  try {
    await handle.writeFile(stampOf(info))
  } finally {
    await handle.close()
  }
}

/** Removes `file` and its marker: the snapshot was accepted, and `unlink` asks for it to go. */
export const removeSent = async (file: string): Promise<void> => {
  await fs.promises.rm(file, { force: true })
  await fs.promises.rm(file + SUFFIX, { force: true })
}

/** Removes the marker of a snapshot that `unlink` removed after its upload. */
export const forget = (file: string): Promise<void> => fs.promises.rm(file + SUFFIX, { force: true })
