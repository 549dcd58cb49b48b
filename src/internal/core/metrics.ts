/**
 * The keys of the library's counters, and per-outcome counters built from
 * them. `Metric.tagged` builds a new key (and looks it up in the registry) on
 * every update; a counter whose tag is part of its key finds its registry
 * entry once. Exporters see the same series either way.
 *
 * @internal
 */
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"

/** `effect_bcd_traces_total`. */
export const tracesKey = MetricKey.counter("effect_bcd_traces_total", { description: "Traces by outcome" })

/** `effect_bcd_uploads_total`. */
export const uploadsKey = MetricKey.counter("effect_bcd_uploads_total", { description: "Snapshot uploads by outcome" })

/** The increment of `key` tagged `outcome=<outcome>`, built once. */
export const incrementOutcome = (
  key: MetricKey.MetricKey<MetricKeyType.MetricKeyType.Counter<number>>,
  outcome: string
) => Metric.increment(Metric.fromMetricKey(MetricKey.tagged(key, "outcome", outcome)))
