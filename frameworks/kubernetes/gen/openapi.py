#!/usr/bin/env python3
"""Generates src/openapi/schemas.json from the k8s-openapi crate's sources.

The API server serves OpenAPI v3 documents (for `kubectl explain` and client-side
validation) and needs each field's list strategy (for strategic-merge patches). Both come
from the Kubernetes OpenAPI definitions, which k8s-openapi compiles into Rust: every type
carries its schema as a (feature-gated) `schemars` implementation and its list strategies
as a `DeepMerge` implementation. This script reads those two out of the crate's source,
for the definitions reachable from the kinds Strata serves, and writes one compact JSON
object `{"definitions": {name: schema}}` with OpenAPI v3 `$ref`s
(`#/components/schemas/<name>`), `x-kubernetes-group-version-kind` on top-level kinds,
and `x-kubernetes-list-type` / `-list-map-keys` / `-patch-strategy` / `-patch-merge-key`
on lists.

Run it after changing the k8s-openapi version or feature in the workspace:

    python3 frameworks/kubernetes/gen/openapi.py [path/to/k8s-openapi-X.Y.Z/src/v1_NN]

Without an argument it looks for the version in Cargo.lock under ~/.cargo/registry/src.
"""

import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)
WORKSPACE = os.path.dirname(os.path.dirname(CRATE))
OUT = os.path.join(CRATE, "src", "openapi", "schemas.json")
FEATURE = "v1_33"

# The kinds served (see src/resources.rs) and the meta types clients read.
ROOTS = [
    "io.k8s.api.core.v1." + k
    for k in [
        "Namespace", "Pod", "Binding", "ReplicationController", "Service", "Endpoints", "Node",
        "Event", "ConfigMap", "Secret", "ServiceAccount", "PersistentVolume",
        "PersistentVolumeClaim", "LimitRange", "ResourceQuota",
    ]
] + [
    "io.k8s.api.apps.v1." + k for k in ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"]
] + [
    "io.k8s.api.batch.v1.Job", "io.k8s.api.batch.v1.CronJob",
    "io.k8s.api.events.v1.Event", "io.k8s.api.coordination.v1.Lease",
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
]

# Strategic-merge keys that differ from the first server-side-apply list-map key.
PATCH_MERGE_KEY_OVERRIDES = {
    ("io.k8s.api.core.v1.Container", "volumeMounts"): "mountPath",
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts"): "mountPath",
    ("io.k8s.api.core.v1.Container", "volumeDevices"): "devicePath",
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices"): "devicePath",
}
# Lists that strategic merge patches merge by key although server-side apply has no
# list-map keys for them (the Kubernetes types' patchStrategy/patchMergeKey tags).
EXTRA_MERGE_LISTS = {
    ("io.k8s.api.core.v1.Container", "volumeMounts"): "mountPath",
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts"): "mountPath",
    ("io.k8s.api.core.v1.Container", "volumeDevices"): "devicePath",
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices"): "devicePath",
    ("io.k8s.api.core.v1.ServiceAccount", "secrets"): "name",
    ("io.k8s.api.core.v1.NodeStatus", "addresses"): "type",
    ("io.k8s.api.core.v1.NodeStatus", "conditions"): "type",
    ("io.k8s.api.core.v1.PodStatus", "conditions"): "type",
    ("io.k8s.api.core.v1.NamespaceStatus", "conditions"): "type",
    ("io.k8s.api.apps.v1.DeploymentStatus", "conditions"): "type",
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions"): "type",
    ("io.k8s.api.apps.v1.DaemonSetStatus", "conditions"): "type",
    ("io.k8s.api.apps.v1.StatefulSetStatus", "conditions"): "type",
    ("io.k8s.api.core.v1.ReplicationControllerStatus", "conditions"): "type",
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "conditions"): "type",
    ("io.k8s.api.batch.v1.JobStatus", "conditions"): "type",
}


def find_source():
    if len(sys.argv) > 1:
        return sys.argv[1]
    lock = open(os.path.join(WORKSPACE, "Cargo.lock")).read()
    m = re.search(r'name = "k8s-openapi"\nversion = "([^"]+)"', lock)
    if not m:
        sys.exit("k8s-openapi is not in Cargo.lock: build the crate once first")
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    hits = glob.glob(os.path.join(home, "registry", "src", "*", "k8s-openapi-" + m.group(1), "src", FEATURE))
    if not hits:
        sys.exit("k8s-openapi %s sources not found under %s" % (m.group(1), home))
    return hits[0]


def balanced(text, start):
    """The index just past the parenthesis closing the one at text[start]."""
    depth, i, in_str = 0, start, False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced")


def strip_trailing_commas(text):
    out, i, in_str = [], 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif c == ",":
            j = i + 1
            while j < len(text) and text[j].isspace():
                j += 1
            if j < len(text) and text[j] in "}]":
                pass
            else:
                out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


STR = r'"(?:[^"\\]|\\.)*"'
BLOCK = re.compile(
    r"\(\{\s*let mut schema_obj = __gen\.subschema_for::<([\w:]+)>\(\);\s*"
    r"((?:schema_obj\.ensure_object\(\)\.insert\(" + STR + r"\.into\(\), " + STR + r"\.into\(\)\);\s*)*)"
    r"schema_obj\s*\}\)"
)
INSERT = re.compile(r"schema_obj\.ensure_object\(\)\.insert\((" + STR + r")\.into\(\), (" + STR + r")\.into\(\)\);")
SIMPLE = re.compile(r"\(?__gen\.subschema_for::<([\w:]+)>\(\)\)?")


def main():
    src = find_source()
    rust_to_def = {}
    files = {}
    for path in glob.glob(os.path.join(src, "**", "*.rs"), recursive=True):
        text = open(path).read()
        m = re.match(r"// Generated from definition (\S+)", text)
        if not m:
            continue
        name = m.group(1)
        sm = re.search(r"pub (?:struct|enum) (\w+)", text)
        if not sm:
            continue
        module = os.path.relpath(os.path.dirname(path), src).replace(os.sep, "::")
        rust_to_def["crate::%s::%s" % (module, sm.group(1))] = name
        files[name] = text

    def ref(rust_path):
        if rust_path not in rust_to_def:
            raise KeyError("unknown type " + rust_path)
        return {"$ref": "#/components/schemas/" + rust_to_def[rust_path]}

    def field_names(text):
        return dict(
            (rust, js)
            for js, rust in re.findall(r'(' + STR + r') => Field::Key_(\w+),', text)
            for js in [json.loads(js)]
        )

    schemas = {}

    def convert(name):
        text = files[name]
        start = text.find("crate::schemars::json_schema!(")
        if start < 0:
            raise KeyError("no schema for " + name)
        open_paren = start + len("crate::schemars::json_schema!")
        body = text[open_paren + 1 : balanced(text, open_paren) - 1]

        def block(m):
            out = {"allOf": [ref(m.group(1))]}
            for k, v in INSERT.findall(m.group(2)):
                out[json.loads(k)] = json.loads(v)
            return json.dumps(out)

        body = BLOCK.sub(block, body)
        body = SIMPLE.sub(lambda m: json.dumps(ref(m.group(1))), body)
        schema = json.loads(strip_trailing_commas(body))

        # Group, version and kind of top-level kinds.
        res = re.search(
            r'impl crate::Resource for \w+ \{\s*const API_VERSION: &\'static str = "[^"]*";\s*'
            r'const GROUP: &\'static str = "([^"]*)";\s*const KIND: &\'static str = "([^"]*)";\s*'
            r'const VERSION: &\'static str = "([^"]*)";',
            text,
        )
        if res:
            schema["x-kubernetes-group-version-kind"] = [
                {"group": res.group(1), "kind": res.group(2), "version": res.group(3)}
            ]
            # k8s-openapi makes metadata mandatory; the API does not.
            if "required" in schema:
                schema["required"] = [r for r in schema["required"] if r != "metadata"]
                if not schema["required"]:
                    del schema["required"]

        # List strategies from the DeepMerge implementation.
        names = field_names(text)
        props = schema.get("properties", {})
        for kind, field, rest in re.findall(
            r"crate::merge_strategies::list::(map|set|atomic)\(\s*&mut self\.(\w+),\s*other\.\w+(.*?)\);\n(?=\s{8}crate::|\s{4}\})",
            text,
            re.S,
        ):
            js = names.get(field)
            if js is None or js not in props:
                continue
            prop = props[js]
            prop["x-kubernetes-list-type"] = kind
            if kind == "map":
                keys = re.findall(r"\|lhs, rhs\| lhs\.(\w+) == rhs\.\w+", rest)
                item = prop.get("items", {}).get("$ref", "").rsplit("/", 1)[-1]
                item_names = field_names(files.get(item, ""))
                keys = [item_names.get(k, k) for k in keys]
                if not keys:
                    # Keyed by a nested field (statefulset volumeClaimTemplates): atomic
                    # for strategic merge.
                    prop["x-kubernetes-list-type"] = "atomic"
                    continue
                prop["x-kubernetes-list-map-keys"] = keys
                prop["x-kubernetes-patch-strategy"] = "merge"
                prop["x-kubernetes-patch-merge-key"] = PATCH_MERGE_KEY_OVERRIDES.get((name, js), keys[0])
            elif kind == "set":
                prop["x-kubernetes-patch-strategy"] = "merge"
        for (def_name, js), key in EXTRA_MERGE_LISTS.items():
            if def_name == name and js in props:
                props[js]["x-kubernetes-patch-strategy"] = "merge"
                props[js]["x-kubernetes-patch-merge-key"] = key
        return schema

    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        schemas[name] = convert(name)
        for r in re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schemas[name])):
            if r not in schemas:
                todo.append(r)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"definitions": schemas}, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    print("wrote %d definitions (%d bytes) to %s" % (len(schemas), os.path.getsize(OUT), OUT))


if __name__ == "__main__":
    main()
