"""Location confidence: how far the ledger at each location is trusted, as a score in
[0, 1] with every factor that made it shown (DESIGN.md "Anomalies and confidence").

How a score is made — explainable, no black box:

1. **Factors**, each read per location over the trailing window
   (`CONFIDENCE_WINDOW_DAYS`, default 30), each as a value and the basis it rests on:
   - `count_variance_rate`: count lines that found a difference to the ledger ÷ count
     lines counted (submitted cycle counts, and count events partners sent);
   - `negative_on_hand_rate`: negative on-hand detections (case occurrences) ÷ levels held;
   - `event_problem_rate`: inbound events rejected or stale ÷ events received;
   - `adjustment_value_per_level`: value of applied adjustments ÷ levels held (those
     made from counts left out: the count variance factor has them).
   - `reconciliation_variance_rate` (registered by the reconciliation app): snapshot
     lines that disagreed with the ledger (variance or missing; timing agrees) ÷ lines
     compared, over the finished reconciliation runs of snapshots in the window.
   Another app adds a factor with `factors.register(Factor(...))` in its `ready()`, as
   reconciliation does (inventory never imports it).
2. **Enough data.** A location's factor counts only when its basis reaches the factor's
   minimum (`CONFIDENCE_MIN_COUNTED_LINES` count lines, default 5;
   `CONFIDENCE_MIN_EVENTS` events, default 20; `CONFIDENCE_MIN_LEVELS` levels, default
   5; `CONFIDENCE_MIN_RECONCILED_LINES` reconciled lines, default 20), and a factor
   is scored only when at least `CONFIDENCE_MIN_ESTATE` locations (default 3) have
   enough data to compare against. Otherwise the factor is shown as
   "not enough data" and takes nothing away.
3. **Robust z-score against the estate**: z = 0.6745 × (value − median) ÷ MAD, where
   median and MAD (median absolute deviation) are over the locations with enough data.
   When the MAD is 0 (most locations at the same value, typically 0), the mean absolute
   deviation stands in: z = (value − median) ÷ (1.2533 × mean absolute deviation); when
   that is 0 too, every location is alike and z = 0. Only the bad direction counts:
   z⁺ = max(0, z) — a location better than the estate is not rewarded above 1.
4. **Combined**: each factor multiplies the score by 1 − weight × min(z⁺, 3) ÷ 3, so a
   factor 3 robust z-scores or more above the estate takes its whole weight away:
       score = Π (1 − wᶠ × min(z⁺ᶠ, 3) ÷ 3), rounded to 3 decimals.
   Weights: count variance 0.45, reconciliation variance 0.45
   (`CONFIDENCE_RECONCILIATION_WEIGHT`), negative on-hand 0.25, adjustment value 0.20,
   event problems 0.10. One factor alone at 3 z takes a location from 1.000 to 0.550
   (count variance), 0.750, 0.800 or 0.900: below the default ship-from-store threshold
   (`SOURCING_CONFIDENCE_THRESHOLD`, 0.80) for the first two.

5. **Per SKU × location**, where there is enough data: a level with at least
   `CONFIDENCE_LEVEL_MIN_COUNTED_LINES` count lines (default 3) in the window is scored
   on its own, with the factors that can be read for one level (count variance and event
   problems, each `Factor.read_levels`), against the estate of levels that have as many
   (the same scorer, the same formula; a factor's own minimum still applies, and at least
   `CONFIDENCE_MIN_ESTATE` levels must have enough data). Negative on-hand, adjustment
   value and reconciliation stay per location: per level they rest on one level or too
   few lines. A level without enough counts has no score of its own: its location's
   stands for it.

`services.locations_score()` scores every active location: nightly on beat, from the
location page (inventory control, ops admins), and with `manage.py location_confidence`.
Each run appends a `LocationConfidence` row per location (its history), updates
`Location.confidence` (history-tracked) where it changed — which the ship-from-store gate
reads (`inventory.eligibility`) — and ranks the changed locations' active cases again
(`exceptions.priority.anomaly`). The same run scores the levels (one query per factor for
every level): a `LevelConfidence` row each, and `StockLevel.confidence`,
which the gate reads before the location's (None where the level has no score).
"""
