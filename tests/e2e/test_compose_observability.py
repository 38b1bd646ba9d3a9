"""The optional `observability` profile of docker-compose.yml, checked without Docker.

Prometheus (deploy/prometheus/prometheus.yml + alerts.yml) and Grafana (deploy/grafana/provisioning/
+ aftersales.json) start only with `--profile observability`. Checked here: what they mount exists
in the repository and lands where their configuration looks for it; every scrape target is a
compose service on the port that service serves metrics on; the job names are the ones the alert
rules select; the dashboard's datasource is the provisioned one; `promtool check config` passes.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import PurePosixPath

import pytest
import yaml

from tests.support.compose import ROOT, argv, depends_of, env_of, load_compose, resolve
from tests.support.observability import promtool_path

PROFILE = "observability"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
DASHBOARD = ROOT / "deploy" / "grafana" / "aftersales.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def scrape_config() -> dict:
    return yaml.safe_load(PROMETHEUS_CONFIG.read_text())


def bind_mounts(service: dict) -> dict[str, str]:
    """Container path -> repository path (relative to the compose file) of each bind mount."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source, target = volume["source"], volume["target"]
        else:
            source, target = resolve(volume).split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = source
    return mounts


def mounted_file(service: dict, container_path: str) -> str | None:
    """The repository path a container path comes from, through a file or a directory mount."""
    path = PurePosixPath(container_path)
    for target, source in bind_mounts(service).items():
        if path == PurePosixPath(target):
            return source
        if PurePosixPath(target) in path.parents:
            return str(PurePosixPath(source) / path.relative_to(target))
    return None


def served_metrics_ports(services: dict) -> dict[str, set[int]]:
    """Service -> the ports it serves Prometheus metrics on, read from its own configuration."""
    ports: dict[str, set[int]] = {}
    api = argv(services["api"]["command"])
    ports["api"] = {int(api[api.index("--port") + 1])}
    if "WORKER_METRICS_PORT" in env_of(services["worker"]):
        ports["worker"] = {int(env_of(services["worker"])["WORKER_METRICS_PORT"])}
    endpoint = env_of(services["temporal"]).get("PROMETHEUS_ENDPOINT")
    if endpoint:
        ports["temporal"] = {int(endpoint.rsplit(":", 1)[1])}
    ports["prometheus"] = {9090}  # the image's own listen address
    return ports


def scrape_targets(job: dict) -> list[tuple[str, int]]:
    """(host, port) of a job's static targets and DNS names."""
    found = []
    for static in job.get("static_configs") or []:
        for target in static["targets"]:
            host, port = target.rsplit(":", 1)
            found.append((host, int(port)))
    for dns in job.get("dns_sd_configs") or []:
        assert dns.get("type", "SRV") == "A", "an SRV lookup has no compose equivalent"
        found += [(name, int(dns["port"])) for name in dns["names"]]
    return found


def target_problems(services: dict, scrape_config: dict) -> list[str]:
    """Scrape targets that are not a compose service serving metrics on that port."""
    ports = served_metrics_ports(services)
    problems = []
    for job in scrape_config["scrape_configs"]:
        for host, port in scrape_targets(job):
            if job["job_name"] == "prometheus" and host == "localhost":
                host = "prometheus"
            if host not in services:
                problems.append(f"{job['job_name']}: {host} is no compose service")
            elif port not in ports.get(host, set()):
                problems.append(f"{job['job_name']}: {host} serves no metrics on {port} ({ports.get(host)})")
    return problems


# --------------------------------------------------------------------------- the profile


def test_prometheus_and_grafana_run_only_in_the_profile(services: dict) -> None:
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == {"prometheus", "grafana"}
    for name in profiled:
        assert services[name]["profiles"] == [PROFILE], name
    assert resolve(services["prometheus"]["image"]).partition(":")[0] == "prom/prometheus"
    assert resolve(services["grafana"]["image"]).partition(":")[0] == "grafana/grafana"
    # The default stack starts without them: nothing outside the profile waits for them.
    for name, service in services.items():
        if name not in profiled:
            assert not set(depends_of(service)) & profiled, name
    assert depends_of(services["grafana"]) == {"prometheus": "service_started"}


def test_their_state_is_in_named_volumes(compose: dict, services: dict) -> None:
    for name, data_dir in (("prometheus", "/prometheus"), ("grafana", "/var/lib/grafana")):
        named = {
            resolve(v).split(":")[0]
            for v in services[name]["volumes"]
            if isinstance(v, str) and resolve(v).split(":")[1] == data_dir
        }
        assert named and named <= set(compose["volumes"]), name


def test_every_bind_mount_is_in_the_repository(services: dict) -> None:
    for name in ("prometheus", "grafana"):
        mounts = bind_mounts(services[name])
        assert mounts, name
        for target, source in mounts.items():
            assert (ROOT / source).exists(), f"{name}: {source} (mounted at {target}) is not in the repository"


def test_prometheus_reads_the_repository_config_and_alert_rules(services: dict, scrape_config: dict) -> None:
    prometheus = services["prometheus"]
    # The image's default command reads /etc/prometheus/prometheus.yml; no command overrides it.
    assert "command" not in prometheus and "entrypoint" not in prometheus
    config = mounted_file(prometheus, "/etc/prometheus/prometheus.yml")
    assert config is not None and (ROOT / config).resolve() == PROMETHEUS_CONFIG
    # Rule files named relative to the config resolve to the repository's alerts.yml in the container.
    assert scrape_config["rule_files"]
    for rule_file in scrape_config["rule_files"]:
        in_container = PurePosixPath("/etc/prometheus") / rule_file
        source = mounted_file(prometheus, str(in_container))
        assert source is not None, f"{in_container} is not mounted"
        assert (ROOT / source).resolve() == ALERTS
        assert (PROMETHEUS_CONFIG.parent / rule_file).resolve() == ALERTS  # what promtool checks


# --------------------------------------------------------------------------- scraping


def test_the_worker_serves_metrics_on_the_port_scraped(services: dict) -> None:
    assert env_of(services["worker"])["WORKER_METRICS_PORT"] == "9464"
    # Only the worker: the API serves /metrics on its own port, migrate is a one-shot job.
    assert "WORKER_METRICS_PORT" not in env_of(services["api"])
    assert env_of(services["worker"])["TEMPORAL_ADDRESS"] == "temporal:7233"  # the merge kept the rest


def test_every_scrape_target_is_a_service_on_its_metrics_port(services: dict, scrape_config: dict) -> None:
    assert target_problems(services, scrape_config) == []
    jobs = {job["job_name"]: job for job in scrape_config["scrape_configs"]}
    assert scrape_targets(jobs["aftersales-api"]) == [("api", 8000)]
    assert scrape_targets(jobs["aftersales-worker"]) == [("worker", 9464)]
    assert scrape_targets(jobs["temporal-server"]) == [("temporal", 8000)]
    for name in ("aftersales-api", "aftersales-worker", "temporal-server"):
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics", name
    assert '"/metrics"' in (ROOT / "api" / "metrics.py").read_text()  # the route the API serves


def test_the_target_check_catches_a_wrong_port_or_host(services: dict, scrape_config: dict) -> None:
    moved = copy.deepcopy(services)
    moved["worker"]["environment"] = env_of(moved["worker"]) | {"WORKER_METRICS_PORT": "9465"}
    assert target_problems(moved, scrape_config) == ["aftersales-worker: worker serves no metrics on 9464 ({9465})"]
    renamed = copy.deepcopy(scrape_config)
    renamed["scrape_configs"][0]["static_configs"][0]["targets"] = ["aftersales-api:8000"]
    assert target_problems(services, renamed) == [
        f"{renamed['scrape_configs'][0]['job_name']}: aftersales-api is no compose service"
    ]


def test_job_names_are_the_ones_the_alert_rules_select(scrape_config: dict) -> None:
    jobs = [job["job_name"] for job in scrape_config["scrape_configs"]]
    assert len(jobs) == len(set(jobs))
    exprs = [rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    selectors = {(op, value) for expr in exprs for op, value in re.findall(r'\bjob\s*(=~|=)\s*"([^"]*)"', expr)}
    assert selectors, "the rules select no job"
    for op, value in selectors:
        matching = [job for job in jobs if (re.fullmatch(value, job) if op == "=~" else job == value)]
        assert matching, f'job{op}"{value}" matches none of {jobs}'
    # AftersalesWorkerDown / AftersalesNoWorker see the workers; the API's job is named as alerts.yml says.
    assert re.fullmatch("aftersales-worker.*", "aftersales-worker") and "aftersales-worker" in jobs
    assert "job aftersales-api" in ALERTS.read_text() and "aftersales-api" in jobs


def test_promtool_checks_the_config_and_its_rule_files() -> None:
    done = subprocess.run(
        [promtool_path(), "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid prometheus config file syntax" in done.stdout + done.stderr
    assert "1 rule files found" in done.stdout + done.stderr


# --------------------------------------------------------------------------- Grafana


def provisioned(directory: str, key: str) -> list[dict]:
    """The entries under `key` of every provisioning file in `directory` (as Grafana reads them)."""
    files = sorted((PROVISIONING / directory).glob("*.y*ml"))
    assert files, f"nothing under {PROVISIONING / directory}"
    return [entry for path in files for entry in yaml.safe_load(path.read_text())[key]]


def test_grafana_loads_the_provisioning_and_the_dashboard(services: dict) -> None:
    grafana = services["grafana"]
    assert mounted_file(grafana, "/etc/grafana/provisioning") == "./deploy/grafana/provisioning"
    [provider] = provisioned("dashboards", "providers")
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    source = mounted_file(grafana, f"{path}/{DASHBOARD.name}")
    assert source is not None and (ROOT / source).resolve() == DASHBOARD


def test_the_datasource_is_the_compose_prometheus(services: dict) -> None:
    [datasource] = provisioned("datasources", "datasources")
    assert datasource["type"] == "prometheus"
    assert datasource.get("access", "proxy") == "proxy"  # Grafana's server reaches it, not the browser
    host, port = datasource["url"].removeprefix("http://").split(":")
    assert host == "prometheus" and host in services
    assert int(port) in served_metrics_ports(services)["prometheus"]


def datasource_refs(node: object) -> Iterator[dict]:
    """Every `"datasource": {...}` of the dashboard: panels, their targets, annotations."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield value
            else:
                yield from datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_refs(item)


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    [datasource] = provisioned("datasources", "datasources")
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"] if v["type"] == "datasource"}
    refs = list(datasource_refs(dashboard))
    assert refs, "the dashboard names no datasource"
    for ref in refs:
        assert ref["type"] == datasource["type"], ref
        uid = ref["uid"]
        variable = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", uid)
        if variable is None:
            assert uid == datasource["uid"], ref
            continue
        chosen = variables[variable.group(1) or variable.group(2)]
        # A datasource variable with nothing chosen starts on the default datasource of its type.
        assert chosen["query"] == datasource["type"]
        current = (chosen.get("current") or {}).get("value")
        if current:
            assert current in (datasource["uid"], datasource["name"]), chosen
        else:
            assert datasource.get("isDefault") is True, "the dashboard's variable would start on another datasource"
