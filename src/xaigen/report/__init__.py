"""Reports: plots (PNG) and a self-contained HTML page."""
