"""Several slowatch instances with Prometheus and a clustered Alertmanager on one machine (loopback only).

`python -m slowatch.topology` (`scripts/cluster-demo`) starts one for a user to try; the end-to-end test
tests/e2e/test_cluster_topology.py starts the same pieces. Nothing here is used by the daemon.
"""

from slowatch.topology.alertmanagers import AlertmanagerCluster, AmTiming
from slowatch.topology.processes import Service, find_binary, free_port
from slowatch.topology.slack import Delivery, SlackStandIn
from slowatch.topology.stack import InstanceSpec, Topology, grid

__all__ = [
    "AlertmanagerCluster",
    "AmTiming",
    "Delivery",
    "InstanceSpec",
    "Service",
    "SlackStandIn",
    "Topology",
    "find_binary",
    "free_port",
    "grid",
]
