"""`ledger postmortem --since T --until U --out DIR`: an incident report from the log.

Writes `DIR/postmortem.md` (opening with what the kill switch did and why),
`DIR/postmortem.json` (every number of the report, and the series behind the charts)
and three PNG charts: equity and drawdown with kill-switch transitions marked,
position per symbol, order lifecycles.
"""

from __future__ import annotations

from pathlib import Path

import click

from replay.commands.replay_cmd import NOW_HELP, log_session, reference_clock
from replay.errors import USAGE, CliError
from replay.render import emit_doc, to_json
from replay.report.markdown import render
from replay.report.postmortem import collect
from replay.report.window import BY, resolve_positions
from replay.runtime import common_options, runtime
from replay.snapshots import StoreSnapshots
from replay.timespec import TIME, TimeSpec, resolve

REPORT, DATA = "postmortem.md", "postmortem.json"


@click.command()
@click.option(
    "--since",
    type=TIME,
    required=True,
    help="Start: ISO time with zone, -15m/-2h/-1d, or @POSITION.",
)
@click.option("--until", type=TIME, required=True, help="End of the window.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the report, its JSON and its charts (created).",
)
@click.option(
    "--by",
    type=click.Choice(BY),
    default="recorded",
    show_default=True,
    help="Which time --since/--until refer to.",
)
@click.option("--now", "now", default=None, metavar="TIME", help=NOW_HELP)
@common_options
@click.pass_context
def postmortem(
    ctx: click.Context,
    since: TimeSpec,
    until: TimeSpec,
    out: Path,
    by: str,
    now: str | None,
    fmt: str | None,
    store: str | None,
) -> None:
    """Write an incident report for a window of the log: Markdown, JSON and PNG charts."""
    rt = runtime(ctx, fmt, store)
    clock = reference_clock(now)
    with log_session(rt) as (log, config):
        bounds = resolve_positions(log, [resolve(since, clock), resolve(until, clock)], by)
        data = collect(log, config, bounds[0], bounds[1], by, StoreSnapshots(log, config))
    # matplotlib takes seconds to import: only the command that draws pays for it.
    from replay.report.charts import render_charts

    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / DATA).write_text(to_json(data) + "\n", encoding="utf-8")
        (out / REPORT).write_text(render(data), encoding="utf-8")
        charts = render_charts(data, out)
    except OSError as e:
        raise CliError(f"cannot write the report to {out}: {e}", USAGE) from e
    files = [str(out / REPORT), str(out / DATA), *(str(p) for p in charts)]
    ks = data["kill_switch"]
    summary = {
        "report": files[0],
        "files": files,
        "events": sum(data["event_counts"].values()),
        "kill_switch_transitions": len(ks["transitions"]),
        "kill_switch_at_until": ks["at_until"]["state"],
    }
    if rt.format == "text":
        click.echo(
            f"wrote {files[0]} ({summary['events']} events, "
            f"{summary['kill_switch_transitions']} kill-switch transition(s)); "
            f"data {files[1]}; charts {', '.join(files[2:])}"
        )
    else:
        emit_doc(summary, rt.format)
