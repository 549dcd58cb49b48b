/**
 * Snapshot files are 0600 whatever the tracer's umask: a tracer run inline
 * inherits this process's umask (Backtrace's `.btt` files came out 0644), so
 * the core makes each snapshot private once its tracer has exited, whatever
 * the backend and the runner.
 *
 * @internal
 */
import * as fs from "node:fs"
import { errnoText } from "./outputDir.js"

/**
 * Makes `file` mode 0600 through a descriptor opened without following a
 * symbolic link (a link is left alone). Returns why it could not, if it
 * could not; a missing file is no failure.
 */
export const makePrivate = (file: string): string | undefined => {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? undefined : errnoText(error)
  }
  try {
    const stat = fs.fstatSync(fd)
    if (!stat.isFile()) return "not a regular file"
    if ((stat.mode & 0o7777) !== 0o600) fs.fchmodSync(fd, 0o600)
    return undefined
  } catch (error) {
    return errnoText(error)
  } finally {
    fs.closeSync(fd)
  }
}
