"""The cluster.* options are checked together at start: a bad set is
refused with the file, the line and the problem, and nothing starts. A
rabbitmq.conf's classic_config.nodes lines without cluster.node_id leave
the node single, as before (RabbitMQ's values there are node names)."""
import subprocess

import pytest

from support.cluster import TERND, free_ports

GOOD = ["cluster_formation.classic_config.nodes.1 = 127.0.0.1:25001",
        "cluster_formation.classic_config.nodes.2 = 127.0.0.1:25002",
        "cluster_formation.classic_config.nodes.3 = 127.0.0.1:25003",
        "cluster.amqp_address.1 = 127.0.0.1:5601",
        "cluster.amqp_address.2 = 127.0.0.1:5602",
        "cluster.amqp_address.3 = 127.0.0.1:5603"]


def start(tmp_path, lines, timeout=10):
    conf = tmp_path / "t.conf"
    conf.write_text("\n".join(lines) + "\n")
    amqp, mgmt = free_ports(2)
    p = subprocess.run([TERND, "--config", str(conf), "--bind", "127.0.0.1", "--port", str(amqp),
                        "--data-dir", str(tmp_path / "d"), "--management-port", "0",
                        "--prometheus-port", "0", "--dry-run"],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr, str(conf)


@pytest.mark.parametrize("lines,line,text", [
    (["cluster.node_id = 4"] + GOOD, 1, "cluster.node_id = 4 is not one of"),
    (["cluster.node_id = 1"] + GOOD[:2] + GOOD[3:5], 1, "fewer than three members"),
    (["cluster.node_id = 1"] + GOOD[:2] + ["cluster_formation.classic_config.nodes.3 = 127.0.0.1:25002"]
     + GOOD[3:], 4, "address 127.0.0.1:25002 is already another member's"),
    (["cluster.node_id = 1"] + GOOD[:5], 4, "no cluster.amqp_address.3"),
    (["cluster.node_id = 1"] + GOOD + ["cluster.amqp_address.7 = 127.0.0.1:1"], 8,
     "7 is not a member id"),
    (["cluster.node_id = 1"] + GOOD[:1] + ["cluster_formation.classic_config.nodes.2 = rabbit@h"]
     + GOOD[2:], 3, "'rabbit@h' is not IPv4-address:port"),
    (["cluster.node_id = 1"] + GOOD + ["cluster.election_timeout = 100",
                                        "cluster.heartbeat_interval = 100"], 9,
     "heartbeat_interval must be below cluster.election_timeout"),
    (["cluster.node_id = 1", "cluster.listen = nowhere"] + GOOD, 2, "'nowhere' is not IPv4-address:port"),
    (["cluster_partition_handling = autoheal"], 1, "is not one of pause_minority"),
    (["cluster.node_id = 1"] + GOOD[:1] + ["cluster_formation.classic_config.nodes.2 = [::1]:25002"]
     + GOOD[2:], 3, "'[::1]:25002' is not IPv4-address:port"),
    (["cluster.node_id = 1"] + GOOD + ["cluster.amqp_address.2 = 5602"], 8,
     "cluster.amqp_address.2: '5602' is not host:port"),
])
def test_bad_cluster_config_is_refused(tmp_path, lines, line, text):
    rc, err, conf = start(tmp_path, lines)
    assert rc == 2, err
    assert "%s:%d:" % (conf, line) in err and text in err, err


def test_rabbitmq_nodes_without_node_id_stay_single(tmp_path):
    rc, err, _ = start(tmp_path, ["cluster_formation.classic_config.nodes.1 = rabbit@a",
                                  "cluster_formation.classic_config.nodes.2 = rabbit@b",
                                  "cluster_formation.peer_discovery_backend = classic_config"])
    assert rc == 0, err
    assert "peer_discovery_backend" in err  # still accepted-but-ignored, with a warning
