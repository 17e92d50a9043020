"""Small command-line helpers run as ``python -m icarl.tools.NAME``."""
