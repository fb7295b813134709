"""Oracle for the shared-file reader: botocore's own parse of each file named on the command
line (`botocore.configloader.raw_config_parse`, sub-settings left as text), or the name of the
error class when botocore refuses the file. Prints a JSON list, one entry per file."""
import json
import sys

import botocore.configloader

results = []
for path in sys.argv[1:]:
    try:
        results.append(botocore.configloader.raw_config_parse(path, parse_subsections=False))
    except Exception as error:  # the class is the answer
        results.append(type(error).__name__)
json.dump(results, sys.stdout)
