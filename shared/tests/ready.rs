//! `wait_until_ready` against a fake API server that speaks the list and
//! watch protocol kube-runtime's watcher uses (list, then watch from the
//! list's resourceVersion), wired in through `tower_test`'s mock service.
//!
//! The fake keeps a log of changes, like the real server's watch cache. A
//! watch request is answered with the changes after its resourceVersion;
//! when there are none it is held until the test makes one, so an open watch
//! costs nothing and the tests never poll.

use std::collections::BTreeMap;
use std::time::Duration;

use dind::ready::{wait_until_ready, ReadyProgress};
use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tower_test::mock::{self, SendResponse};

const NODES_PATH: &str = "/api/v1/nodes";
const DEPLOYMENTS_PATH: &str = "/apis/apps/v1/namespaces/kube-system/deployments";
const COREDNS_SELECTOR: &str = "fieldSelector=metadata.name%3Dcoredns";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Collection {
    Nodes,
    Deployments,
}

/// What the fake server has been asked, for the tests to await and check.
#[derive(Debug, Clone, Default)]
struct Requests {
    node_lists: usize,
    node_watches: usize,
    deployment_watches: usize,
    unexpected: Vec<String>,
}

struct FakeApiServer {
    resource_version: u64,
    objects: BTreeMap<(Collection, String), Value>,
    /// Every change as (resourceVersion, collection, watch event line).
    changes: Vec<(u64, Collection, String)>,
    held_watches: Vec<(Collection, u64, SendResponse<Response<Body>>)>,
    node_lists_to_refuse: usize,
    requests: watch::Sender<Requests>,
}

impl FakeApiServer {
    fn store(&mut self, mut object: Value) {
        let collection = match object["kind"].as_str() {
            Some("Node") => Collection::Nodes,
            Some("Deployment") => Collection::Deployments,
            other => panic!("the fake API server does not serve {other:?}"),
        };
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let kind = match self.objects.insert((collection, name), object.clone()) {
            None => "ADDED",
            Some(_) => "MODIFIED",
        };
        let line = json!({"type": kind, "object": object}).to_string();
        self.changes.push((self.resource_version, collection, line));

        let held = std::mem::take(&mut self.held_watches);
        for (collection, since, respond) in held {
            self.answer_watch(collection, since, respond);
        }
    }

    fn answer_watch(
        &mut self,
        collection: Collection,
        since: u64,
        respond: SendResponse<Response<Body>>,
    ) {
        let lines: Vec<&str> = self
            .changes
            .iter()
            .filter(|(version, of, _)| *of == collection && *version > since)
            .map(|(_, _, line)| line.as_str())
            .collect();
        if lines.is_empty() {
            self.held_watches.push((collection, since, respond));
        } else {
            respond.send_response(ok(format!("{}\n", lines.join("\n"))));
        }
    }

    fn serve(&mut self, request: Request<Body>, respond: SendResponse<Response<Body>>) {
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let params: BTreeMap<&str, &str> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .collect();
        let collection = match path.as_str() {
            NODES_PATH => Some(Collection::Nodes),
            DEPLOYMENTS_PATH if query.contains(COREDNS_SELECTOR) => Some(Collection::Deployments),
            _ => None,
        };
        let Some(collection) = collection else {
            self.requests
                .send_modify(|requests| requests.unexpected.push(request.uri().to_string()));
            respond.send_response(not_found());
            return;
        };

        if params.get("watch") == Some(&"true") {
            let since = params
                .get("resourceVersion")
                .and_then(|version| version.parse().ok())
                .unwrap_or(0);
            self.requests.send_modify(|requests| match collection {
                Collection::Nodes => requests.node_watches += 1,
                Collection::Deployments => requests.deployment_watches += 1,
            });
            self.answer_watch(collection, since, respond);
            return;
        }

        if collection == Collection::Nodes {
            self.requests
                .send_modify(|requests| requests.node_lists += 1);
            if self.node_lists_to_refuse > 0 {
                self.node_lists_to_refuse -= 1;
                respond.send_error(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "connection refused",
                ));
                return;
            }
        }
        let (api_version, kind) = match collection {
            Collection::Nodes => ("v1", "NodeList"),
            Collection::Deployments => ("apps/v1", "DeploymentList"),
        };
        let items: Vec<&Value> = self
            .objects
            .iter()
            .filter(|((of, _), _)| *of == collection)
            .map(|(_, object)| object)
            .collect();
        let list = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"resourceVersion": self.resource_version.to_string()},
            "items": items,
        });
        respond.send_response(ok(list.to_string()));
    }
}

fn ok(body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from(body.into_bytes()))
        .unwrap()
}

fn not_found() -> Response<Body> {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "NotFound", "code": 404, "message": "not served by the fake",
    });
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body(Body::from(status.to_string().into_bytes()))
        .unwrap()
}

/// A client connected to a fake API server holding `objects`, a channel
/// through which the test changes (or adds) objects, and what the server
/// has been asked so far.
struct FakeCluster {
    client: kube::Client,
    changes: mpsc::UnboundedSender<Value>,
    requests: watch::Receiver<Requests>,
}

fn fake_cluster(objects: Vec<Value>, node_lists_to_refuse: usize) -> FakeCluster {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let (changes, mut change_rx) = mpsc::unbounded_channel::<Value>();
    let (requests_tx, requests) = watch::channel(Requests::default());
    let mut server = FakeApiServer {
        resource_version: 0,
        objects: BTreeMap::new(),
        changes: Vec::new(),
        held_watches: Vec::new(),
        node_lists_to_refuse,
        requests: requests_tx,
    };
    for object in objects {
        server.store(object);
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                request = handle.next_request() => match request {
                    Some((request, respond)) => server.serve(request, respond),
                    // The client is gone: the wait is over.
                    None => return,
                },
                Some(object) = change_rx.recv() => server.store(object),
            }
        }
    });
    FakeCluster {
        client: kube::Client::new(service, "default"),
        changes,
        requests,
    }
}

fn node(name: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": if ready { "True" } else { "False" }},
        ]},
    })
}

fn coredns(available_replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-dns"}}, "template": {}},
        "status": {"replicas": 2, "availableReplicas": available_replicas},
    })
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn progress(ready_nodes: usize, expected_nodes: usize, coredns_available: bool) -> ReadyProgress {
    ReadyProgress {
        ready_nodes,
        expected_nodes,
        coredns_available,
    }
}

#[tokio::test]
async fn becomes_ready_through_watch_events() {
    let cluster = fake_cluster(
        vec![
            node("kube-node-1", false),
            node("kube-node-2", false),
            coredns(0),
        ],
        0,
    );
    let expected = names(&["kube-node-1", "kube-node-2"]);
    let timeout = Duration::from_secs(60);
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
    let mut report = |progress: &ReadyProgress| progress_tx.send(*progress).unwrap();
    let wait = wait_until_ready(cluster.client.clone(), &expected, timeout, &mut report);

    let mut requests = cluster.requests.clone();
    let make_ready_step_by_step = async {
        assert_eq!(progress_rx.recv().await, Some(progress(0, 2, false)));
        // Only once both watches are open can readiness arrive solely as
        // watch events, which is what this test is about.
        requests
            .wait_for(|seen| seen.node_watches > 0 && seen.deployment_watches > 0)
            .await
            .unwrap();
        let steps = [
            (node("kube-node-1", true), progress(1, 2, false)),
            (node("kube-node-2", true), progress(2, 2, false)),
            (coredns(1), progress(2, 2, true)),
        ];
        for (change, expected_progress) in steps {
            cluster.changes.send(change).unwrap();
            assert_eq!(progress_rx.recv().await, Some(expected_progress));
        }
    };
    let started = std::time::Instant::now();
    let (result, ()) = tokio::join!(wait, make_ready_step_by_step);

    result.unwrap();
    assert!(
        started.elapsed() < timeout / 2,
        "took {:?}",
        started.elapsed()
    );
    let seen = cluster.requests.borrow().clone();
    assert_eq!(seen.node_lists, 1, "{seen:?}");
    assert!(seen.unexpected.is_empty(), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn times_out_naming_the_node_that_is_not_ready() {
    let cluster = fake_cluster(
        vec![
            node("kube-node-1", true),
            node("kube-node-2", false),
            coredns(1),
        ],
        0,
    );
    let expected = names(&["kube-node-1", "kube-node-2"]);
    let mut reported = Vec::new();
    let started = tokio::time::Instant::now();

    let error = wait_until_ready(
        cluster.client,
        &expected,
        Duration::from_secs(2),
        &mut |progress| reported.push(*progress),
    )
    .await
    .unwrap_err();

    assert_eq!(
        error.to_string(),
        "timed out after 2s waiting for the cluster: nodes not Ready: kube-node-2"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(reported.last(), Some(&progress(1, 2, true)));
    assert!(cluster.requests.borrow().unexpected.is_empty());
}

#[tokio::test(start_paused = true)]
async fn times_out_naming_missing_nodes_and_coredns() {
    let cluster = fake_cluster(
        vec![node("kube-master", true), node("kube-node-1", false)],
        0,
    );
    let expected = names(&["kube-master", "kube-node-1", "kube-node-2"]);

    let error = wait_until_ready(
        cluster.client,
        &expected,
        Duration::from_secs(5),
        &mut |_| {},
    )
    .await
    .unwrap_err();

    assert_eq!(
        error.to_string(),
        "timed out after 5s waiting for the cluster: nodes not Ready: kube-node-1; \
         nodes missing: kube-node-2; CoreDNS not available"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_does_not_end_the_wait() {
    let cluster = fake_cluster(vec![node("kube-node-1", true), coredns(1)], 2);
    let expected = names(&["kube-node-1"]);

    wait_until_ready(
        cluster.client,
        &expected,
        Duration::from_secs(60),
        &mut |_| {},
    )
    .await
    .unwrap();

    // Two refused lists, then the one that answered.
    assert_eq!(cluster.requests.borrow().node_lists, 3);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_api_is_named_in_the_timeout() {
    let cluster = fake_cluster(vec![coredns(1)], usize::MAX);
    let expected = names(&["kube-node-1"]);

    let error = wait_until_ready(
        cluster.client,
        &expected,
        Duration::from_secs(10),
        &mut |_| {},
    )
    .await
    .unwrap_err();

    let message = error.to_string();
    assert!(
        message.starts_with("timed out after 10s waiting for the cluster: nodes missing: kube-node-1; last API error: "),
        "{message}"
    );
    assert!(message.contains("connection refused"), "{message}");
    assert!(cluster.requests.borrow().node_lists > 1);
}

/// `--cni none`: NotReady nodes and an unavailable CoreDNS end the wait once every node
/// has registered.
#[tokio::test(start_paused = true)]
async fn without_a_cni_registered_not_ready_nodes_end_the_wait() {
    let cluster = fake_cluster(
        vec![
            node("kube-master", false),
            node("kube-node-1", false),
            coredns(0),
        ],
        0,
    );
    let expected = names(&["kube-master", "kube-node-1"]);
    dind::ready::wait_for(
        cluster.client.clone(),
        &expected,
        dind::ready::WaitFor::Registered,
        Duration::from_secs(60),
        &mut |_| {},
    )
    .await
    .unwrap();
    let missing = dind::ready::wait_for(
        cluster.client,
        &names(&["kube-master", "kube-node-2"]),
        dind::ready::WaitFor::Registered,
        Duration::from_secs(3),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        missing.to_string().contains("nodes missing: kube-node-2"),
        "{missing}"
    );
}
