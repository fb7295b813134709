#!/usr/bin/env python3
"""Validates an ECS task definition against botocore's RegisterTaskDefinition input shape:
unknown keys, missing required members, wrong types, and enum values (which botocore's own
parameter validator does not check), the way the API would refuse them.

    python3 docker/ecs/validate_task_definition.py docker/ecs/task-definition.json
"""
import json
import sys

import botocore.session
from botocore.validate import ParamValidator


def enum_problems(value, shape, path):
    """Enum values botocore leaves to the service."""
    problems = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                problems += enum_problems(value[name], member, "%s.%s" % (path, name))
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            problems += enum_problems(item, shape.member, "%s[%d]" % (path, index))
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            problems += enum_problems(item, shape.value, "%s.%s" % (path, key))
    elif getattr(shape, "enum", None) and value not in shape.enum:
        problems.append("%s: %r is not one of %s" % (path, value, ", ".join(shape.enum)))
    return problems


def main(path):
    definition = json.load(open(path))
    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(definition, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    problems += enum_problems(definition, shape, "taskDefinition")
    for problem in problems:
        print("%s: %s" % (path, problem), file=sys.stderr)
    if not problems:
        print("%s: valid RegisterTaskDefinition input (botocore %s)" % (path, botocore.__version__))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
