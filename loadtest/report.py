"""The load test's figures: locust's statistics per request kind beside the workload's own
tally of outcomes, as one table (the locustfile writes both to one JSON file when locust
quits)."""

from dataclasses import dataclass

TOTAL = "all kinds"


@dataclass(frozen=True)
class Row:
    kind: str
    requests: int
    throughput: float  # requests per second over the run
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    refused: int  # expected business refusals (409 insufficient_stock)
    errors: int  # locust failures: 5xx, unexpected 4xx, a 2xx that breaks the contract

    @property
    def is_total(self) -> bool:
        return self.kind == TOTAL


def rows_from(results: dict) -> list[Row]:
    """One row per kind, in name order, then the total, from the results the locustfile
    writes when locust quits."""

    def row(kind: str, figures: dict) -> Row:
        return Row(kind=kind, requests=figures["requests"], throughput=figures["throughput"],
                   p50_ms=figures["p50_ms"], p95_ms=figures["p95_ms"], p99_ms=figures["p99_ms"],
                   refused=figures["outcomes"].get("refused", 0), errors=figures["failures"])

    kinds = [row(kind, figures) for kind, figures in sorted(results["kinds"].items())]
    return [*kinds, row(TOTAL, results["total"])]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def table(rows: list[Row]) -> str:
    """A plain-text table: kind, requests, req/s, p50, p95, p99 (ms), refused, errors."""
    header = ("kind", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "refused", "errors")
    lines = [(row.kind, str(row.requests), f"{row.throughput:.2f}", _ms(row.p50_ms), _ms(row.p95_ms),
              _ms(row.p99_ms), str(row.refused), str(row.errors)) for row in rows]
    widths = [max(len(cells[index]) for cells in [header, *lines]) for index in range(len(header))]

    def render(cells) -> str:
        return "  ".join(cell.ljust(width) if index == 0 else cell.rjust(width)
                         for index, (cell, width) in enumerate(zip(cells, widths, strict=True)))

    rule = "  ".join("-" * width for width in widths)
    body = [render(cells) for cells in lines]
    if rows and rows[-1].is_total:
        body.insert(len(body) - 1, rule)
    return "\n".join([render(header), rule, *body])


def failures_from(results: dict) -> list[str]:
    """Each kind of failure with its reason and how often."""
    return [f"{failure['occurrences']}× {failure['method']} {failure['name']}: {failure['error']}"
            for failure in results["failures"]]


def exceptions_from(results: dict) -> list[str]:
    """Exceptions raised in the workload's own code (locust keeps them apart from failures)."""
    return [f"{exception['count']}× {exception['message']}" for exception in results["exceptions"]]
