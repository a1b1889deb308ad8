"""Monthly member statements (`vatio statements`) and their audit (`vatio audit --statements`).

compose.py turns chain events into statement rows (pure); sources.py reads those events from the
indexer's database or from a node; pdf.py renders a statement; audit.py re-derives every row.
docs/statements.md describes the files.
"""
