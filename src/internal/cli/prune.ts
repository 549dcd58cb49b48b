/**
 * Pruning a snapshot folder the way Crashpad prunes its database: first every
 * snapshot older than the age limit, then the oldest ones until the rest fit
 * in the size limit. The choice is pure; the CLI deletes what it returns.
 *
 * @internal
 */

/** One snapshot on disk. */
export interface Entry {
  readonly path: string
  readonly size: number
  readonly mtimeMs: number
}

/** The limits; an absent one does not apply. */
export interface Limits {
  readonly maxAgeMs?: number | undefined
  readonly maxSize?: number | undefined
}

/** A snapshot to delete, and why. */
export interface Pruned extends Entry {
  readonly reason: "age" | "size"
}

/** What to delete (oldest first) and what to keep, at time `now`. */
export const choose = <E extends Entry>(
  entries: ReadonlyArray<E>,
  limits: Limits,
  now: number
): { readonly pruned: ReadonlyArray<E & Pruned>; readonly kept: ReadonlyArray<E> } => {
  // Oldest first; the path breaks ties, so that the choice does not depend on the listing's order.
  const sorted = [...entries].sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : 1))
  const pruned: Array<E & Pruned> = []
  let kept = sorted
  if (limits.maxAgeMs !== undefined) {
    const cutoff = now - limits.maxAgeMs
    pruned.push(...kept.filter((e) => e.mtimeMs < cutoff).map((e) => ({ ...e, reason: "age" as const })))
    kept = kept.filter((e) => e.mtimeMs >= cutoff)
  }
  if (limits.maxSize !== undefined) {
    let total = kept.reduce((sum, e) => sum + e.size, 0)
    let first = 0
    while (first < kept.length && total > limits.maxSize) {
      total -= kept[first]!.size
      pruned.push({ ...kept[first]!, reason: "size" })
      first++
    }
    kept = kept.slice(first)
  }
  return { pruned, kept }
}
