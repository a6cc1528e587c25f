"""Operations: metrics, tracing, structured logs, fault injection and multi-worker serving.

Wiring lives in `install.py` (`install_observability`); this package init stays empty so that
importing one module (say `logging` from the auth dependency) does not import the others.
"""
