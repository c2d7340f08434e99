"""What the log-reading commands report: replay windows and timelines, audit rows, the
post-mortem (data, Markdown, charts), and the checks of the projections against the log."""
