"""Checks `mtlc schema` against specs: every valid spec validates, and every invalid-spec fixture
whose error is structural (an unknown key, a missing required key) fails. Used by scripts/schema-check.

    python schema_check.py SCHEMA.json --valid A.yaml ... --invalid B.yaml ...
"""
import argparse
import json
import sys

import jsonschema
import yaml


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("schema")
    ap.add_argument("--valid", nargs="*", default=[])
    ap.add_argument("--invalid", nargs="*", default=[])
    a = ap.parse_args()
    schema = json.load(open(a.schema))
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in a.valid:
        errors = list(v.iter_errors(yaml.safe_load(open(path))))
        if errors:
            bad += 1
            print(f"{path}: should validate, but: {errors[0].message} at {list(errors[0].absolute_path)}")
    for path in a.invalid:
        if not list(v.iter_errors(yaml.safe_load(open(path)))):
            bad += 1
            print(f"{path}: has a structural error, but the schema accepts it")
    print(f"schema-check: {len(a.valid)} valid specs, {len(a.invalid)} structural fixtures, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
