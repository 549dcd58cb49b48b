/**
 * The file mapped at an address, from `/proc/<pid>/maps`: the library of a
 * native frame that gdb printed without one (gdb names a shared object only
 * when it has no debug information for it, and never the executable).
 *
 * @internal
 */

interface Mapping {
  readonly start: bigint
  readonly end: bigint
  readonly path: string
}

/** A lookup over a `/proc/<pid>/maps` text: the path mapped at an address, if a file is. */
export const moduleLookup = (maps: string): (address: bigint) => string | undefined => {
  const mappings: Array<Mapping> = []
  for (const line of maps.split("\n")) {
    // `start-end perms offset dev inode path`; anonymous mappings and [heap], [stack], … name no file.
    const match = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\d+\s+(\/.*)$/.exec(line)
    if (match !== null) mappings.push({ start: BigInt(`0x${match[1]}`), end: BigInt(`0x${match[2]}`), path: match[3]! })
  }
  mappings.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  return (address) => {
    let lo = 0
    let hi = mappings.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (mappings[mid]!.end <= address) lo = mid + 1
      else hi = mid
    }
    const found = mappings[lo]
    return found !== undefined && found.start <= address ? found.path.replace(/ \(deleted\)$/, "") : undefined
  }
}
