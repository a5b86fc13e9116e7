"""Getting the data: the FigShare download (resumable), the synthetic release that stands in for it,
and frames from recordings."""
