"""Artefacts generated from a slowatch config for other tools: Prometheus rules, Grafana dashboards,
OpenSLO (`slowatch generate`), and OpenSLO imports back (`slowatch import openslo`).

`promql` holds what every generator shares (aggregation over instances, SLO targets, series names);
`cli.TARGETS` lists the generators by name.
"""
