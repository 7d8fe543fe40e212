"""The official Kubernetes Python client (`pip install kubernetes`) against Strata's API server.

Usage: python k8s_client.py http://127.0.0.1:PORT

Creates, lists, watches, patches and deletes pods and services (and reads discovery,
namespaces and nodes, scales a replication controller) the way a user of the client
would. Exits non-zero on the first failed expectation.
"""

import sys
import threading
import time

from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException


def main(url):
    cfg = client.Configuration()
    cfg.host = url
    api_client = client.ApiClient(cfg)
    core = client.CoreV1Api(api_client)
    ns = "default"

    version = client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "32"), version

    resources = core.get_api_resources()
    assert any(r.name == "pods" and "po" in (r.short_names or []) for r in resources.resources)
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    assert any(n.metadata.name == "kube-system" for n in core.list_namespace().items)
    core.list_node()

    # A watch started before the changes sees them in order.
    seen = []
    ready = threading.Event()

    def watch_pods():
        w = watch.Watch()
        ready.set()
        for event in w.stream(core.list_namespaced_pod, ns, label_selector="app=py", timeout_seconds=4):
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                w.stop()

    watcher = threading.Thread(target=watch_pods)
    watcher.start()
    ready.wait()
    time.sleep(0.5)

    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="py-pod", labels={"app": "py"}),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="c", image="busybox:1.36", ports=[client.V1ContainerPort(container_port=80)])]
        ),
    )
    created = core.create_namespaced_pod(ns, pod)
    assert created.metadata.uid and created.metadata.resource_version, created.metadata
    assert created.spec.restart_policy == "Always"
    assert created.status.phase == "Pending"

    listed = core.list_namespaced_pod(ns, label_selector="app=py")
    assert [p.metadata.name for p in listed.items] == ["py-pod"]
    assert core.list_namespaced_pod(ns, label_selector="app=other").items == []
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector="metadata.name=py-pod").items] == ["py-pod"]

    patched = core.patch_namespaced_pod("py-pod", ns, {"metadata": {"labels": {"patched": "yes"}}})
    assert patched.metadata.labels == {"app": "py", "patched": "yes"}, patched.metadata.labels
    patched = core.patch_namespaced_pod(
        "py-pod", ns, [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]
    )
    assert patched.metadata.annotations == {"a": "b"}

    try:
        core.read_namespaced_pod("missing", ns)
        raise AssertionError("reading a missing pod succeeded")
    except ApiException as e:
        assert e.status == 404, e

    try:
        core.create_namespaced_pod(ns, pod)
        raise AssertionError("creating a pod twice succeeded")
    except ApiException as e:
        assert e.status == 409, e

    deleted = core.delete_namespaced_pod("py-pod", ns)
    assert deleted.metadata.name == "py-pod"

    watcher.join(10)
    assert not watcher.is_alive(), "the watch did not end"
    kinds = [t for t, name in seen if name == "py-pod"]
    assert kinds[:1] == ["ADDED"] and "MODIFIED" in kinds and kinds[-1] == "DELETED", seen

    # Services.
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="py-svc", labels={"app": "py"}),
        spec=client.V1ServiceSpec(selector={"app": "py"}, ports=[client.V1ServicePort(port=80, target_port=8080)]),
    )
    created = core.create_namespaced_service(ns, svc)
    assert created.spec.cluster_ip and created.spec.type == "ClusterIP", created.spec
    assert [s.metadata.name for s in core.list_namespaced_service(ns, label_selector="app=py").items] == ["py-svc"]
    patched = core.patch_namespaced_service("py-svc", ns, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
    assert [p.target_port for p in patched.spec.ports] == [9090], patched.spec.ports
    events = []
    for event in watch.Watch().stream(core.list_namespaced_service, ns, timeout_seconds=1):
        events.append(event["type"])
    assert "ADDED" in events, events
    deleted = core.delete_namespaced_service("py-svc", ns)
    assert deleted.metadata.name == "py-svc"
    assert core.list_namespaced_service(ns, label_selector="app=py").items == []

    # A replication controller and its scale subresource.
    rc = client.V1ReplicationController(
        metadata=client.V1ObjectMeta(name="py-rc"),
        spec=client.V1ReplicationControllerSpec(
            replicas=1,
            selector={"app": "py-rc"},
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py-rc"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )
    core.create_namespaced_replication_controller(ns, rc)
    core.patch_namespaced_replication_controller_scale("py-rc", ns, {"spec": {"replicas": 3}})
    assert core.read_namespaced_replication_controller("py-rc", ns).spec.replicas == 3
    core.delete_namespaced_replication_controller("py-rc", ns)

    # The dynamic client discovers the API itself.
    dyn = dynamic.DynamicClient(api_client)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.get(namespace=ns).items == []

    print("OK")


if __name__ == "__main__":
    main(sys.argv[1])
