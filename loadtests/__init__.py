"""The plan's load tests (milestone 4), run with `make loadtest` or `python -m loadtests`.

Layout: `config.py` (what crosses into the Locust process), `stages.py` and `shapes.py` (load
profiles), `common/` (pacing, credentials, checks, signatures, the recorder, the fake Graph
API), `scenarios/` (dashboard, mix), `seed.py` and `server.py` (the target), `gates.py` and
`report.py` (verdict, CSV history, HTML), `runner.py` (the command), `locustfile.py` (what
Locust loads). docs/loadtests.md explains how to run and read them.
"""
