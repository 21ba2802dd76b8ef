"""Reports people send: a self-contained HTML report per consumer (html.py)."""
