"""Artefacts generated from a slowatch config: Prometheus rules, Grafana dashboards (`slowatch generate`).

`promql` holds what every generator shares (aggregation over instances, SLO targets, series names);
`cli.TARGETS` lists the generators by name.
"""
