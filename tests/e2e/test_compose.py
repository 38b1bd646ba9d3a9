"""Static checks of docker-compose.yml, Dockerfile and .dockerignore.

Docker is not needed: the compose file is parsed with PyYAML and its wiring
(images, health checks, start order, environment, Temporal setup) is checked
against concrete expected values. Nothing from the project is imported.
"""

from __future__ import annotations

import copy
import re
import shlex
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.compose import COMPOSE_FILE, ROOT, argv, depends_of, env_of, load_compose, resolve, script_of

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

EXPECTED_SERVICES = {
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-setup",
    "temporal-ui",
    "migrate",
    "worker",
    "api",
}
APP_SERVICES = ("migrate", "worker", "api")

EXPECTED_SEARCH_ATTRIBUTES = {
    "CaseStage": "Keyword",
    "CasePriority": "Keyword",
    "CaseCategory": "KeywordList",
    "Department": "Keyword",
    "SlaState": "Keyword",
    "EscalationLevel": "Int",
    "ReopenCount": "Int",
    "NextDeadline": "Datetime",
    "Assignee": "Keyword",
    "Channel": "Keyword",
    "CustomerTier": "Keyword",
    "PlatformAfterSale": "Keyword",
}


def image_of(service: dict) -> tuple[str, str]:
    image = resolve(service["image"])
    name, sep, tag = image.partition(":")
    assert sep, f"image {image!r} has no explicit tag"
    return name, tag


def image_problems(services: dict) -> list[str]:
    problems = []
    for name, svc in services.items():
        if "image" not in svc:
            continue
        image = resolve(svc["image"])
        _repo, sep, tag = image.partition(":")
        if not sep or not tag:
            problems.append(f"{name}: {image!r} is not pinned to a tag")
        elif tag == "latest" or tag.startswith("latest"):
            problems.append(f"{name}: {image!r} uses latest")
        if "auto-setup" in image:
            problems.append(f"{name}: {image!r} uses the deprecated temporalio/auto-setup")
    return problems


def search_attributes_registered(script: str) -> dict[str, str]:
    """Map of --name -> --type for every `temporal operator search-attribute create`."""
    found: dict[str, str] = {}
    for line in script.splitlines():
        if "search-attribute create" not in line or line.lstrip().startswith("#"):
            continue
        tokens = shlex.split(line)
        i = tokens.index("temporal")
        assert tokens[i : i + 4] == ["temporal", "operator", "search-attribute", "create"], line
        opts = dict(zip(tokens[i + 4 :: 2], tokens[i + 5 :: 2], strict=False))
        assert opts.get("--address") == "temporal:7233", line
        assert opts.get("--namespace", "default") == "default", line
        name, sa_type = opts["--name"], opts["--type"]
        assert name not in found, f"{name} registered twice"
        found[name] = sa_type
    return found


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


# --------------------------------------------------------------------------- services & images


def test_expected_services_exist(services):
    assert set(services) >= EXPECTED_SERVICES, sorted(EXPECTED_SERVICES - set(services))


def test_images_pinned_no_latest_no_auto_setup(services):
    assert image_problems(services) == []
    # every non-app service uses a pulled image
    for name in EXPECTED_SERVICES - set(APP_SERVICES):
        assert "image" in services[name], name


def test_image_checker_rejects_bad_images(services):
    bad = copy.deepcopy(services)
    bad["temporal"]["image"] = "temporalio/auto-setup:1.25.0"
    bad["temporal-ui"]["image"] = "temporalio/ui:latest"
    bad["postgresql"]["image"] = "postgres"
    problems = image_problems(bad)
    assert len(problems) == 3, problems


def test_image_repositories_and_versions(services):
    pg_repo, pg_tag = image_of(services["postgresql"])
    assert pg_repo == "postgres"
    assert int(pg_tag.split(".")[0].split("-")[0]) >= 16

    server_repo, server_tag = image_of(services["temporal"])
    assert server_repo == "temporalio/server"
    assert re.fullmatch(r"1\.\d+\.\d+", server_tag), server_tag
    assert tuple(int(x) for x in server_tag.split(".")) >= (1, 30, 0)

    for job in ("temporal-schema", "temporal-setup"):
        repo, tag = image_of(services[job])
        assert repo == "temporalio/admin-tools", job
        assert tag == server_tag, f"{job} admin-tools {tag} != server {server_tag}"

    ui_repo, ui_tag = image_of(services["temporal-ui"])
    assert ui_repo == "temporalio/ui"
    assert re.fullmatch(r"2\.\d+\.\d+", ui_tag), ui_tag


def test_app_services_build_from_repo_dockerfile(services):
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert build is not None, f"{name} must be built from the Dockerfile"
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        else:
            context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        assert (COMPOSE_FILE.parent / context / dockerfile).resolve() == DOCKERFILE.resolve(), name


def test_app_commands(services):
    assert argv(services["migrate"]["command"]) == ["aftersales", "migrate"]
    assert argv(services["worker"]["command"]) == ["aftersales", "worker"]
    assert argv(services["api"]["command"]) == ["aftersales", "api", "--host", "0.0.0.0", "--port", "8000"]


# --------------------------------------------------------------------------- health checks


def _healthcheck_text(service: dict) -> str:
    hc = service.get("healthcheck")
    assert hc and not hc.get("disable", False), "missing health check"
    test = hc["test"]
    return test if isinstance(test, str) else " ".join(test)


def test_postgresql_healthcheck_uses_pg_isready(services):
    assert "pg_isready" in _healthcheck_text(services["postgresql"])


def test_temporal_has_healthcheck_on_frontend_port(services):
    assert "7233" in _healthcheck_text(services["temporal"])


def test_api_healthcheck_hits_healthz(services):
    text = _healthcheck_text(services["api"])
    assert "python" in text
    assert "http://localhost:8000/healthz" in text


# --------------------------------------------------------------------------- start order


@pytest.mark.parametrize(
    ("service", "dependency", "condition"),
    [
        ("temporal-schema", "postgresql", "service_healthy"),
        ("temporal", "temporal-schema", "service_completed_successfully"),
        ("temporal-setup", "temporal", "service_healthy"),
        ("temporal-ui", "temporal", "service_healthy"),
        ("migrate", "postgresql", "service_healthy"),
        ("worker", "migrate", "service_completed_successfully"),
        ("worker", "temporal-setup", "service_completed_successfully"),
        ("api", "migrate", "service_completed_successfully"),
        ("api", "temporal-setup", "service_completed_successfully"),
    ],
)
def test_depends_on(services, service, dependency, condition):
    deps = depends_of(services[service])
    assert deps.get(dependency) == condition, f"{service} -> {dependency}: {deps}"


def test_one_shot_jobs_are_not_restarted_forever(services):
    for name in ("temporal-schema", "temporal-setup", "migrate"):
        restart = str(services[name].get("restart", "no"))
        assert restart == "no" or restart.startswith("on-failure"), (name, restart)


# --------------------------------------------------------------------------- environment


def test_database_url_points_at_postgresql_with_asyncpg(services):
    pg_env = env_of(services["postgresql"])
    for name in APP_SERVICES:
        url = env_of(services[name])["DATABASE_URL"]
        parts = urlsplit(url)
        assert parts.scheme == "postgresql+asyncpg", (name, url)
        assert parts.hostname == "postgresql", (name, url)
        assert parts.hostname in services
        assert (parts.port or 5432) == 5432, (name, url)
        assert parts.path == "/aftersales", (name, url)
        assert parts.username == pg_env["POSTGRES_USER"], (name, url)
        assert parts.password == pg_env["POSTGRES_PASSWORD"], (name, url)


def test_app_database_is_created_by_postgresql(services):
    assert env_of(services["postgresql"]).get("POSTGRES_DB") == "aftersales"


def test_postgresql_uses_named_volume(compose, services):
    volumes = services["postgresql"].get("volumes") or []
    sources = [(v if isinstance(v, str) else f"{v['source']}:{v['target']}").split(":")[0] for v in volumes]
    named = [s for s in sources if s in (compose.get("volumes") or {})]
    assert named, f"postgresql volumes {volumes} use no top-level named volume"


def test_worker_and_api_temporal_settings(services):
    for name in ("worker", "api"):
        env = env_of(services[name])
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233", name
        assert env["TEMPORAL_NAMESPACE"] == "default", name


def test_temporal_server_on_postgresql(services):
    env = env_of(services["temporal"])
    pg_env = env_of(services["postgresql"])
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env.get("DB_PORT", "5432") == "5432"
    assert env["POSTGRES_USER"] == pg_env["POSTGRES_USER"]
    assert env["POSTGRES_PWD"] == pg_env["POSTGRES_PASSWORD"]
    assert env.get("DBNAME", "temporal") == "temporal"
    assert env.get("VISIBILITY_DBNAME", "temporal_visibility") == "temporal_visibility"


def test_temporal_ui_points_at_temporal(services):
    assert env_of(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert any(str(p).endswith("8080") for p in services["temporal-ui"].get("ports", []))


def test_temporal_ui_sends_no_updates_or_signals(services):
    # Approvals only from people (issue 15 §7): actions go through Aftersales, never Temporal UI's dialogs.
    env = env_of(services["temporal-ui"])
    assert env["TEMPORAL_WORKFLOW_UPDATE_DISABLED"] == "true"
    assert env["TEMPORAL_WORKFLOW_SIGNAL_DISABLED"] == "true"


def test_api_publishes_port_8000(services):
    assert any(resolve(str(p)).split(":")[-1] == "8000" for p in services["api"].get("ports", []))


# --------------------------------------------------------------------------- temporal jobs


def test_temporal_schema_job_sets_up_both_databases(services):
    script = script_of(services["temporal-schema"])
    assert "temporal-sql-tool" in script
    assert "postgres12" in script
    for db, schema_dir in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert re.search(rf"--db {db} create\b", script), db
        assert re.search(rf"--db {db} setup-schema -v 0\.0\b", script), db
        assert re.search(rf"--db {db} update-schema -d \S*postgresql/v12/{schema_dir}/versioned", script), db


def test_temporal_setup_creates_default_namespace(services):
    script = script_of(services["temporal-setup"])
    assert re.search(r"temporal operator namespace create --namespace default --address temporal:7233", script)
    assert "temporal operator cluster health --address temporal:7233" in script


def test_temporal_setup_registers_search_attributes(services):
    registered = search_attributes_registered(script_of(services["temporal-setup"]))
    assert registered == EXPECTED_SEARCH_ATTRIBUTES


def test_search_attributes_match_domain_definitions(services):
    """The setup job registers exactly what the code declares (read as text, not imported)."""
    source = ROOT / "domain" / "search_attributes.py"
    if not source.is_file():
        pytest.skip("domain/search_attributes.py not present")
    kinds = {
        "keyword": "Keyword",
        "keyword_list": "KeywordList",
        "int": "Int",
        "datetime": "Datetime",
        "float": "Double",
        "bool": "Bool",
        "text": "Text",
    }
    declared = {
        name: kinds[kind] for kind, name in re.findall(r'SearchAttributeKey\.for_(\w+)\(\s*"(\w+)"', source.read_text())
    }
    assert declared == EXPECTED_SEARCH_ATTRIBUTES
    assert search_attributes_registered(script_of(services["temporal-setup"])) == declared


def test_search_attribute_parser_detects_wrong_type():
    script = (
        "idempotent temporal operator search-attribute create --namespace default "
        "--name EscalationLevel --type Keyword --address temporal:7233\n"
    )
    assert search_attributes_registered(script) == {"EscalationLevel": "Keyword"}
    assert search_attributes_registered(script) != {"EscalationLevel": EXPECTED_SEARCH_ATTRIBUTES["EscalationLevel"]}


def test_temporal_setup_tolerates_existing_attributes_but_not_type_conflicts(services):
    script = script_of(services["temporal-setup"])
    assert "already exists" in script
    assert "different type" in script


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_base_image_and_entry():
    assert DOCKERFILE.is_file()
    lines = [ln.strip() for ln in DOCKERFILE.read_text().splitlines()]
    froms = [ln.split()[1] for ln in lines if ln.upper().startswith("FROM ")]
    assert froms, "no FROM line"
    assert re.fullmatch(r"python:3\.11(-slim)?(-\w+)?", froms[0]), froms[0]
    text = "\n".join(lines)
    assert "pip install --no-cache-dir ." in text
    users = [ln.split()[1] for ln in lines if ln.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    cmd = [ln for ln in lines if ln.upper().startswith("CMD ")]
    assert cmd and yaml.safe_load(cmd[-1][4:]) == ["aftersales", "api", "--host", "0.0.0.0", "--port", "8000"]


def test_dockerignore_excludes_local_state():
    assert DOCKERIGNORE.is_file()
    entries = {ln.strip().rstrip("/") for ln in DOCKERIGNORE.read_text().splitlines() if ln.strip()}
    for required in (".git", ".venv", "venv", ".aftersales", ".pytest_cache"):
        assert required in entries, required
    assert "__pycache__" in entries or "**/__pycache__" in entries
    # the build needs these
    assert not {"pyproject.toml", "README.md", "*.md", "*.toml"} & entries


def test_worker_and_api_share_the_customer_link_key_and_address(services):
    """The worker signs the links in customer messages and the API checks them: one key for both,
    and the address customers open is the API's published port."""
    worker, api = env_of(services["worker"]), env_of(services["api"])
    assert worker["CUSTOMER_LINK_SECRET"] and worker["CUSTOMER_LINK_SECRET"] == api["CUSTOMER_LINK_SECRET"]
    assert worker["CUSTOMER_LINK_BASE_URL"] == api["CUSTOMER_LINK_BASE_URL"] == "http://localhost:8000"
    published = resolve(services["api"]["ports"][0]).split(":")[0]
    assert urlsplit(api["CUSTOMER_LINK_BASE_URL"]).port == int(published)


def test_customer_uploads_live_on_a_named_volume_at_upload_dir(compose, services):
    upload_dir = env_of(services["api"])["UPLOAD_DIR"]
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in services["api"].get("volumes", [])]
    assert f"uploads:{upload_dir}" in mounts, mounts
    assert "uploads" in (compose.get("volumes") or {})
    # A fresh named volume copies the image's directory: it must exist there, owned by the app's user.
    dockerfile = DOCKERFILE.read_text()
    assert f"mkdir -p {upload_dir}" in dockerfile
    assert re.search(r"chown -R aftersales:aftersales " + re.escape(str(upload_dir.rsplit("/", 1)[0])), dockerfile)
    assert dockerfile.index(f"mkdir -p {upload_dir}") < dockerfile.index("USER aftersales")


def test_customer_email_and_sms_are_left_to_the_operator(services):
    """SMTP and SMS credentials are never written into the file: only named as placeholders."""
    text = COMPOSE_FILE.read_text()
    for name in ("CUSTOMER_CHANNELS", "SMTP_HOST", "SMTP_PASSWORD", "SMS_PROVIDER_URL", "SMS_API_SECRET"):
        assert name in text, name
        assert name not in env_of(services["worker"]), name
