//! Unit tests of update, apply and conflicts on Deployments and ConfigMaps.

use super::*;
use serde_json::json;

const T1: &str = "2024-01-01T00:00:00Z";
const T2: &str = "2024-01-01T00:00:05Z";

fn dep_ty() -> Ty<'static> {
    typed::root("apps/v1", "Deployment", None, false)
}

fn cm_ty() -> Ty<'static> {
    typed::root("v1", "ConfigMap", None, false)
}

fn entry<'a>(obj: &'a Value, manager: &str) -> &'a Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["manager"] == manager))
        .unwrap_or(&Value::Null)
}

fn created_deployment() -> Value {
    let mut d = json!({"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"web","namespace":"default","uid":"u1","labels":{"app":"web"}},
        "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
            "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}},
            "template":{"metadata":{"labels":{"app":"web"},"creationTimestamp":null},
                "spec":{"containers":[{"name":"nginx","image":"nginx","resources":{}}]}}}});
    update(dep_ty(), None, &mut d, "kubectl-create", false, "apps/v1", T1);
    d
}

#[test]
fn create_records_an_update_entry_like_kube() {
    let d = created_deployment();
    let e = entry(&d, "kubectl-create");
    assert_eq!(e["operation"], "Update");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["time"], T1);
    assert_eq!(e["fieldsType"], "FieldsV1");
    let f = &e["fieldsV1"];
    assert_eq!(f["f:metadata"], json!({"f:labels":{".":{},"f:app":{}}}));
    assert_eq!(f["f:spec"]["f:selector"], json!({}));
    assert_eq!(
        f["f:spec"]["f:strategy"],
        json!({"f:type":{},"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}}})
    );
    assert_eq!(
        f["f:spec"]["f:template"]["f:spec"]["f:containers"],
        json!({"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:resources":{}}})
    );
    assert!(f["f:metadata"].get("f:name").is_none() && f.get("f:apiVersion").is_none());
}

#[test]
fn updates_move_changed_fields_and_keep_time_on_no_ops() {
    let d = created_deployment();
    let mut labelled = d.clone();
    labelled["metadata"]["labels"]["tier"] = json!("fe");
    update(dep_ty(), Some(&d), &mut labelled, "kubectl-label", false, "apps/v1", T2);
    assert_eq!(
        entry(&labelled, "kubectl-label")["fieldsV1"],
        json!({"f:metadata":{"f:labels":{"f:tier":{}}}})
    );
    assert_eq!(entry(&labelled, "kubectl-create")["time"], T1);
    // A change of a field kubectl-create owns moves it.
    let mut scaled = labelled.clone();
    scaled["spec"]["replicas"] = json!(5);
    update(dep_ty(), Some(&labelled), &mut scaled, "edit", false, "apps/v1", T2);
    assert_eq!(entry(&scaled, "edit")["fieldsV1"], json!({"f:spec":{"f:replicas":{}}}));
    assert!(entry(&scaled, "kubectl-create")["fieldsV1"]["f:spec"]
        .get("f:replicas")
        .is_none());
    // Removing the only field a manager owns drops its entry.
    let mut unlabelled = scaled.clone();
    unlabelled["metadata"]["labels"]
        .as_object_mut()
        .map(|m| m.remove("tier"));
    update(
        dep_ty(),
        Some(&scaled),
        &mut unlabelled,
        "other",
        false,
        "apps/v1",
        "2030-01-01T00:00:00Z",
    );
    assert!(entry(&unlabelled, "kubectl-label").is_null());
    assert!(entry(&unlabelled, "other").is_null(), "a removal owns nothing");
    // A no-op update keeps every time.
    let mut same = unlabelled.clone();
    update(
        dep_ty(),
        Some(&unlabelled),
        &mut same,
        "edit",
        false,
        "apps/v1",
        "2031-01-01T00:00:00Z",
    );
    assert_eq!(same, unlabelled);
}

#[test]
fn untracked_objects_stay_untracked_and_empty_list_resets() {
    let live = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","uid":"u"},"data":{"a":"1"}});
    let mut new = live.clone();
    new["data"]["a"] = json!("2");
    update(cm_ty(), Some(&live), &mut new, "m", false, "v1", T1);
    assert!(new["metadata"].get("managedFields").is_none());
    new["metadata"]["managedFields"] = json!([]);
    update(cm_ty(), Some(&live), &mut new, "m", false, "v1", T1);
    assert_eq!(entry(&new, "m")["fieldsV1"], json!({"f:data":{"f:a":{}}}));
}

#[test]
fn eleven_updaters_are_capped_into_ancient_changes() {
    let mut obj = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{}});
    update(cm_ty(), None, &mut obj, "m0", false, "v1", "2024-01-01T00:00:00Z");
    for i in 1..=11 {
        let mut next = obj.clone();
        next["data"][format!("k{i}")] = json!("v");
        update(
            cm_ty(),
            Some(&obj),
            &mut next,
            &format!("m{i}"),
            false,
            "v1",
            &format!("2024-01-01T00:00:{i:02}Z"),
        );
        obj = next;
    }
    let entries = obj["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), MAX_UPDATE_MANAGERS, "{entries:?}");
    let ancient = entry(&obj, ANCIENT);
    // m0 (the empty map it created), m1 and m2 are the oldest.
    assert_eq!(ancient["fieldsV1"]["f:data"], json!({".":{},"f:k1":{},"f:k2":{}}));
    assert!(entry(&obj, "m0").is_null());
    assert!(entry(&obj, "m1").is_null() && entry(&obj, "m2").is_null());
}

fn applied_cm(data: Value) -> Value {
    json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":data})
}

#[test]
fn apply_creates_is_idempotent_and_prunes() {
    let live = json!({});
    let a = apply(
        cm_ty(),
        &live,
        &applied_cm(json!({"x":"1","y":"2"})),
        "kubectl",
        false,
        "v1",
        T1,
    )
    .expect("apply");
    assert_eq!(a["data"], json!({"x":"1","y":"2"}));
    let e = entry(&a, "kubectl");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["fieldsV1"], json!({"f:data":{"f:x":{},"f:y":{}}}));
    let again = apply(
        cm_ty(),
        &a,
        &applied_cm(json!({"x":"1","y":"2"})),
        "kubectl",
        false,
        "v1",
        T2,
    )
    .expect("again");
    assert_eq!(again, a, "an identical apply changes nothing, not even the time");
    let pruned = apply(cm_ty(), &a, &applied_cm(json!({"x":"1"})), "kubectl", false, "v1", T2).expect("prune");
    assert_eq!(pruned["data"], json!({"x":"1"}));
    let gone = apply(
        cm_ty(),
        &pruned,
        &json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}),
        "kubectl",
        false,
        "v1",
        T2,
    )
    .expect("all");
    assert!(gone.get("data").is_none(), "{gone}");
    assert!(gone["metadata"].get("managedFields").is_none());
}

#[test]
fn apply_conflicts_name_the_owner_and_force_takes_ownership() {
    let d = created_deployment();
    let cfg = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}});
    let err = apply(dep_ty(), &d, &cfg, "kubectl", false, "apps/v1", T2).expect_err("conflict");
    let Error::Conflicts(c) = err else {
        panic!("not a conflict: {err:?}")
    };
    assert_eq!(
        c,
        vec![Conflict {
            manager: "\"kubectl-create\" using apps/v1".into(),
            field: ".spec.replicas".into()
        }]
    );
    assert_eq!(
        conflict_message(&c),
        "Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas"
    );
    // The same value is shared, not a conflict.
    let same = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}});
    let shared = apply(dep_ty(), &d, &same, "kubectl", false, "apps/v1", T2).expect("shared");
    assert!(entry(&shared, "kubectl-create")["fieldsV1"]["f:spec"]
        .get("f:replicas")
        .is_some());
    assert!(entry(&shared, "kubectl")["fieldsV1"]["f:spec"]
        .get("f:replicas")
        .is_some());
    let forced = apply(dep_ty(), &d, &cfg, "kubectl", true, "apps/v1", T2).expect("force");
    assert_eq!(forced["spec"]["replicas"], 3);
    assert!(entry(&forced, "kubectl-create")["fieldsV1"]["f:spec"]
        .get("f:replicas")
        .is_none());
    assert_eq!(
        entry(&forced, "kubectl")["fieldsV1"],
        json!({"f:spec":{"f:replicas":{}}})
    );
    // A field another manager also owns survives when this manager stops applying it.
    let dropped = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}});
    let after = apply(dep_ty(), &shared, &dropped, "kubectl", false, "apps/v1", T2).expect("drop");
    assert_eq!(after["spec"]["replicas"], 2);
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let c = vec![
        Conflict {
            manager: "\"m\"".into(),
            field: ".spec.a".into(),
        },
        Conflict {
            manager: "\"m\"".into(),
            field: ".spec.b".into(),
        },
    ];
    assert_eq!(
        conflict_message(&c),
        "Apply failed with 2 conflicts: conflicts with \"m\":\n- .spec.a\n- .spec.b"
    );
}

#[test]
fn apply_to_an_untracked_object_hands_existing_fields_to_before_first_apply() {
    let live = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","uid":"u"},"data":{"a":"1"}});
    let out = apply(cm_ty(), &live, &applied_cm(json!({"b":"2"})), "m", false, "v1", T1).expect("apply");
    assert_eq!(
        entry(&out, BEFORE_FIRST_APPLY)["fieldsV1"],
        json!({"f:data":{".":{},"f:a":{}}})
    );
    assert_eq!(out["data"], json!({"a":"1","b":"2"}));
    let err = apply(cm_ty(), &live, &applied_cm(json!({"a":"2"})), "m", false, "v1", T1).expect_err("conflict");
    assert!(
        matches!(err, Error::Conflicts(ref c) if c[0].manager == "\"before-first-apply\" using v1"),
        "{err:?}"
    );
}

#[test]
fn apply_checks_version_and_managed_fields() {
    let bad = json!({"apiVersion":"apps/v1beta1","kind":"Deployment","metadata":{"name":"web"}});
    assert!(
        matches!(apply(dep_ty(), &json!({}), &bad, "m", false, "apps/v1", T1), Err(Error::BadRequest(m)) if m.contains("Incorrect version"))
    );
    let mf = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","managedFields":[]}});
    assert_eq!(
        apply(cm_ty(), &json!({}), &mf, "m", false, "v1", T1),
        Err(Error::BadRequest("metadata.managedFields must be nil".into()))
    );
}

#[test]
fn user_agent_prefix() {
    assert_eq!(
        manager_from_user_agent("kubectl/v1.32.0 (linux/amd64) kubernetes/abc"),
        "kubectl"
    );
    assert_eq!(manager_from_user_agent("Go-http-client/1.1"), "Go-http-client");
    assert_eq!(manager_from_user_agent(""), "");
}
